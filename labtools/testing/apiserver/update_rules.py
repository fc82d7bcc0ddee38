"""Validation that needs the old object, and Secret type rules (422 Invalid, the real texts).

`pkg/apis/core/validation/validation.go` (ValidateSecret, ValidateSecretUpdate,
ValidateConfigMapUpdate, ValidateServiceUpdate/validateUpgradeDowngradeClusterIPs,
ValidatePodUpdate, ValidateImmutableField), `pkg/apis/apps/validation` with the registries'
`ValidateUpdate` (apps/v1 selectors are immutable), `pkg/apis/rbac/validation`
(`cannot change roleRef`). Invalid values print as Go's `%q`/`%#v` do.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from .status import invalid

if TYPE_CHECKING:
    from .resources import Resource
    from .store import Obj

Cause = tuple[str, str, str]
IMMUTABLE_SET = "Forbidden: field is immutable when `immutable` is set"
SELECTOR_KINDS = ("Deployment", "ReplicaSet", "DaemonSet")
POD_UPDATABLE = (
    "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def check(res: Resource, obj: Obj, old: Obj | None) -> None:
    """Raise 422 Invalid when `obj` (replacing `old`, None on create) breaks a rule."""
    causes: list[Cause] = []
    if res.kind == "Secret":
        if old is not None:
            causes += _secret_update(obj, old)
        causes += secret_type_causes(obj)
    elif old is None:
        return
    elif res.kind == "ConfigMap":
        causes += _configmap_update(obj, old)
    elif res.kind == "Service":
        causes += _cluster_ips(obj, old)
    elif res.kind in SELECTOR_KINDS and res.group == "apps":
        causes += _immutable(obj, old, "spec.selector", _go_label_selector)
    elif res.kind in ("RoleBinding", "ClusterRoleBinding"):
        if (obj.get("roleRef") or {}) != (old.get("roleRef") or {}):
            ref = obj.get("roleRef") or {}
            group, kind, name = (ref.get(k, "") for k in ("apiGroup", "kind", "name"))
            value = f'rbac.RoleRef{{APIGroup:"{group}", Kind:"{kind}", Name:"{name}"}}'
            causes.append(
                ("roleRef", "FieldValueInvalid", f"Invalid value: {value}: cannot change roleRef")
            )
    elif res.kind == "Pod":
        causes += _pod_update(obj, old)
    elif res.kind == "Job":
        causes += _job_update(obj, old)
    elif res.kind == "PersistentVolumeClaim":
        causes += _pvc_update(obj, old)
    if causes:
        raise invalid(res, obj["metadata"].get("name", ""), causes)


# ---- Secrets ---------------------------------------------------------------------------------
def secret_type_causes(secret: Obj) -> list[Cause]:
    """ValidateSecret's per-type required keys."""
    data = secret.get("data") or {}
    kind = secret.get("type") or "Opaque"
    required = "Required value"
    if kind == "kubernetes.io/service-account-token":
        ann = (secret.get("metadata") or {}).get("annotations") or {}
        if not ann.get("kubernetes.io/service-account.name"):
            return [
                (
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "FieldValueRequired",
                    required,
                )
            ]
    elif kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if kind == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            return [(f"data[{key}]", "FieldValueRequired", required)]
        error = _json_error(data[key])
        if error:
            return [
                (
                    f"data[{key}]",
                    "FieldValueInvalid",
                    f'Invalid value: "<secret contents redacted>": {error}',
                )
            ]
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            return [
                ("data[username]", "FieldValueRequired", required),
                ("data[password]", "FieldValueRequired", required),
            ]
    elif kind == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            return [("data[ssh-privatekey]", "FieldValueRequired", required)]
    elif kind == "kubernetes.io/tls":
        return [
            (f"data[{key}]", "FieldValueRequired", required)
            for key in ("tls.crt", "tls.key")
            if key not in data
        ]
    return []


def _json_error(encoded: Any) -> str:
    """encoding/json's error for a value that is not a JSON object (the common cases)."""
    import base64

    try:
        text = base64.b64decode(str(encoded)).decode()
    except (ValueError, UnicodeDecodeError):
        return "invalid character looking for beginning of value"
    stripped = text.strip()
    if not stripped:
        return "unexpected end of JSON input"
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(stripped):
            return "unexpected end of JSON input"
        return f"invalid character '{stripped[exc.pos]}' looking for beginning of value"
    if not isinstance(value, dict):
        kind = _go_json_kind(value)
        return f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
    return ""


def _go_json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


