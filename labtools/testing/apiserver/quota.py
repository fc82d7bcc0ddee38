"""ResourceQuota: usage evaluators, the admission check, and the quota controller's status.

Sources (v1.32): `pkg/quota/v1/evaluator/core/{pods,services,persistent_volume_claims}.go`
(usage and constraints), `staging/src/k8s.io/apiserver/pkg/quota/v1/generic/evaluator.go`
(object counts `count/<resource>[.<group>]`, legacy `configmaps`/`secrets`/... aliases),
`staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota/controller.go` (CheckRequest:
`failed quota`, `status unknown for quota`, `exceeded quota: ...`, all answered by
admission.NewForbidden as 403 Forbidden) and `pkg/controller/resourcequota` (status.hard/used).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .quantity import ZERO, Quantity, QuantityError, canonical, normalize_list, parse

Obj = dict[str, Any]
Usage = dict[str, Quantity]

ONE = Quantity(10**9)
VALIDATION_SET = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
POD_RESOURCES = (
    "count/pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
)
LEGACY_ALIASES = {
    ("", "configmaps"): "configmaps",
    ("", "resourcequotas"): "resourcequotas",
    ("", "replicationcontrollers"): "replicationcontrollers",
    ("", "secrets"): "secrets",
}
NATIVE_PREFIXES = ("kubernetes.io/", "requests.", "limits.")


def _q(value: Any) -> Quantity:
    if isinstance(value, Quantity):
        return value
    try:
        return parse(value)
    except QuantityError:
        return ZERO


def add(a: Quantity, b: Quantity) -> Quantity:
    """Quantity.Add: a zero receiver takes the other's format."""
    return Quantity(a.nanos + b.nanos, b.fmt if a.nanos == 0 else a.fmt)


def _add_lists(a: Usage, b: Usage) -> Usage:
    out = dict(a)
    for key, value in b.items():
        out[key] = add(out[key], value) if key in out else value
    return out


def pretty(usage: Usage) -> str:
    """prettyPrint: `name=value` sorted by name, comma-joined."""
    return ",".join(f"{k}={canonical(usage[k])}" for k in sorted(usage))


# ---- evaluators -----------------------------------------------------------------------------
def object_count_name(group: str, plural: str) -> str:
    """ObjectCountQuotaResourceNameFor: `count/pods`, `count/deployments.apps`."""
    return f"count/{plural}.{group}" if group else f"count/{plural}"


def _is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _container_usage(requests: Obj, limits: Obj) -> Usage:
    """podComputeUsageHelper."""
    out: Usage = {"pods": ONE}
    for name in ("cpu", "memory", "ephemeral-storage"):
        if name in requests:
            out[name] = out[f"requests.{name}"] = _q(requests[name])
        if name in limits:
            out[f"limits.{name}"] = _q(limits[name])
    for name, value in requests.items():
        if name.startswith("hugepages-"):
            out[name] = out[f"requests.{name}"] = _q(value)
        elif "/" in name and not name.startswith(NATIVE_PREFIXES):
            out[f"requests.{name}"] = _q(value)
    return out


def _pod_resources(spec: Obj, key: str) -> Usage:
    """PodRequests / PodLimits: containers summed, init containers as a floor."""
    total: Usage = {}
    for c in spec.get("containers") or []:
        for name, value in ((c.get("resources") or {}).get(key) or {}).items():
            total[name] = add(total[name], _q(value)) if name in total else _q(value)
    for c in spec.get("initContainers") or []:
        for name, value in ((c.get("resources") or {}).get(key) or {}).items():
            q = _q(value)
            if name not in total or q.nanos > total[name].nanos:
                total[name] = q
    return total


def pod_usage(pod: Obj) -> Usage:
    """PodUsageFunc: count/pods always; pods and compute unless the pod is terminal."""
    usage: Usage = {"count/pods": ONE}
    if _is_terminal(pod):
        return usage
    spec = pod.get("spec") or {}
    usage.update(_container_usage(_pod_resources(spec, "requests"), _pod_resources(spec, "limits")))
    return usage


