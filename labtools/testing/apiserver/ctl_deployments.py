"""The Deployment controller: one ReplicaSet per template, rolled by the Deployment's strategy."""

from __future__ import annotations

import copy
import json
import math
from typing import TYPE_CHECKING, Any

from . import resources as R
from .api import LAST_APPLIED
from .ctl_common import owned_by, owner_ref
from .store import Obj, now_rfc3339

if TYPE_CHECKING:
    from .controllers import Controllers

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
SKIP_ANNOTATIONS = {REVISION, REVISION_HISTORY, DESIRED, MAX_REPLICAS, LAST_APPLIED}
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
COMPONENT = "deployment-controller"


def compute_hash(template: Obj, collision_count: int = 0) -> str:
    """`controller.ComputeHash`: fnv32a of the template, SafeEncodeString of its decimal."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return "".join(ALPHANUMS[ord(ch) % len(ALPHANUMS)] for ch in str(h))


def sync_deployments(ctl: Controllers) -> None:
    """One pass over every Deployment not being deleted."""
    for dep in ctl.store.list(R.DEPLOYMENT.key):
        if dep["metadata"].get("deletionTimestamp"):
            continue
        _sync_deployment(ctl, dep)


def _owned_rs(ctl: Controllers, dep: Obj) -> list[Obj]:
    ns = dep["metadata"]["namespace"]
    return [
        rs for rs in ctl.store.list(R.REPLICASET.key, ns) if owned_by(rs, dep["metadata"]["uid"])
    ]


def _sync_deployment(ctl: Controllers, dep: Obj) -> None:
    rses = _owned_rs(ctl, dep)
    key = _template_key(dep["spec"]["template"])
    new_rs = next((rs for rs in rses if _template_key(rs["spec"]["template"]) == key), None)
    olds = [rs for rs in rses if rs is not new_rs]
    max_rev = max(
        [int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in olds] + [0]
    )
    desired = int(dep["spec"].get("replicas", 1))
    surge, unavailable = _surge(dep, desired)
    paused = bool(dep["spec"].get("paused"))
    _paused_condition(ctl, dep, paused)
    if new_rs is None and paused:
        # sync.go sync(): a paused Deployment gets no new ReplicaSet (createIfNotExisted is
        # false); only a replica count change scales the one active ReplicaSet
        active = [rs for rs in olds if int(rs["spec"].get("replicas", 0)) > 0]
        if len(active) == 1:
            _scale_rs(ctl, dep, active[0], desired)
        _deployment_status(ctl, dep, None, desired, unavailable)
        return
    if new_rs is None:
        new_rs = _create_rs(ctl, dep, max_rev + 1, olds, desired, surge)
    else:
        new_rs = _sync_rs_meta(ctl, dep, new_rs, max_rev, desired, surge)
    if not dep["spec"].get("paused"):
        if dep["spec"].get("strategy", {}).get("type") == "Recreate":
            _recreate(ctl, dep, new_rs, olds, desired)
        else:
            _rolling(ctl, dep, new_rs, olds, desired, surge, unavailable)
    _cleanup_history(ctl, dep, olds)
    _deployment_status(ctl, dep, new_rs, desired, unavailable)


def _paused_condition(ctl: Controllers, dep: Obj, paused: bool) -> None:
    """progress.go checkPausedConditions: Progressing Unknown while paused, then resumed."""
    status = dep.get("status") or {}
    cond = next((c for c in status.get("conditions") or [] if c["type"] == "Progressing"), None)
    if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
        return
    was_paused = cond is not None and cond.get("reason") == "DeploymentPaused"
    if paused and not was_paused:
        _set_progressing_as(ctl, dep, "Unknown", "DeploymentPaused", "Deployment is paused")
    elif not paused and was_paused:
        _set_progressing_as(ctl, dep, "Unknown", "DeploymentResumed", "Deployment is resumed")


def _surge(dep: Obj, desired: int) -> tuple[int, int]:
    strategy = dep["spec"].get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, 0
    ru = strategy.get("rollingUpdate") or {}
    surge = _intstr(ru.get("maxSurge", "25%"), desired, True)
    unavailable = _intstr(ru.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _create_rs(
    ctl: Controllers, dep: Obj, revision: int, olds: list[Obj], desired: int, surge: int
) -> Obj:
    tpl = copy.deepcopy(dep["spec"]["template"])
    h = compute_hash(tpl, int(dep.get("status", {}).get("collisionCount", 0)))
    tpl.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
    replicas = _first_replicas(dep, olds, desired, surge)
    name = f"{dep['metadata']['name']}-{h}"
    rs = _rs_body(dep, name, tpl, h, replicas)
    rs["metadata"]["annotations"].update(
        {DESIRED: str(desired), MAX_REPLICAS: str(desired + surge), REVISION: str(revision)}
    )
    created = ctl.api.create(
        R.REPLICASET,
        dep["metadata"]["namespace"],
        rs,
        internal=True,
        opts=ctl.api.controller_opts(),
    )
    _set_progressing(ctl, dep, "NewReplicaSetCreated", f'Created new replica set "{name}"')
    if replicas > 0:
        ctl.event(
            dep,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled up replica set {name} from 0 to {replicas}",
            COMPONENT,
        )
    return created


def _first_replicas(dep: Obj, olds: list[Obj], desired: int, surge: int) -> int:
    """The size a new ReplicaSet starts at: all of it, or what the surge leaves room for."""
    old_total = sum(int(rs["spec"].get("replicas", 0)) for rs in olds)
    if dep["spec"].get("strategy", {}).get("type") == "Recreate" or old_total == 0:
        return desired if old_total == 0 else 0
    return max(min(desired + surge - old_total, desired), 0)


def _rs_body(dep: Obj, name: str, tpl: Obj, pod_hash: str, replicas: int) -> Obj:
    selector = copy.deepcopy(dep["spec"]["selector"])
    selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
    rs: Obj = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": dep["metadata"]["namespace"],
            "labels": dict(tpl["metadata"]["labels"]),
            "annotations": _copied_annotations(dep),
            "ownerReferences": [owner_ref(dep)],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": tpl},
    }
    if dep["spec"].get("minReadySeconds"):
        rs["spec"]["minReadySeconds"] = dep["spec"]["minReadySeconds"]
    return rs


def _set_progressing(ctl: Controllers, dep: Obj, reason: str, message: str) -> None:
    _set_progressing_as(ctl, dep, "True", reason, message)


def _set_progressing_as(
    ctl: Controllers, dep: Obj, cstatus: str, reason: str, message: str
) -> None:
    cur = ctl.store.get(R.DEPLOYMENT.key, dep["metadata"]["namespace"], dep["metadata"]["name"])
    if cur is None:
        return
    _set_condition(cur.setdefault("status", {}), "Progressing", cstatus, reason, message)
    dep["status"] = cur["status"]
    ctl.put(R.DEPLOYMENT, cur)
    dep["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]


def _copied_annotations(dep: Obj) -> dict[str, str]:
    return {
        k: v
        for k, v in (dep["metadata"].get("annotations") or {}).items()
        if k not in SKIP_ANNOTATIONS
    }


def _sync_rs_meta(
    ctl: Controllers, dep: Obj, rs: Obj, max_rev: int, desired: int, surge: int
) -> Obj:
    ann = rs["metadata"].setdefault("annotations", {})
    before = dict(ann)
    cur_rev = int(ann.get(REVISION, "0"))
    if cur_rev <= max_rev:
        history = [h for h in ann.get(REVISION_HISTORY, "").split(",") if h]
        if cur_rev:
            history.append(str(cur_rev))
        ann[REVISION_HISTORY] = ",".join(history)
        ann[REVISION] = str(max_rev + 1)
    ann.update(_copied_annotations(dep))
    ann[DESIRED] = str(desired)
    ann[MAX_REPLICAS] = str(desired + surge)
    if ann != before:
        return ctl.put(R.REPLICASET, rs)
    return rs


def _scale_rs(ctl: Controllers, dep: Obj, rs: Obj, replicas: int) -> Obj:
    old = int(rs["spec"].get("replicas", 0))
    if old == replicas:
        return rs
    rs["spec"]["replicas"] = replicas
    out = ctl.put(R.REPLICASET, rs)
    verb = "up" if replicas > old else "down"
    ctl.event(
        dep,
        "Normal",
        "ScalingReplicaSet",
        f"Scaled {verb} replica set {rs['metadata']['name']} from {old} to {replicas}",
        COMPONENT,
    )
    return out


def _rolling(
    ctl: Controllers,
    dep: Obj,
    new_rs: Obj,
    olds: list[Obj],
    desired: int,
    surge: int,
    unavailable: int,
) -> None:
    active_olds = [rs for rs in olds if int(rs["spec"].get("replicas", 0)) > 0]
    new_count = int(new_rs["spec"].get("replicas", 0))
    if not active_olds:
        _scale_rs(ctl, dep, new_rs, desired)
        return
    total = new_count + sum(int(rs["spec"]["replicas"]) for rs in active_olds)
    if new_count < desired:
        up = min(desired + surge - total, desired - new_count)
        if up > 0:
            new_rs = _scale_rs(ctl, dep, new_rs, new_count + up)
    elif new_count > desired:
        new_rs = _scale_rs(ctl, dep, new_rs, desired)
    _scale_down_olds(ctl, dep, new_rs, active_olds, desired, unavailable)


def _scale_down_olds(
    ctl: Controllers, dep: Obj, new_rs: Obj, olds: list[Obj], desired: int, unavailable: int
) -> None:
    new_spec = int(new_rs["spec"].get("replicas", 0))
    new_avail = int((new_rs.get("status") or {}).get("availableReplicas", 0))
    all_pods = new_spec + sum(int(rs["spec"]["replicas"]) for rs in olds)
    min_available = desired - unavailable
    budget = all_pods - min_available - (new_spec - new_avail)
    if budget <= 0:
        return
    # unhealthy old replicas go first (cleanupUnhealthyReplicas)
    for rs in sorted(olds, key=lambda r: r["metadata"]["creationTimestamp"]):
        spec = int(rs["spec"]["replicas"])
        unhealthy = spec - int((rs.get("status") or {}).get("availableReplicas", 0))
        cut = min(budget, unhealthy, spec)
        if cut > 0:
            rs = _scale_rs(ctl, dep, rs, spec - cut)
            budget -= cut
    available = new_avail + sum(
        int((rs.get("status") or {}).get("availableReplicas", 0))
        for rs in _owned_rs(ctl, dep)
        if rs is not new_rs and rs["metadata"]["uid"] != new_rs["metadata"]["uid"]
    )
    can_remove = available - min_available
    for rs in sorted(_owned_rs(ctl, dep), key=lambda r: r["metadata"]["creationTimestamp"]):
        if rs["metadata"]["uid"] == new_rs["metadata"]["uid"] or can_remove <= 0:
            continue
        spec = int(rs["spec"].get("replicas", 0))
        cut = min(spec, can_remove)
        if cut > 0:
            _scale_rs(ctl, dep, rs, spec - cut)
            can_remove -= cut


def _recreate(ctl: Controllers, dep: Obj, new_rs: Obj, olds: list[Obj], desired: int) -> None:
    for rs in olds:
        if int(rs["spec"].get("replicas", 0)):
            _scale_rs(ctl, dep, rs, 0)
    ns = dep["metadata"]["namespace"]
    old_uids = {rs["metadata"]["uid"] for rs in olds}
    running_old = [
        p
        for p in ctl.store.list(R.POD.key, ns)
        if any(r.get("uid") in old_uids for r in p["metadata"].get("ownerReferences") or [])
    ]
    if not running_old:
        _scale_rs(ctl, dep, new_rs, desired)


def _cleanup_history(ctl: Controllers, dep: Obj, olds: list[Obj]) -> None:
    limit = int(dep["spec"].get("revisionHistoryLimit", 10))
    idle = [
        rs
        for rs in olds
        if not int(rs["spec"].get("replicas", 0))
        and not int((rs.get("status") or {}).get("replicas", 0))
    ]
    idle.sort(key=lambda r: int(r["metadata"].get("annotations", {}).get(REVISION, "0")))
    for rs in idle[: max(len(idle) - limit, 0)]:
        ctl.api.delete(
            R.REPLICASET,
            rs["metadata"]["namespace"],
            rs["metadata"]["name"],
            {"propagationPolicy": "Background"},
        )


def _deployment_status(
    ctl: Controllers, dep: Obj, new_rs: Obj | None, desired: int, unavailable: int
) -> None:
    cur = ctl.store.get(R.DEPLOYMENT.key, dep["metadata"]["namespace"], dep["metadata"]["name"])
    if cur is None:
        return
    rses = _owned_rs(ctl, cur)
    if new_rs is not None:
        uid = new_rs["metadata"]["uid"]
        new_rs = next((r for r in rses if r["metadata"]["uid"] == uid), new_rs)
    status = cur.setdefault("status", {})
    before = copy.deepcopy(status)
    counts = _status_counts(cur, rses, new_rs, desired)
    for k, v in counts.items():
        if v or k == "observedGeneration":
            status[k] = v
        else:
            status.pop(k, None)
    _set_available(status, counts["availableReplicas"] >= desired - unavailable)
    if new_rs is not None and not cur["spec"].get("paused"):
        # a paused Deployment's status sync (syncDeploymentStatus) leaves Progressing alone
        _set_progress(status, before, counts, new_rs, desired)
    _copy_replica_failure(status, new_rs or {}, rses)
    ann = cur["metadata"].setdefault("annotations", {})
    rev = ((new_rs or {}).get("metadata", {}).get("annotations") or {}).get(REVISION)
    if status != before or (rev and ann.get(REVISION) != rev):
        if rev:
            ann[REVISION] = rev
        ctl.put(R.DEPLOYMENT, cur)


def _status_counts(dep: Obj, rses: list[Obj], new_rs: Obj | None, desired: int) -> dict[str, int]:
    """The replica counts of a Deployment's status, summed over its ReplicaSets."""
    st = [r.get("status") or {} for r in rses]
    counts = {
        "observedGeneration": dep["metadata"].get("generation", 1),
        "replicas": sum(int(s.get("replicas", 0)) for s in st),
        "updatedReplicas": int(((new_rs or {}).get("status") or {}).get("replicas", 0)),
        "readyReplicas": sum(int(s.get("readyReplicas", 0)) for s in st),
        "availableReplicas": sum(int(s.get("availableReplicas", 0)) for s in st),
    }
    counts["unavailableReplicas"] = (
        max(desired - counts["availableReplicas"], 0) if counts["replicas"] or desired else 0
    )
    return counts


