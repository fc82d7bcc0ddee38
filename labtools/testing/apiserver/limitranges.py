"""LimitRange: its own defaulting, and the LimitRanger admission plugin for pods and PVCs.

`pkg/apis/core/v1/defaults.go` (SetDefaults_LimitRangeItem: default <- max, defaultRequest <-
default <- min) and `plugin/pkg/admission/limitranger/admission.go` (v1.32): container defaults
from `default`/`defaultRequest` with the `kubernetes.io/limit-ranger` annotation, then min, max
and maxLimitRequestRatio checked per Container and per Pod, errors aggregated and answered as
`pods "NAME" is forbidden: ...` (admission.NewForbidden).
"""

from __future__ import annotations

from typing import Any

from .quantity import Quantity, QuantityError, canonical, normalize_list, parse

Obj = dict[str, Any]
ANNOTATION = "kubernetes.io/limit-ranger"


def default_limit_range(obj: Obj) -> None:
    """SetDefaults_LimitRangeItem on every Container item, and canonical quantities."""
    for item in (obj.get("spec") or {}).get("limits") or []:
        for key in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            if key in item:
                item[key] = normalize_list(item[key])
        if item.get("type") != "Container":
            continue
        default = item.setdefault("default", {})
        request = item.setdefault("defaultRequest", {})
        for key, value in (item.get("max") or {}).items():
            default.setdefault(key, value)
        for key, value in default.items():
            request.setdefault(key, value)
        for key, value in (item.get("min") or {}).items():
            request.setdefault(key, value)
        if not default:
            del item["default"]
        if not request:
            del item["defaultRequest"]


def apply_defaults(pod: Obj, ranges: list[Obj]) -> None:
    """The mutating half: fill missing requests/limits from every LimitRange, annotate the pod."""
    for lr in ranges:  # one PodMutateLimitFunc per LimitRange; each sets its own annotation
        limits, requests = _container_defaults(lr)
        notes: list[str] = []
        spec = pod.get("spec") or {}
        for prefix, key in (("container", "containers"), ("init container", "initContainers")):
            for c in spec.get(key) or []:
                notes += _merge(c, limits, requests, prefix)
        if notes:
            pod["metadata"].setdefault("annotations", {})[ANNOTATION] = (
                "LimitRanger plugin set: " + "; ".join(notes)
            )


def _container_defaults(lr: Obj) -> tuple[dict[str, str], dict[str, str]]:
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    for item in (lr.get("spec") or {}).get("limits") or []:
        if item.get("type") == "Container":
            requests.update(item.get("defaultRequest") or {})
            limits.update(item.get("default") or {})
    return limits, requests


def _merge(c: Obj, limits: dict[str, str], requests: dict[str, str], prefix: str) -> list[str]:
    res = c.setdefault("resources", {})
    have_limits = res.setdefault("limits", {})
    have_requests = res.setdefault("requests", {})
    set_limits = [k for k in limits if k not in have_limits]
    set_requests = [k for k in requests if k not in have_requests]
    for k in set_limits:
        have_limits[k] = limits[k]
    for k in set_requests:
        have_requests[k] = requests[k]
    if not have_limits:
        del res["limits"]
    if not have_requests:
        del res["requests"]
    notes = []
    if set_requests:
        notes.append(", ".join(sorted(set_requests)) + f" request for {prefix} {c.get('name')}")
    if set_limits:
        notes.append(", ".join(sorted(set_limits)) + f" limit for {prefix} {c.get('name')}")
    return notes


# ---- validation ------------------------------------------------------------------------
def pod_errors(pod: Obj, ranges: list[Obj]) -> list[str]:
    """PodValidateLimitFunc over every LimitRange of the namespace (one LimitRange at a time)."""
    for lr in ranges:
        errs = _pod_errors_one(pod, lr)
        if errs:
            return errs
    return []


def _pod_errors_one(pod: Obj, lr: Obj) -> list[str]:
    errs: list[str] = []
    spec = pod.get("spec") or {}
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    for item in (lr.get("spec") or {}).get("limits") or []:
        kind = item.get("type")
        if kind == "Container":
            for c in containers:
                res = c.get("resources") or {}
                errs += _check(kind, item, res.get("requests") or {}, res.get("limits") or {})
        elif kind == "Pod":
            requests, limits = _pod_totals(spec)
            errs += _check(kind, item, requests, limits)
    return errs