def _secret_update(obj: Obj, old: Obj) -> list[Cause]:
    causes: list[Cause] = []
    new_type, old_type = obj.get("type") or "Opaque", old.get("type") or "Opaque"
    if new_type != old_type:
        causes.append(
            ("type", "FieldValueInvalid", f'Invalid value: "{new_type}": field is immutable')
        )
    if old.get("immutable"):
        if not obj.get("immutable"):
            causes.append(("immutable", "FieldValueForbidden", IMMUTABLE_SET))
        if obj.get("data") != old.get("data"):
            causes.append(("data", "FieldValueForbidden", IMMUTABLE_SET))
    return causes


def _configmap_update(obj: Obj, old: Obj) -> list[Cause]:
    causes: list[Cause] = []
    if old.get("immutable"):
        if not obj.get("immutable"):
            causes.append(("immutable", "FieldValueForbidden", IMMUTABLE_SET))
        for key in ("data", "binaryData"):
            if obj.get(key) != old.get(key):
                causes.append((key, "FieldValueForbidden", IMMUTABLE_SET))
    return causes


# ---- Services --------------------------------------------------------------------------------
def _cluster_ips(obj: Obj, old: Obj) -> list[Cause]:
    """validateUpgradeDowngradeClusterIPs: the primary (and secondary) clusterIP may not change."""
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    new_ips = list(spec.get("clusterIPs") or [])
    old_ips = list(old_spec.get("clusterIPs") or [])
    if old_ips == ["None"] and new_ips == ["None"]:
        return []
    value = "[]string{" + ", ".join(f'"{ip}"' for ip in new_ips) + "}"
    causes: list[Cause] = []
    if len(new_ips) == len(old_ips):
        for i, ip in enumerate(old_ips):
            if ip != new_ips[i]:
                causes.append(
                    (
                        f"spec.clusterIPs[{i}]",
                        "FieldValueInvalid",
                        f"Invalid value: {value}: may not change once set",
                    )
                )
    elif not new_ips:
        causes.append(
            (
                "spec.clusterIPs[0]",
                "FieldValueInvalid",
                f"Invalid value: {value}: primary clusterIP can not be unset",
            )
        )
    elif new_ips[0] != old_ips[0]:
        causes.append(
            (
                "spec.clusterIPs[0]",
                "FieldValueInvalid",
                f"Invalid value: {value}: may not change once set",
            )
        )
    return causes


# ---- workloads ---------------------------------------------------------------------------------
def _immutable(obj: Obj, old: Obj, path: str, render: Any) -> list[Cause]:
    keys = path.split(".")
    new_value, old_value = _dig(obj, keys), _dig(old, keys)
    if new_value == old_value:
        return []
    return [(path, "FieldValueInvalid", f"Invalid value: {render(new_value)}: field is immutable")]


def _dig(obj: Any, keys: list[str]) -> Any:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _go_label_selector(sel: Any) -> str:
    """%#v of a v1.LabelSelector (the pointer is dereferenced by field.Error)."""
    if not isinstance(sel, dict):
        return "null"
    labels = sel.get("matchLabels")
    if labels:
        inner = ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items()))
        ml = "map[string]string{" + inner + "}"
    else:
        ml = "map[string]string(nil)"
    exprs = sel.get("matchExpressions")
    if exprs:
        items = []
        for e in exprs:
            values = e.get("values")
            vs = (
                "[]string{" + ", ".join(f'"{v}"' for v in values) + "}"
                if values
                else "[]string(nil)"
            )
            items.append(
                f'v1.LabelSelectorRequirement{{Key:"{e.get("key", "")}", '
                f'Operator:"{e.get("operator", "")}", Values:{vs}}}'
            )
        me = "[]v1.LabelSelectorRequirement{" + ", ".join(items) + "}"
    else:
        me = "[]v1.LabelSelectorRequirement(nil)"
    return f"v1.LabelSelector{{MatchLabels:{ml}, MatchExpressions:{me}}}"


# ---- Jobs (pkg/apis/batch/validation ValidateJobSpecUpdate) ----------------------------------
SUSPENDED_MUTABLE = ("nodeSelector", "affinity", "tolerations", "schedulingGates")


def _job_update(obj: Obj, old: Obj) -> list[Cause]:
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    causes: list[Cause] = []
    if spec.get("completionMode", "NonIndexed") == "NonIndexed" and spec.get(
        "completions"
    ) != old_spec.get("completions"):
        causes.append(
            (
                "spec.completions",
                "FieldValueInvalid",
                f"Invalid value: {spec.get('completions')}: field is immutable",
            )
        )
    causes += _immutable(obj, old, "spec.selector", _go_label_selector)
    tpl, old_tpl = spec.get("template") or {}, old_spec.get("template") or {}
    if _template_for_compare(tpl, old) != _template_for_compare(old_tpl, old):
        value = _go_pod_template(tpl)
        causes.append(
            ("spec.template", "FieldValueInvalid", f"Invalid value: {value}: field is immutable")
        )
    return causes