def _set_available(status: Obj, available: bool) -> None:
    if available:
        _set_condition(
            status,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    else:
        _set_condition(
            status,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )


def _set_progress(
    status: Obj, before: Obj, counts: dict[str, int], new_rs: Obj, desired: int
) -> None:
    name = new_rs["metadata"]["name"]
    complete = (
        counts["updatedReplicas"] == desired
        and counts["replicas"] == desired
        and counts["availableReplicas"] == desired
        and int(new_rs["spec"].get("replicas", 0)) == desired
    )
    if complete:
        _set_condition(
            status,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{name}" has successfully progressed.',
        )
    elif _progress_changed(before, counts):
        _set_condition(
            status,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            f'ReplicaSet "{name}" is progressing.',
        )


def _copy_replica_failure(status: Obj, new_rs: Obj, rses: list[Obj]) -> None:
    """progress.go getReplicaFailures: the new ReplicaSet's failure first, else an old one's."""
    found = None
    for rs in [new_rs, *rses]:
        for cond in (rs.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "ReplicaFailure":
                found = found or cond
    conds: list[Obj] = status.get("conditions") or []
    if found is None:
        if any(c["type"] == "ReplicaFailure" for c in conds):
            status["conditions"] = [c for c in conds if c["type"] != "ReplicaFailure"]
        return
    cur = next((c for c in conds if c["type"] == "ReplicaFailure"), None)
    if cur and cur["status"] == found["status"] and cur["reason"] == found["reason"]:
        return
    new = {
        "type": "ReplicaFailure",
        "status": found["status"],
        "lastUpdateTime": found["lastTransitionTime"],
        "lastTransitionTime": found["lastTransitionTime"],
        "reason": found["reason"],
        "message": found["message"],
    }
    status["conditions"] = [c for c in conds if c["type"] != "ReplicaFailure"] + [new]


def _intstr(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        frac = total * int(value[:-1]) / 100
        return math.ceil(frac) if round_up else math.floor(frac)
    return int(value or 0)


def _template_key(tpl: Obj) -> str:
    tpl = copy.deepcopy(tpl)
    (tpl.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return json.dumps(tpl, sort_keys=True)


def _set_condition(status: Obj, ctype: str, cstatus: str, reason: str, message: str) -> None:
    conds: list[Obj] = status.setdefault("conditions", [])
    now = now_rfc3339()
    cur = next((c for c in conds if c["type"] == ctype), None)
    if cur and cur["status"] == cstatus and cur["reason"] == reason:
        if cur.get("message") != message:
            cur["message"] = message
        return
    new = {
        "type": ctype,
        "status": cstatus,
        "lastUpdateTime": now,
        "lastTransitionTime": cur["lastTransitionTime"]
        if cur and cur["status"] == cstatus
        else now,
        "reason": reason,
        "message": message,
    }
    status["conditions"] = [c for c in conds if c["type"] != ctype] + [new]


def _progress_changed(before: Obj, counts: dict[str, int]) -> bool:
    return any(
        int(before.get(k, 0)) != v for k, v in counts.items() if k != "observedGeneration"
    ) or not before.get("conditions")
