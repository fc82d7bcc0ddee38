"""The ReplicaSet controller: create or delete pods until the active ones match the spec."""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING

from . import resources as R
from .ctl_common import owned_by, owner_ref, pod_ready
from .selectors import selector_matches
from .status import ApiError
from .store import Obj, now_rfc3339

if TYPE_CHECKING:
    from .controllers import Controllers

COMPONENT = "replicaset-controller"
# a failed pod creation (quota, limit range) is retried after this many seconds, doubling
RETRY_FIRST, RETRY_MAX = 1.0, 30.0


def sync_replicasets(ctl: Controllers) -> None:
    """One pass over every ReplicaSet not being deleted."""
    for rs in ctl.store.list(R.REPLICASET.key):
        if rs["metadata"].get("deletionTimestamp"):
            continue
        _sync_replicaset(ctl, rs)


def _sync_replicaset(ctl: Controllers, rs: Obj) -> None:
    ns = rs["metadata"]["namespace"]
    uid = rs["metadata"]["uid"]
    pods = [p for p in ctl.store.list(R.POD.key, ns) if owned_by(p, uid)]
    active = [p for p in pods if _active(p)]
    want = int(rs["spec"].get("replicas", 1))
    failure = ""
    if len(active) < want:
        failure = _create_missing(ctl, rs, active, want - len(active))
    elif len(active) > want:
        for pod in _deletion_order(active)[: len(active) - want]:
            ctl.api.delete(R.POD, ns, pod["metadata"]["name"], {})
            ctl.event(
                rs,
                "Normal",
                "SuccessfulDelete",
                f"Deleted pod: {pod['metadata']['name']}",
                COMPONENT,
            )
            active.remove(pod)
    _rs_status(ctl, rs, active, failure)


def _create_missing(ctl: Controllers, rs: Obj, active: list[Obj], count: int) -> str:
    """Create pods until one fails (slowStartBatch stops at the first error); return its text."""
    key = f"rs-create-retry:{rs['metadata']['uid']}"
    waits: dict[str, float] = ctl.__dict__.setdefault("rs_create_backoff", {})
    due = ctl.timers.get(key)
    if due is not None and time.monotonic() < due:
        return _failure_message(rs)
    for _ in range(count):
        try:
            active.append(_create_pod(ctl, rs))
        except ApiError as err:
            # replica_set.go manageReplicas: an event per failure, a ReplicaFailure condition,
            # and the pod creation retried with back-off
            ctl.event(rs, "Warning", "FailedCreate", f"Error creating: {err.message}", COMPONENT)
            wait = min(2 * waits.get(key, RETRY_FIRST / 2), RETRY_MAX)
            waits[key] = wait
            ctl.timers[key] = time.monotonic() + wait
            return err.message
    ctl.timers.pop(key, None)
    waits.pop(key, None)
    return ""


def _failure_message(rs: Obj) -> str:
    for cond in (rs.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "ReplicaFailure":
            return str(cond.get("message", ""))
    return ""


def _create_pod(ctl: Controllers, rs: Obj) -> Obj:
    tpl = copy.deepcopy(rs["spec"]["template"])
    meta = tpl.get("metadata") or {}
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": rs["metadata"]["name"] + "-",
            "namespace": rs["metadata"]["namespace"],
            "labels": meta.get("labels") or {},
            "ownerReferences": [owner_ref(rs)],
        },
        "spec": tpl.get("spec") or {},
    }
    if meta.get("annotations"):
        pod["metadata"]["annotations"] = meta["annotations"]
    created = ctl.api.create(
        R.POD, rs["metadata"]["namespace"], pod, internal=True, opts=ctl.api.controller_opts()
    )
    ctl.event(
        rs,
        "Normal",
        "SuccessfulCreate",
        f"Created pod: {created['metadata']['name']}",
        COMPONENT,
    )
    return created


def _rs_status(ctl: Controllers, rs: Obj, active: list[Obj], failure: str = "") -> None:
    cur = ctl.store.get(R.REPLICASET.key, rs["metadata"]["namespace"], rs["metadata"]["name"])
    if cur is None:
        return
    ready = sum(1 for p in active if pod_ready(p))
    labeled = sum(
        1
        for p in active
        if selector_matches(cur["spec"].get("selector"), p["metadata"].get("labels") or {})
    )
    status: Obj = {"replicas": len(active)}
    for k, v in (
        ("fullyLabeledReplicas", labeled),
        ("readyReplicas", ready),
        ("availableReplicas", ready),
    ):
        if v:
            status[k] = v
    status["observedGeneration"] = cur["metadata"].get("generation", 1)
    conditions = _failure_conditions(cur, failure)
    if conditions:
        status["conditions"] = conditions
    if cur.get("status") != status:
        cur["status"] = status
        ctl.put(R.REPLICASET, cur)


def _failure_conditions(rs: Obj, failure: str) -> list[Obj]:
    """The ReplicaFailure condition (reason FailedCreate) while pod creation fails."""
    if not failure:
        return []
    for cond in (rs.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "ReplicaFailure" and cond.get("message") == failure:
            return [cond]
    return [
        {
            "type": "ReplicaFailure",
            "status": "True",
            "lastTransitionTime": now_rfc3339(),
            "reason": "FailedCreate",
            "message": failure,
        }
    ]


def _active(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get(
        "phase"
    ) not in ("Succeeded", "Failed")


def _deletion_order(pods: list[Obj]) -> list[Obj]:
    def rank(p: Obj) -> tuple[int, int, int, str]:
        phase = (p.get("status") or {}).get("phase")
        return (
            1 if p["spec"].get("nodeName") else 0,
            1 if phase == "Running" else 0,
            1 if pod_ready(p) else 0,
            _neg(p["metadata"]["creationTimestamp"]),
        )

    return sorted(pods, key=rank)


def _neg(ts: str) -> str:
    return "".join(chr(0x10FFFF - ord(ch)) for ch in ts)