def service_usage(svc: Obj) -> Usage:
    """ServiceUsageFunc: services, count/services, node ports and load balancers."""
    spec = svc.get("spec") or {}
    usage: Usage = {"services": ONE, "count/services": ONE}
    ports = len(spec.get("ports") or [])
    if spec.get("type") == "NodePort":
        usage["services.nodeports"] = Quantity(ports * 10**9)
    elif spec.get("type") == "LoadBalancer":
        usage["services.nodeports"] = Quantity(ports * 10**9)
        usage["services.loadbalancers"] = ONE
    return usage


def pvc_usage(pvc: Obj) -> Usage:
    """PersistentVolumeClaim usage: counts and requests.storage (also per storage class)."""
    usage: Usage = {"persistentvolumeclaims": ONE, "count/persistentvolumeclaims": ONE}
    spec = pvc.get("spec") or {}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    cls = spec.get("storageClassName") or ""
    if cls:
        usage[f"{cls}.storageclass.storage.k8s.io/persistentvolumeclaims"] = ONE
    if storage is not None:
        usage["requests.storage"] = _q(storage)
        if cls:
            usage[f"{cls}.storageclass.storage.k8s.io/requests.storage"] = _q(storage)
    return usage


def usage_of(key: tuple[str, str], obj: Obj) -> Usage:
    """The quota usage of one stored object."""
    if key == ("", "pods"):
        return pod_usage(obj)
    if key == ("", "services"):
        return service_usage(obj)
    if key == ("", "persistentvolumeclaims"):
        return pvc_usage(obj)
    usage = {object_count_name(*key): ONE}
    alias = LEGACY_ALIASES.get(key)
    if alias:
        usage[alias] = ONE
    return usage


def matching(key: tuple[str, str], names: list[str]) -> list[str]:
    """Evaluator.MatchingResources: the quota's resource names this kind's usage counts."""
    if key == ("", "pods"):
        return [
            n
            for n in names
            if n in POD_RESOURCES
            or n.startswith(("hugepages-", "requests.hugepages-"))
            or (n.startswith("requests.") and "/" in n and not n[9:].startswith(NATIVE_PREFIXES))
        ]
    if key == ("", "services"):
        own: tuple[str, ...] = (
            "services",
            "count/services",
            "services.nodeports",
            "services.loadbalancers",
        )
        return [n for n in names if n in own]
    if key == ("", "persistentvolumeclaims"):
        own = ("persistentvolumeclaims", "count/persistentvolumeclaims", "requests.storage")
        return [n for n in names if n in own or ".storageclass.storage.k8s.io/" in n]
    own = (object_count_name(*key), LEGACY_ALIASES.get(key, "\0"))
    return [n for n in names if n in own]


def _scopes_match(quota: Obj, pod: Obj | None) -> bool:
    spec = quota.get("spec") or {}
    scopes = list(spec.get("scopes") or [])
    scopes += [
        s.get("scopeName") for s in (spec.get("scopeSelector") or {}).get("matchExpressions") or []
    ]
    if not scopes:
        return True
    if pod is None:
        return False  # only pods have scopes
    pspec = pod.get("spec") or {}
    terminating = pspec.get("activeDeadlineSeconds") is not None
    best_effort = (pod.get("status") or {}).get("qosClass") == "BestEffort"
    checks: dict[str, Callable[[], bool]] = {
        "Terminating": lambda: terminating,
        "NotTerminating": lambda: not terminating,
        "BestEffort": lambda: best_effort,
        "NotBestEffort": lambda: not best_effort,
        "PriorityClass": lambda: bool(pspec.get("priorityClassName")),
    }
    return all(checks.get(str(s), lambda: False)() for s in scopes)


