"""Defaulting and validation like the real API server applies them on create and update."""

from __future__ import annotations

import base64
import re
from typing import Any

from . import validation as V
from .hpa import default_hpa
from .labels import metadata_causes
from .resources import Resource
from .status import invalid

Obj = dict[str, Any]
Cause = tuple[str, str, str]

SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character "
    "(e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
    "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
    "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character "
    "(e.g. 'my-name',  or 'abc-123', regex used for validation is "
    "'[a-z]([-a-z0-9]*[a-z0-9])?')"
)
GENERATION_GROUPS = {"apps", "batch", "networking.k8s.io", "policy", "autoscaling"}

DEFAULT_TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]


def pull_policy(image: str) -> str:
    """`Always` for `:latest` or untagged images, else `IfNotPresent` (digests too)."""
    if "@" in image:
        return "IfNotPresent"
    tail = image.rsplit("/", 1)[-1]
    if ":" not in tail or tail.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def _default_container(c: Obj) -> None:
    c.setdefault("resources", {})
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if "image" in c:
        c.setdefault("imagePullPolicy", pull_policy(str(c["image"])))
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        _default_selectors(env.get("valueFrom") or {})
    resources = c.get("resources") or {}
    if resources.get("limits"):
        # SetDefaults_Pod: a limit without a request requests the limit
        requests = resources.setdefault("requests", {})
        for name, value in resources["limits"].items():
            requests.setdefault(name, value)
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in c:
            p = c[probe]
            for k, v in (
                ("timeoutSeconds", 1),
                ("periodSeconds", 10),
                ("successThreshold", 1),
                ("failureThreshold", 3),
            ):
                p.setdefault(k, v)
            http = p.get("httpGet")
            if http:
                http.setdefault("path", "/")
                http.setdefault("scheme", "HTTP")


def _default_selectors(source: Obj) -> None:
    """fieldRef gets ``apiVersion: v1``; a resourceFieldRef's zero divisor prints as "0"."""
    if source.get("fieldRef"):
        source["fieldRef"].setdefault("apiVersion", "v1")
    if source.get("resourceFieldRef"):
        source["resourceFieldRef"].setdefault("divisor", "0")


def _default_volume(vol: Obj) -> None:
    for src in ("configMap", "secret", "projected", "downwardAPI"):
        if src in vol and isinstance(vol[src], dict):
            vol[src].setdefault("defaultMode", 420)
    if "emptyDir" in vol and vol["emptyDir"] is None:
        vol["emptyDir"] = {}
    items = list((vol.get("downwardAPI") or {}).get("items") or [])
    for source in (vol.get("projected") or {}).get("sources") or []:
        items += (source.get("downwardAPI") or {}).get("items") or []
    for item in items:
        _default_selectors(item)


def default_pod_spec(spec: Obj) -> None:
    """Defaults of a PodSpec (pods and templates)."""
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        _default_container(c)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for vol in spec.get("volumes") or []:
        _default_volume(vol)


