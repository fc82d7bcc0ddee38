"""A compact field schema of common kinds: strict field validation and `kubectl explain`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

# A schema node is: ANY (free-form), a scalar type name, a dict of fields, or a one-item list.
ANY = "*"
S, INT, B, IOS = "string", "integer", "boolean", "int-or-string"
I64 = "int64"  # an integer field that Go declares int64 (INT is int32)
MAP_S = "map[string]string"

CORE, APPS = "io.k8s.api.core.v1.", "io.k8s.api.apps.v1."
META_V1 = "io.k8s.apimachinery.pkg.apis.meta.v1."
# id(node) -> OpenAPI definition name of the Go struct a dict node stands for
NAMES: dict[int, str] = {}


def named(name: str, node: dict[str, Any]) -> dict[str, Any]:
    """Register `node` as the Go struct `name` (an OpenAPI definition name); return it."""
    NAMES[id(node)] = name
    return node


OWNER_REF = named(
    META_V1 + "OwnerReference",
    {"apiVersion": S, "kind": S, "name": S, "uid": S, "controller": B, "blockOwnerDeletion": B},
)
META: dict[str, Any] = named(
    META_V1 + "ObjectMeta",
    {
        "name": S,
        "generateName": S,
        "namespace": S,
        "selfLink": S,
        "uid": S,
        "resourceVersion": S,
        "generation": I64,
        "creationTimestamp": S,
        "deletionTimestamp": S,
        "deletionGracePeriodSeconds": I64,
        "labels": MAP_S,
        "annotations": MAP_S,
        "ownerReferences": [OWNER_REF],
        "finalizers": [S],
        "managedFields": ANY,
    },
)
SELECTOR = named(
    META_V1 + "LabelSelector",
    {
        "matchLabels": MAP_S,
        "matchExpressions": [
            named(META_V1 + "LabelSelectorRequirement", {"key": S, "operator": S, "values": [S]})
        ],
    },
)
ENV = named(
    CORE + "EnvVar",
    {
        "name": S,
        "value": S,
        "valueFrom": named(
            CORE + "EnvVarSource",
            {
                "fieldRef": named(CORE + "ObjectFieldSelector", {"apiVersion": S, "fieldPath": S}),
                "resourceFieldRef": named(
                    CORE + "ResourceFieldSelector",
                    {"containerName": S, "resource": S, "divisor": IOS},
                ),
                "configMapKeyRef": named(
                    CORE + "ConfigMapKeySelector", {"name": S, "key": S, "optional": B}
                ),
                "secretKeyRef": named(
                    CORE + "SecretKeySelector", {"name": S, "key": S, "optional": B}
                ),
            },
        ),
    },
)
ENV_FROM = named(
    CORE + "EnvFromSource",
    {
        "prefix": S,
        "configMapRef": named(CORE + "ConfigMapEnvSource", {"name": S, "optional": B}),
        "secretRef": named(CORE + "SecretEnvSource", {"name": S, "optional": B}),
    },
)
HANDLER = named(
    CORE + "LifecycleHandler",
    {
        "exec": named(CORE + "ExecAction", {"command": [S]}),
        "httpGet": named(
            CORE + "HTTPGetAction",
            {
                "path": S,
                "port": IOS,
                "host": S,
                "scheme": S,
                "httpHeaders": [named(CORE + "HTTPHeader", {"name": S, "value": S})],
            },
        ),
        "tcpSocket": named(CORE + "TCPSocketAction", {"port": IOS, "host": S}),
        "grpc": named(CORE + "GRPCAction", {"port": INT, "service": S}),
    },
)
PROBE = named(
    CORE + "Probe",
    {
        **HANDLER,
        "initialDelaySeconds": INT,
        "timeoutSeconds": INT,
        "periodSeconds": INT,
        "successThreshold": INT,
        "failureThreshold": INT,
        "terminationGracePeriodSeconds": I64,
    },
)
SEC_CTX = ANY
CONTAINER: dict[str, Any] = named(
    CORE + "Container",
    {
        "name": S,
        "image": S,
        "command": [S],
        "args": [S],
        "workingDir": S,
        "ports": [
            named(
                CORE + "ContainerPort",
                {"name": S, "hostPort": INT, "containerPort": INT, "protocol": S, "hostIP": S},
            )
        ],
        "envFrom": [ENV_FROM],
        "env": [ENV],
        "resources": named(
            CORE + "ResourceRequirements", {"limits": ANY, "requests": ANY, "claims": ANY}
        ),
        "resizePolicy": ANY,
        "restartPolicy": S,
        "volumeMounts": [
            named(
                CORE + "VolumeMount",
                {
                    "name": S,
                    "readOnly": B,
                    "recursiveReadOnly": S,
                    "mountPath": S,
                    "subPath": S,
                    "mountPropagation": S,
                    "subPathExpr": S,
                },
            )
        ],
        "volumeDevices": [named(CORE + "VolumeDevice", {"name": S, "devicePath": S})],
        "livenessProbe": PROBE,
        "readinessProbe": PROBE,
        "startupProbe": PROBE,
        "lifecycle": named(
            CORE + "Lifecycle", {"postStart": HANDLER, "preStop": HANDLER, "stopSignal": S}
        ),
        "terminationMessagePath": S,
        "terminationMessagePolicy": S,
        "imagePullPolicy": S,
        "securityContext": SEC_CTX,
        "stdin": B,
        "stdinOnce": B,
        "tty": B,
    },
)
VOLUME: dict[str, Any] = named(
    CORE + "Volume",
    {
        "name": S,
        "emptyDir": named(CORE + "EmptyDirVolumeSource", {"medium": S, "sizeLimit": IOS}),
        "hostPath": named(CORE + "HostPathVolumeSource", {"path": S, "type": S}),
        "configMap": named(
            CORE + "ConfigMapVolumeSource",
            {"name": S, "items": ANY, "defaultMode": INT, "optional": B},
        ),
        "secret": named(
            CORE + "SecretVolumeSource",
            {"secretName": S, "items": ANY, "defaultMode": INT, "optional": B},
        ),
        "persistentVolumeClaim": named(
            CORE + "PersistentVolumeClaimVolumeSource", {"claimName": S, "readOnly": B}
        ),
        "projected": ANY,
        "downwardAPI": ANY,
        "nfs": ANY,
        "csi": ANY,
        "ephemeral": ANY,
        "image": ANY,
    },
)
POD_SPEC: dict[str, Any] = named(
    CORE + "PodSpec",
    {
        "volumes": [VOLUME],
        "initContainers": [CONTAINER],
        "containers": [CONTAINER],
        "ephemeralContainers": ANY,
        "restartPolicy": S,
        "terminationGracePeriodSeconds": I64,
        "activeDeadlineSeconds": I64,
        "dnsPolicy": S,
        "nodeSelector": MAP_S,
        "serviceAccountName": S,
        "serviceAccount": S,
        "automountServiceAccountToken": B,
        "nodeName": S,
        "hostNetwork": B,
        "hostPID": B,
        "hostIPC": B,
        "shareProcessNamespace": B,
        "securityContext": SEC_CTX,
        "imagePullSecrets": [named(CORE + "LocalObjectReference", {"name": S})],
        "hostname": S,
        "subdomain": S,
        "affinity": ANY,
        "schedulerName": S,
        "tolerations": [
            named(
                CORE + "Toleration",
                {"key": S, "operator": S, "value": S, "effect": S, "tolerationSeconds": I64},
            )
        ],
        "hostAliases": [named(CORE + "HostAlias", {"ip": S, "hostnames": [S]})],
        "priorityClassName": S,
        "priority": INT,
        "dnsConfig": ANY,
        "readinessGates": [named(CORE + "PodReadinessGate", {"conditionType": S})],
        "runtimeClassName": S,
        "enableServiceLinks": B,
        "preemptionPolicy": S,
        "overhead": ANY,
        "topologySpreadConstraints": ANY,
        "setHostnameAsFQDN": B,
        "os": named(CORE + "PodOS", {"name": S}),
        "hostUsers": B,
        "schedulingGates": [named(CORE + "PodSchedulingGate", {"name": S})],
        "resourceClaims": ANY,
        "resources": ANY,
    },
)
TEMPLATE = named(CORE + "PodTemplateSpec", {"metadata": META, "spec": POD_SPEC})
COND = ANY

SCHEMAS: dict[str, dict[str, Any]] = {
    "Pod": {"spec": POD_SPEC, "status": ANY},
    "Deployment": {
        "spec": named(
            APPS + "DeploymentSpec",
            {
                "replicas": INT,
                "selector": SELECTOR,
                "template": TEMPLATE,
                "strategy": named(
                    APPS + "DeploymentStrategy",
                    {
                        "type": S,
                        "rollingUpdate": named(
                            APPS + "RollingUpdateDeployment",
                            {"maxUnavailable": IOS, "maxSurge": IOS},
                        ),
                    },
                ),
                "minReadySeconds": INT,
                "revisionHistoryLimit": INT,
                "paused": B,
                "progressDeadlineSeconds": INT,
            },
        ),
        "status": ANY,
    },
    "ReplicaSet": {
        "spec": named(
            APPS + "ReplicaSetSpec",
            {"replicas": INT, "minReadySeconds": INT, "selector": SELECTOR, "template": TEMPLATE},
        ),
        "status": ANY,
    },
    "Service": {
        "spec": named(
            CORE + "ServiceSpec",
            {
                "ports": [
                    named(
                        CORE + "ServicePort",
                        {
                            "name": S,
                            "protocol": S,
                            "appProtocol": S,
                            "port": INT,
                            "targetPort": IOS,
                            "nodePort": INT,
                        },
                    )
                ],
                "selector": MAP_S,
                "clusterIP": S,
                "clusterIPs": [S],
                "type": S,
                "externalIPs": [S],
                "sessionAffinity": S,
                "loadBalancerIP": S,
                "loadBalancerSourceRanges": [S],
                "externalName": S,
                "externalTrafficPolicy": S,
                "healthCheckNodePort": INT,
                "publishNotReadyAddresses": B,
                "sessionAffinityConfig": ANY,
                "ipFamilies": [S],
                "ipFamilyPolicy": S,
                "allocateLoadBalancerNodePorts": B,
                "loadBalancerClass": S,
                "internalTrafficPolicy": S,
                "trafficDistribution": S,
            },
        ),
        "status": ANY,
    },
    "ConfigMap": {"data": MAP_S, "binaryData": ANY, "immutable": B},
    "Secret": {"data": ANY, "stringData": MAP_S, "type": S, "immutable": B},
    "Namespace": {"spec": named(CORE + "NamespaceSpec", {"finalizers": [S]}), "status": ANY},
    "ServiceAccount": {
        "secrets": ANY,
        "imagePullSecrets": [named(CORE + "LocalObjectReference", {"name": S})],
        "automountServiceAccountToken": B,
    },
}


def unknown_fields(kind: str, obj: dict[str, Any]) -> list[str]:
    """Paths of fields the schema of `kind` does not know (empty for unknown kinds)."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        return []
    top = {"apiVersion": S, "kind": S, "metadata": META, **schema}
    out: list[str] = []
    _walk(top, obj, "", out)
    return out