# ---- admission ----------------------------------------------------------------------------
def constraints_error(key: tuple[str, str], required: list[str], pod: Obj) -> str:
    """podEvaluator.Constraints: `must specify limits.cpu for: web; ...`."""
    if key != ("", "pods"):
        return ""
    wanted = [r for r in required if r in VALIDATION_SET]
    missing: dict[str, set[str]] = {}
    spec = pod.get("spec") or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        res = c.get("resources") or {}
        have = _container_usage(res.get("requests") or {}, res.get("limits") or {})
        for name in wanted:
            if name not in have:
                missing.setdefault(name, set()).add(str(c.get("name")))
    if not missing:
        return ""
    parts = [f"{r} for: {','.join(sorted(missing[r]))}" for r in sorted(missing)]
    return "must specify " + "; ".join(parts)


def check(
    key: tuple[str, str], obj: Obj, old: Obj | None, quotas: list[Obj]
) -> tuple[str, list[Obj]]:
    """CheckRequest: ('' , quotas with reserved usage) or (error text, [])."""
    pod = obj if key == ("", "pods") else None
    interesting = []
    for q in quotas:
        hard = (q.get("status") or {}).get("hard") or {}
        restricted = matching(key, list(hard))
        if not restricted or not _scopes_match(q, pod):
            continue
        error = constraints_error(key, restricted, obj)
        if error:
            return f"failed quota: {q['metadata']['name']}: {error}", []
        used = (q.get("status") or {}).get("used") or {}
        unknown = [r for r in restricted if r not in used]
        if unknown:
            names = ",".join(sorted(restricted))
            return f"status unknown for quota: {q['metadata']['name']}, resources: {names}", []
        interesting.append(q)
    if not interesting:
        return "", []
    delta = usage_of(key, obj)
    if old is not None:
        before = usage_of(key, old)
        delta = {
            k: Quantity(max(v.nanos - before.get(k, ZERO).nanos, 0), v.fmt)
            for k, v in delta.items()
        }
    delta = {k: v for k, v in delta.items() if v.nanos}
    if not delta:
        return "", []
    reserved = []
    for q in interesting:
        status = q["status"]
        hard = {k: _q(v) for k, v in (status.get("hard") or {}).items()}
        used = {k: _q(v) for k, v in (status.get("used") or {}).items()}
        requested = {k: v for k, v in delta.items() if k in hard}
        new = _add_lists(used, requested)
        exceeded = [k for k in requested if new[k].nanos > hard[k].nanos]
        if exceeded:
            return (
                f"exceeded quota: {q['metadata']['name']}, "
                f"requested: {pretty({k: requested[k] for k in exceeded})}, "
                f"used: {pretty({k: used.get(k, ZERO) for k in exceeded})}, "
                f"limited: {pretty({k: hard[k] for k in exceeded})}"
            ), []
        if requested:
            status["used"] = {k: canonical(new[k]) for k in sorted(new)}
            reserved.append(q)
    return "", reserved


# ---- the quota controller -------------------------------------------------------------------
def compute_status(quota: Obj, objects: Callable[[tuple[str, str]], list[Obj]]) -> Obj:
    """status.hard = spec.hard; status.used summed over the namespace's objects."""
    hard = normalize_list((quota.get("spec") or {}).get("hard") or {})
    used: Usage = {}
    for name in hard:
        used[name] = Quantity(0)
    for key in _keys_for(list(hard)):
        for obj in objects(key):
            if not _scopes_match(quota, obj if key == ("", "pods") else None):
                continue
            for name, value in usage_of(key, obj).items():
                if name in used:
                    used[name] = add(used[name], value)
    return {
        "hard": {k: hard[k] for k in sorted(hard)},
        "used": {k: canonical(used[k]) for k in sorted(used)},
    }


def _keys_for(names: list[str]) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for key in (("", "pods"), ("", "services"), ("", "persistentvolumeclaims"), *LEGACY_ALIASES):
        if matching(key, names):
            keys.append(key)
    for name in names:
        if name.startswith("count/"):
            resource, _, group = name[len("count/") :].partition(".")
            if (group, resource) not in keys:
                keys.append((group, resource))
    return keys


__all__ = ["check", "compute_status", "object_count_name", "pod_usage", "pretty", "usage_of"]