def pvc_errors(pvc: Obj, ranges: list[Obj]) -> list[str]:
    """PersistentVolumeClaimValidateLimitFunc: min/max of spec.resources.requests.storage."""
    requests = ((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}
    for lr in ranges:
        errs: list[str] = []
        for item in (lr.get("spec") or {}).get("limits") or []:
            if item.get("type") != "PersistentVolumeClaim":
                continue
            for name, value in (item.get("min") or {}).items():
                errs += _min(item["type"], name, value, requests, {})
            for name, value in (item.get("max") or {}).items():
                errs += _max_request(item["type"], name, value, requests)
        if errs:
            return errs
    return []


def _pod_totals(spec: Obj) -> tuple[dict[str, str], dict[str, str]]:
    totals: list[dict[str, Quantity]] = [{}, {}]
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        for i, key in enumerate(("requests", "limits")):
            for name, value in (res.get(key) or {}).items():
                q = _q(value)
                totals[i][name] = totals[i][name] + q if name in totals[i] else q
    for c in spec.get("initContainers") or []:
        res = c.get("resources") or {}
        for i, key in enumerate(("requests", "limits")):
            for name, value in (res.get(key) or {}).items():
                q = _q(value)
                if name not in totals[i] or q.nanos > totals[i][name].nanos:
                    totals[i][name] = q
    return (
        {k: canonical(v) for k, v in totals[0].items()},
        {k: canonical(v) for k, v in totals[1].items()},
    )


def _q(value: Any) -> Quantity:
    try:
        return parse(value)
    except QuantityError:
        return Quantity(0)


def _check(kind: str, item: Obj, requests: dict[str, Any], limits: dict[str, Any]) -> list[str]:
    errs: list[str] = []
    for name, value in (item.get("min") or {}).items():
        errs += _min(kind, name, value, requests, limits)
    for name, value in (item.get("max") or {}).items():
        errs += _max(kind, name, value, requests, limits)
    for name, value in (item.get("maxLimitRequestRatio") or {}).items():
        errs += _ratio(kind, name, value, requests, limits)
    return errs


def _min(kind: str, name: str, value: Any, requests: Obj, limits: Obj) -> list[str]:
    enforced = _q(value)
    if name not in requests:
        return [f"minimum {name} usage per {kind} is {enforced}.  No request is specified"]
    req = _q(requests[name])
    if req.nanos < enforced.nanos:
        return [f"minimum {name} usage per {kind} is {enforced}, but request is {req}"]
    if name in limits and _q(limits[name]).nanos < enforced.nanos:
        return [f"minimum {name} usage per {kind} is {enforced}, but limit is {_q(limits[name])}"]
    return []


def _max(kind: str, name: str, value: Any, requests: Obj, limits: Obj) -> list[str]:
    enforced = _q(value)
    if name not in limits:
        return [f"maximum {name} usage per {kind} is {enforced}.  No limit is specified"]
    lim = _q(limits[name])
    if lim.nanos > enforced.nanos:
        return [f"maximum {name} usage per {kind} is {enforced}, but limit is {lim}"]
    if name in requests and _q(requests[name]).nanos > enforced.nanos:
        return [
            f"maximum {name} usage per {kind} is {enforced}, but request is {_q(requests[name])}"
        ]
    return []


def _max_request(kind: str, name: str, value: Any, requests: Obj) -> list[str]:
    enforced = _q(value)
    if name not in requests:
        return [f"maximum {name} usage per {kind} is {enforced}.  No request is specified"]
    req = _q(requests[name])
    if req.nanos > enforced.nanos:
        return [f"maximum {name} usage per {kind} is {enforced}, but request is {req}"]
    return []


def _ratio(kind: str, name: str, value: Any, requests: Obj, limits: Obj) -> list[str]:
    enforced = _q(value)
    req = _q(requests[name]) if name in requests else None
    lim = _q(limits[name]) if name in limits else None
    if req is None or req.milli() == 0:
        return [
            f"{name} max limit to request ratio per {kind} is {enforced}, but no request is "
            "specified or request is 0"
        ]
    if lim is None or lim.milli() == 0:
        return [
            f"{name} max limit to request ratio per {kind} is {enforced}, but no limit is "
            "specified or limit is 0"
        ]
    ratio = lim.milli() / req.milli()
    if ratio * 1000 > enforced.milli():
        return [
            f"{name} max limit to request ratio per {kind} is {enforced}, but provided ratio "
            f"is {ratio:f}"
        ]
    return []


__all__ = ["ANNOTATION", "apply_defaults", "default_limit_range", "pod_errors", "pvc_errors"]