def _walk(schema: Any, value: Any, path: str, out: list[str]) -> None:
    if schema == ANY or value is None:
        return
    if isinstance(schema, list) and isinstance(value, list):
        for i, item in enumerate(value):
            _walk(schema[0], item, f"{path}[{i}]", out)
    elif isinstance(schema, dict) and isinstance(value, dict):
        for key, val in value.items():
            sub = f"{path}.{key}" if path else key
            if key not in schema:
                out.append(sub)
            else:
                _walk(schema[key], val, sub, out)


# ---- type checking: what Go's decoders say about a value of the wrong JSON type ----------
INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1


@dataclass(frozen=True)
class Mismatch:
    """One value whose JSON type does not fit its Go field."""

    fields: tuple[str, ...]  # json field names from the root (Go's error context: no indices)
    path: str  # structured-merge-diff path: .spec.containers[name="web"].image
    struct: str  # Go name of the innermost struct holding the field
    node: Any  # the schema node the value should fit
    value: Any
    int_or_string: bool = False


def type_mismatches(kind: str, obj: Obj) -> list[Mismatch]:
    """Values of `obj` whose JSON type does not fit the Go types of `kind` (document order)."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        return []
    top = {"apiVersion": S, "kind": S, "metadata": META, **schema}
    out: list[Mismatch] = []
    _check(top, obj, (), "", kind, out)
    return out


def _check(
    node: Any, value: Any, fields: tuple[str, ...], path: str, struct: str, out: list[Mismatch]
) -> None:
    if node == ANY or value is None:
        return
    if isinstance(node, dict):
        if not isinstance(value, dict):
            out.append(Mismatch(fields, path, struct, node, value))
            return
        inner = go_name(node) or struct
        for key, val in value.items():
            if key in node:
                _check(node[key], val, (*fields, key), f"{path}.{key}", inner, out)
    elif isinstance(node, list):
        if not isinstance(value, list):
            out.append(Mismatch(fields, path, struct, node, value))
            return
        for i, item in enumerate(value):
            _check(node[0], item, fields, path + _list_key(item, i), struct, out)
    elif node == MAP_S:
        if not isinstance(value, dict):
            out.append(Mismatch(fields, path, struct, node, value))
            return
        for key, val in value.items():
            if val is not None and not isinstance(val, str):
                out.append(Mismatch(fields, f"{path}.{key}", struct, S, val))
    elif not _fits(node, value):
        out.append(Mismatch(fields, path, struct, node, value, node == IOS))


def _list_key(item: Any, index: int) -> str:
    # structured-merge-diff names associative list items by their key (most lists key on name)
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        return f'[name="{item["name"]}"]'
    return f"[{index}]"


def _fits(node: str, value: Any) -> bool:
    if node == S:
        return isinstance(value, str)
    if node == B:
        return isinstance(value, bool)
    if node == IOS:
        return isinstance(value, str) or _is_int(value, INT32_MAX)
    return _is_int(value, INT64_MAX if node == I64 else INT32_MAX)


def _is_int(value: Any, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -limit - 1 <= value <= limit


def go_name(node: Any) -> str:
    """The Go struct name of a named dict node ('' for others)."""
    return NAMES.get(id(node), "").rsplit(".", 1)[-1]


def go_type(node: Any) -> str:
    """The Go type of a schema node as encoding/json prints it."""
    if isinstance(node, list):
        return "[]" + go_type(node[0])
    if isinstance(node, dict):
        return "v1." + go_name(node)
    return {S: "string", B: "bool", INT: "int32", I64: "int64", IOS: "int32"}.get(node, str(node))


def json_kind(value: Any) -> str:
    """How encoding/json names a JSON value in an UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "number"


