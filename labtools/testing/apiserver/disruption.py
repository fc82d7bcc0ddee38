"""PodDisruptionBudgets: the disruption controller's status and the eviction subresource.

After `pkg/controller/disruption/disruption.go` (expectedPods, currentHealthy, desiredHealthy,
disruptionsAllowed, the `DisruptionAllowed` condition with `SufficientPods` or
`InsufficientPods`) and `pkg/registry/core/pod/storage/eviction.go` (one budget per pod, a 429
`Cannot evict pod as it would violate the pod's disruption budget.` with a `DisruptionBudget`
cause, `disruptedPods` recorded on an allowed eviction, terminal pods evicted freely).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from . import resources as R
from .selectors import selector_matches
from .status import ApiError
from .store import Obj, copy_of, now_rfc3339

if TYPE_CHECKING:
    from .api import Api
    from .controllers import Controllers

PDBS = ("policy", "poddisruptionbudgets")


def _budgets_of(api_or_store: Any, pod: Obj) -> list[Obj]:
    ns = pod["metadata"].get("namespace", "")
    labels = pod["metadata"].get("labels") or {}
    return [
        pdb
        for pdb in api_or_store.list(PDBS, ns)
        if (pdb.get("spec") or {}).get("selector") is not None
        and selector_matches(pdb["spec"]["selector"], labels)
    ]


def _ready(pod: Obj) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _desired(spec: Obj, expected: int) -> int:
    def scaled(value: Any, up: bool) -> int:
        if isinstance(value, str) and value.endswith("%"):
            share = expected * int(value[:-1]) / 100
            return math.ceil(share) if up else math.floor(share)
        return int(value)

    if spec.get("minAvailable") is not None:
        return scaled(spec["minAvailable"], up=True)
    if spec.get("maxUnavailable") is not None:
        return max(0, expected - scaled(spec["maxUnavailable"], up=True))
    return expected


def sync_disruption(ctl: Controllers) -> None:
    """One pass: every budget's status from the pods it selects."""
    for pdb in ctl.store.list(PDBS):
        spec = pdb.get("spec") or {}
        ns = pdb["metadata"].get("namespace", "")
        selector = spec.get("selector")
        pods = [
            p
            for p in ctl.store.list(R.POD.key, ns)
            if selector is not None
            and selector_matches(selector, p["metadata"].get("labels") or {})
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        expected = len(pods)
        healthy = sum(1 for p in pods if _ready(p))
        desired = _desired(spec, expected)
        status = pdb.get("status") or {}
        disrupted = {
            name: when
            for name, when in (status.get("disruptedPods") or {}).items()
            if any(p["metadata"]["name"] == name and _ready(p) for p in pods)
        }
        allowed = max(0, healthy - desired - len(disrupted))
        reason = "SufficientPods" if allowed > 0 else "InsufficientPods"
        new_status: Obj = {
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "disruptionsAllowed": allowed,
            "expectedPods": expected,
            "observedGeneration": pdb["metadata"].get("generation", 1),
        }
        if disrupted:
            new_status["disruptedPods"] = disrupted
        old_cond: Obj = next(iter(status.get("conditions") or []), {})
        cond = {
            "type": "DisruptionAllowed",
            "status": "True" if allowed > 0 else "False",
            "reason": reason,
            "message": "",
            "observedGeneration": new_status["observedGeneration"],
            "lastTransitionTime": old_cond.get("lastTransitionTime", now_rfc3339())
            if old_cond.get("reason") == reason
            else now_rfc3339(),
        }
        new_status["conditions"] = [cond]
        if new_status != status:
            pdb = copy_of(pdb)
            pdb["status"] = new_status
            ctl.put(R.preferred(*PDBS), pdb)


def evict(api: Api, res: R.Resource, ns: str, name: str, body: Obj) -> None:
    """POST pods/NAME/eviction: delete the pod unless its budget allows no disruption."""
    with api.lock:
        pod = api.get(res, ns, name)
        terminal = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        budgets = [] if terminal else _budgets_of(api.store, pod)
        if len(budgets) > 1:
            raise ApiError(
                500,
                "InternalError",
                "This pod has more than one PodDisruptionBudget, which the eviction "
                "subresource does not support.",
                {},
            )
        if budgets and _ready(pod):
            pdb = budgets[0]
            status = pdb.get("status") or {}
            if int(status.get("disruptionsAllowed", 0)) <= 0:
                desired, healthy = status.get("desiredHealthy", 0), status.get("currentHealthy", 0)
                cause = (
                    f"The disruption budget {pdb['metadata']['name']} needs {desired} healthy "
                    f"pods and has {healthy} currently"
                )
                raise ApiError(
                    429,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    {"causes": [{"reason": "DisruptionBudget", "message": cause}]},
                )
            pdb = copy_of(pdb)
            status = pdb.setdefault("status", {})
            status["disruptionsAllowed"] = int(status.get("disruptionsAllowed", 0)) - 1
            status.setdefault("disruptedPods", {})[name] = now_rfc3339()
            api.store.put(PDBS, pdb)
        api.delete(res, ns, name, body.get("deleteOptions") or {})