def _template_for_compare(tpl: Obj, old_job: Obj) -> Obj:
    """A suspended Job that never started may change its pods' scheduling directives."""
    tpl = copy.deepcopy(tpl)
    started = (old_job.get("status") or {}).get("startTime")
    if (old_job.get("spec") or {}).get("suspend") and not started:
        meta = tpl.get("metadata") or {}
        meta.pop("labels", None)
        meta.pop("annotations", None)
        for key in SUSPENDED_MUTABLE:
            (tpl.get("spec") or {}).pop(key, None)
    return tpl


def _go_map(value: Any) -> str:
    if not value:
        return "map[string]string(nil)"
    return "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(value.items())) + "}"


def _go_pod_template(tpl: Obj) -> str:
    """%#v of a core.PodTemplateSpec, with its ObjectMeta in full and the PodSpec elided (the
    real text prints every PodSpec field with pointer addresses, different on every run)."""
    meta = tpl.get("metadata") or {}
    object_meta = (
        'v1.ObjectMeta{Name:"", GenerateName:"", Namespace:"", SelfLink:"", UID:"", '
        'ResourceVersion:"", Generation:0, CreationTimestamp:time.Date(1, time.January, 1, 0, 0, '
        "0, 0, time.UTC), DeletionTimestamp:<nil>, DeletionGracePeriodSeconds:(*int64)(nil), "
        f"Labels:{_go_map(meta.get('labels'))}, Annotations:{_go_map(meta.get('annotations'))}, "
        "OwnerReferences:[]v1.OwnerReference(nil), Finalizers:[]string(nil), "
        "ManagedFields:[]v1.ManagedFieldsEntry(nil)}"
    )
    return f"core.PodTemplateSpec{{ObjectMeta:{object_meta}, Spec:core.PodSpec{{...}}}}"


# ---- PersistentVolumeClaims (ValidatePersistentVolumeClaimUpdate) -------------------------------
PVC_IMMUTABLE = (
    "spec is immutable after creation except resources.requests and volumeAttributesClassName "
    "for bound claims"
)


def _pvc_update(obj: Obj, old: Obj) -> list[Cause]:
    new_spec, old_spec = copy.deepcopy(obj.get("spec") or {}), copy.deepcopy(old.get("spec") or {})
    if not old_spec.get("volumeName"):
        old_spec.pop("volumeName", None)  # the binder sets volumeName once
        new_spec.pop("volumeName", None)
    if (obj.get("status") or {}).get("phase") == "Bound":
        for spec in (new_spec, old_spec):
            (spec.get("resources") or {}).get("requests", {}).pop("storage", None)
            spec.pop("volumeAttributesClassName", None)
    if new_spec == old_spec:
        return []
    diff = _spec_diff(old_spec, new_spec, "core.PersistentVolumeClaimSpec")
    return [("spec", "FieldValueForbidden", f"Forbidden: {PVC_IMMUTABLE}\n{diff}")]


# ---- Pods --------------------------------------------------------------------------------------
def _pod_update(obj: Obj, old: Obj) -> list[Cause]:
    """ValidatePodUpdate: only images, activeDeadlineSeconds and added tolerations may change."""
    new_spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    munged = copy.deepcopy(new_spec)
    for key in ("containers", "initContainers"):
        for i, c in enumerate(munged.get(key) or []):
            olds = old_spec.get(key) or []
            if i < len(olds):
                c["image"] = olds[i].get("image")
    munged["activeDeadlineSeconds"] = old_spec.get("activeDeadlineSeconds")
    if munged.get("activeDeadlineSeconds") is None:
        munged.pop("activeDeadlineSeconds", None)
    old_tols = old_spec.get("tolerations") or []
    new_tols = munged.get("tolerations") or []
    if all(t in new_tols for t in old_tols):
        if old_tols:
            munged["tolerations"] = old_tols
        else:
            munged.pop("tolerations", None)
    if munged == old_spec:
        return []
    diff = _spec_diff(old_spec, munged, "core.PodSpec")
    return [
        (
            "spec",
            "FieldValueForbidden",
            f"Forbidden: pod updates may not change fields other than {POD_UPDATABLE}\n{diff}",
        )
    ]


def _spec_diff(old: Obj, new: Obj, type_name: str) -> str:
    """A go-cmp-like summary of which spec fields differ (the real text is cmp.Diff's)."""
    lines = [f"  {type_name}{{"]
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            continue
        field = key[:1].upper() + key[1:]
        if key in old:
            lines.append(f"- \t{field}: {json.dumps(old[key], sort_keys=True)},")
        if key in new:
            lines.append(f"+ \t{field}: {json.dumps(new[key], sort_keys=True)},")
    lines.append("  }")
    return "\n".join(lines) + "\n"


__all__ = ["check", "secret_type_causes"]
