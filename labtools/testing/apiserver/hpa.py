"""HorizontalPodAutoscaler versions: stored as autoscaling/v2, served as v1 on request."""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]

# the defaults of autoscaling/v2 (pkg/apis/autoscaling/v2/defaults.go)
DEFAULT_CPU = 80
SCALE_UP = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
SCALE_DOWN = {
    "stabilizationWindowSeconds": 300,
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def _cpu_metric(percent: int) -> Obj:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": percent},
        },
    }


def default_hpa(obj: Obj) -> None:
    """Fill minReplicas, the default CPU metric and the scaling behavior of a v2 object."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [_cpu_metric(DEFAULT_CPU)]
    behavior = spec.setdefault("behavior", {})
    for key, default in (("scaleUp", SCALE_UP), ("scaleDown", SCALE_DOWN)):
        rules = behavior.setdefault(key, {})
        for field, value in default.items():
            rules.setdefault(field, copy.deepcopy(value))
    obj.setdefault("status", {}).setdefault("desiredReplicas", 0)


def from_v1(obj: Obj) -> Obj:
    """An autoscaling/v1 body as the v2 object the server stores."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v2"
    spec = out.setdefault("spec", {})
    percent = spec.pop("targetCPUUtilizationPercentage", None)
    if percent is not None:
        spec["metrics"] = [_cpu_metric(int(percent))]
    status = out.get("status") or {}
    current = status.pop("currentCPUUtilizationPercentage", None)
    if current is not None:
        status["currentMetrics"] = [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "current": {"averageUtilization": current}},
            }
        ]
    return out


def to_v1(obj: Obj) -> Obj:
    """A stored v2 object as autoscaling/v1 shows it (CPU target only)."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v1"
    spec = out.get("spec") or {}
    spec.pop("behavior", None)
    for metric in spec.pop("metrics", None) or []:
        res = metric.get("resource") or {}
        target = res.get("target") or {}
        if res.get("name") == "cpu" and target.get("averageUtilization") is not None:
            spec["targetCPUUtilizationPercentage"] = target["averageUtilization"]
    status = out.get("status") or {}
    status.pop("conditions", None)
    for metric in status.pop("currentMetrics", None) or []:
        current = (metric.get("resource") or {}).get("current") or {}
        if current.get("averageUtilization") is not None:
            status["currentCPUUtilizationPercentage"] = current["averageUtilization"]
    return out