def _default_pod(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    default_pod_spec(spec)
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = sa
    spec["serviceAccount"] = sa
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    if "tolerations" not in spec:
        spec["tolerations"] = [dict(t) for t in DEFAULT_TOLERATIONS]
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", _qos(spec))


def _qos(spec: Obj) -> str:
    reqs = [c.get("resources") or {} for c in spec.get("containers") or []]
    if not any(r.get("requests") or r.get("limits") for r in reqs):
        return "BestEffort"
    guaranteed = all(
        r.get("limits", {}).get(k)
        and r.get("requests", {}).get(k, r["limits"][k]) == r["limits"][k]
        for r in reqs
        for k in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _clean_meta(meta: Obj) -> None:
    # Go clients send `creationTimestamp: null`; the server's decoder drops it.
    for key in [k for k, v in meta.items() if v is None]:
        del meta[key]


def _default_template(spec: Obj) -> None:
    tpl = spec.setdefault("template", {})
    if tpl.get("metadata") is None:
        tpl["metadata"] = {}
    _clean_meta(tpl["metadata"])
    default_pod_spec(tpl.setdefault("spec", {}))


def _default_deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = strategy.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _default_template(spec)
    obj.setdefault("status", {})


def _default_replicaset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    _default_template(spec)
    obj.setdefault("status", {"replicas": 0})


def _default_service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    status = obj.setdefault("status", {})
    status.setdefault("loadBalancer", {})


def _default_namespace(obj: Obj) -> None:
    name = obj["metadata"].get("name", "")
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _default_secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")
    # Convert_v1_Secret_To_core_Secret: stringData is write-only, merged into data (and wins)
    strings = obj.pop("stringData", None) or {}
    if strings:
        data = obj.get("data") or {}
        for key, value in strings.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


def _default_job(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    _default_template(spec)
    obj.setdefault("status", {})


def _default_cronjob(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    _default_template(spec.setdefault("jobTemplate", {}).setdefault("spec", {}))


def _default_pvc(obj: Obj) -> None:
    # SetDefaults_PersistentVolumeClaim(Spec): Filesystem, and a new claim is Pending
    obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")


def _default_pv(obj: Obj) -> None:
    # SetDefaults_PersistentVolume(Spec): Retain, Filesystem, and a new volume is Pending
    spec = obj.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")


DEFAULTERS = {
    "PersistentVolumeClaim": _default_pvc,
    "PersistentVolume": _default_pv,
    "Pod": _default_pod,
    "Deployment": _default_deployment,
    "ReplicaSet": _default_replicaset,
    "Service": _default_service,
    "Namespace": _default_namespace,
    "Secret": _default_secret,
    "Job": _default_job,
    "CronJob": _default_cronjob,
    "HorizontalPodAutoscaler": default_hpa,
}


def apply_defaults(res: Resource, obj: Obj) -> None:
    """Fill the fields the real API server defaults."""
    obj["apiVersion"] = res.api_version
    obj["kind"] = res.kind
    _clean_meta(obj.setdefault("metadata", {}))
    fn = DEFAULTERS.get(res.kind)
    if fn:
        fn(obj)
    if res.kind in ("StatefulSet", "DaemonSet"):
        _default_template(obj.setdefault("spec", {}))


def _name_causes(res: Resource, meta: Obj) -> list[Cause]:
    name = meta.get("name") or ""
    if not name:
        return [
            (
                "metadata.name",
                "FieldValueRequired",
                "Required value: name or generateName is required",
            )
        ]
    if res.group == "rbac.authorization.k8s.io":
        return _path_segment_causes(name)
    if res.kind == "Namespace":
        regex, msg, limit = LABEL_RE, LABEL_MSG, 63
    elif res.kind == "Service":
        regex, msg, limit = DNS1035_RE, DNS1035_MSG, 63
    else:
        regex, msg, limit = SUBDOMAIN_RE, SUBDOMAIN_MSG, 253
    causes: list[Cause] = []
    if len(name) > limit:
        causes.append(
            (
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: "{name}": must be no more than {limit} characters',
            )
        )
    if not regex.match(name):
        causes.append(("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {msg}'))
    return causes


def _path_segment_causes(name: str) -> list[Cause]:
    """RBAC names are path segments (path.IsValidPathSegmentName): `system:basic-user` is fine."""
    texts = []
    if name in (".", ".."):
        texts.append(f"may not be '{name}'")
    texts += [f"may not contain '{ch}'" for ch in ("/", "%") if ch in name]
    return [("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {t}') for t in texts]


def _container_causes(spec: Obj, prefix: str) -> list[Cause]:
    containers = spec.get("containers") or []
    if not containers:
        return [(f"{prefix}.containers", "FieldValueRequired", "Required value")]
    causes: list[Cause] = []
    for i, c in enumerate(containers):
        base = f"{prefix}.containers[{i}]"
        if not c.get("name"):
            causes.append((f"{base}.name", "FieldValueRequired", "Required value"))
        elif not LABEL_RE.match(str(c["name"])):
            causes.append(
                (f"{base}.name", "FieldValueInvalid", f'Invalid value: "{c["name"]}": {LABEL_MSG}')
            )
        if not c.get("image"):
            causes.append((f"{base}.image", "FieldValueRequired", "Required value"))
    return causes


def _go_map(labels: dict[str, str]) -> str:
    inner = ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items()))
    return "map[string]string{" + inner + "}"


def _workload_causes(res: Resource, obj: Obj) -> list[Cause]:
    from .selectors import selector_matches

    spec = obj.get("spec") or {}
    tpl = spec.get("template") or {}
    labels = (tpl.get("metadata") or {}).get("labels") or {}
    causes: list[Cause] = []
    if res.kind != "Job":
        sel = spec.get("selector")
        if not sel or not (sel.get("matchLabels") or sel.get("matchExpressions")):
            causes.append(("spec.selector", "FieldValueRequired", "Required value"))
            causes.append(
                (
                    "spec.template.metadata.labels",
                    "FieldValueInvalid",
                    f"Invalid value: {_go_map(labels)}: `selector` does not match "
                    "template `labels`",
                )
            )
        elif not selector_matches(sel, labels):
            causes.append(
                (
                    "spec.template.metadata.labels",
                    "FieldValueInvalid",
                    f"Invalid value: {_go_map(labels)}: `selector` does not match "
                    "template `labels`",
                )
            )
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        causes.append(
            (
                "spec.replicas",
                "FieldValueInvalid",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
            )
        )
    causes += metadata_causes(tpl.get("metadata") or {}, "spec.template.metadata")
    causes += _pod_spec_causes(res.kind, tpl.get("spec") or {}, "spec.template.spec")
    return causes


def _pod_spec_causes(kind: str, spec: Obj, prefix: str) -> list[Cause]:
    """ValidatePodSpec's containers then restartPolicy, and the owner kind's own policy rule."""
    causes = _container_causes(spec, prefix)
    if spec.get("containers"):
        causes += V.container_causes(spec["containers"], f"{prefix}.containers")
    return causes + V.restart_policy_causes(kind, spec, prefix)


def _service_causes(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    ports = spec.get("ports") or []
    causes: list[Cause] = []
    if not ports and spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(("spec.ports", "FieldValueRequired", "Required value"))
    for i, port in enumerate(ports):
        if len(ports) > 1 and not port.get("name"):
            causes.append((f"spec.ports[{i}].name", "FieldValueRequired", "Required value"))
        num = port.get("port")
        if not isinstance(num, int) or not 0 < num < 65536:
            causes.append(
                (
                    f"spec.ports[{i}].port",
                    "FieldValueInvalid",
                    f"Invalid value: {num}: must be between 1 and 65535, inclusive",
                )
            )
    return causes


def validate(res: Resource, obj: Obj) -> None:
    """Raise 422 Invalid with the real field messages for common mistakes."""
    meta = obj.get("metadata") or {}
    causes = _name_causes(res, meta) + metadata_causes(meta)
    if res.kind == "Pod":
        causes += _pod_spec_causes("Pod", obj.get("spec") or {}, "spec")
    elif res.kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        causes += _workload_causes(res, obj)
    elif res.kind == "CronJob":
        causes += V.cronjob_causes(obj)
        job = ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
        tpl = (job.get("template") or {}).get("spec") or {}
        causes += _pod_spec_causes("CronJob", tpl, "spec.jobTemplate.spec.template.spec")
    elif res.kind == "Service":
        causes += V.service_type_causes(obj.get("spec") or {}) + _service_causes(obj)
    if causes:
        raise invalid(res, meta.get("name") or "", causes)