def json_error(kind: str, obj: Obj) -> str | None:
    """encoding/json's error for decoding `obj` into the Go type of `kind`, or None."""
    found = type_mismatches(kind, obj)
    if not found:
        return None
    # a custom UnmarshalJSON (IntOrString) aborts the decode; other errors are kept, first wins
    first = next((m for m in found if m.int_or_string), found[0])
    got = json_kind(first.value)
    if got == "number" and first.node in (INT, I64, IOS) and not isinstance(first.value, dict):
        got = f"number {_go_number(first.value)}"
    return (
        f"json: cannot unmarshal {got} into Go struct field "
        f"{first.struct}.{'.'.join(first.fields)} of type {go_type(first.node)}"
    )


def converter_error(kind: str, obj: Obj) -> str | None:
    """runtime.DefaultUnstructuredConverter's error (strategic merge patches), or None."""
    found = type_mismatches(kind, obj)
    if not found:
        return None
    m = found[0]
    src = _go_kind(m.value)
    if isinstance(m.node, dict):
        return f"cannot restore struct from: {src}"
    if isinstance(m.node, list):
        return f"cannot restore slice from {src}"
    if m.node == MAP_S:
        return f"cannot restore map from {src}"
    if m.node == IOS:
        got = json_kind(m.value)
        got = f"number {_go_number(m.value)}" if got == "number" else got
        return f"json: cannot unmarshal {got} into Go value of type int32"
    dest = go_type(m.node)
    if src in ("int64", "float64") and m.node != B:
        return f"cannot convert {src} to {dest}"
    return f"unrecognized type: {dest}"


def smd_errors(kind: str, obj: Obj) -> list[str]:
    """structured-merge-diff's errors for a server-side apply configuration."""
    out = []
    for m in type_mismatches(kind, obj):
        if m.node == IOS and not isinstance(m.value, dict | list):
            continue  # an untyped scalar takes any scalar
        if isinstance(m.node, dict) or m.node == MAP_S:
            text = f"expected map, got &{{{_go_value(m.value)}}}"
        elif isinstance(m.node, list):
            text = f"expected list, got &{{{_go_value(m.value)}}}"
        elif m.node in (INT, I64):
            text = f"expected numeric (int or float), got {_go_type_of(m.value)}"
        elif m.node == S:
            text = f"expected string, got &value.valueUnstructured{{Value:{_go_sharp(m.value)}}}"
        elif m.node == B:
            text = f"expected boolean, got &{{{_go_value(m.value)}}}"
        else:
            text = f"expected any scalar, got &{{{_go_value(m.value)}}}"
        out.append(f"{m.path}: {text}")
    return out


def _go_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, dict):
        return "map"
    return "slice" if isinstance(value, list) else "string"


def _go_type_of(value: Any) -> str:
    return {
        "map": "map[string]interface {}",
        "slice": "[]interface {}",
    }.get(_go_kind(value), _go_kind(value))


def _go_number(value: Any) -> str:
    if isinstance(value, float) and value == int(value) and abs(value) < 1e21:
        return repr(value)
    return str(value)


def go_value(value: Any) -> str:
    """Go's `%+v` of a decoded JSON value (maps print with sorted keys)."""
    return _go_value(value)


def _go_value(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        items = " ".join(f"{k}:{_go_value(value[k])}" for k in sorted(value))
        return f"map[{items}]"
    if isinstance(value, list):
        return "[" + " ".join(_go_value(v) for v in value) + "]"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    # %v of a float64 is %g with the shortest representation: 1.5, 1e+21
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mant, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        return f"{mant}e{sign}{exp.lstrip('+-').zfill(2)}"
    return text


def _go_sharp(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value + '"'
    return _go_value(value)
