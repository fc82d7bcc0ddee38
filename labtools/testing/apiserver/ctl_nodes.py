"""The node lifecycle: the node goes NotReady (an injected ``node-not-ready`` fault) and back.

While the fault lasts the kubelet is gone: it posts no node or pod status, starts nothing and
finishes no termination (pods stay ``Terminating``). What the control plane does then follows
``pkg/controller/nodelifecycle/node_lifecycle_controller.go``: every condition becomes
``Unknown`` with reason ``NodeStatusUnknown`` and message ``Kubelet stopped posting node
status.``; the node gets the taints ``node.kubernetes.io/unreachable`` ``NoSchedule`` and
``NoExecute``; the pods on it turn not Ready (``MarkPodsNotReady`` in
``pkg/controller/util/node/controller_utils.go``, event ``NodeNotReady`` "Node is not ready");
the taint eviction controller deletes the pods whose toleration of the ``NoExecute`` taint runs
out (300 s by default, the DefaultTolerationSeconds admission); the scheduler leaves new pods
``Pending``. The fault takes effect at once (a real node controller waits out
``--node-monitor-grace-period``, 50 s); when it ends the kubelet posts ``Ready`` again.
"""

from __future__ import annotations

import fnmatch
import time
from typing import TYPE_CHECKING, Any

from . import resources as R
from .store import Obj, copy_of, now_rfc3339

if TYPE_CHECKING:
    from .controllers import Controllers

UNREACHABLE = "node.kubernetes.io/unreachable"
STOPPED = "Kubelet stopped posting node status."
# what the kubelet posts for each condition when it is healthy (bootstrap.node_object)
HEALTHY = {
    "MemoryPressure": (
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
}


def node_down(ctl: Controllers) -> bool:
    """True while the kubelet of this node is gone (a ``node-not-ready`` fault is in force)."""
    return any(
        fnmatch.fnmatchcase(ctl.node, f.spec.get("node", "*"))
        for f in ctl.faults.pod_faults("node-not-ready")
    )


def sync_nodes(ctl: Controllers) -> None:
    """One pass: take the node down or bring it back; evict pods whose toleration ran out."""
    node = ctl.store.get(R.NODE.key, "", ctl.node)
    if node is None:
        return
    _sync_unschedulable_taint(ctl, node)
    node = ctl.store.get(R.NODE.key, "", ctl.node) or node
    down = node_down(ctl)
    tainted = any(t.get("key") == UNREACHABLE for t in node["spec"].get("taints") or [])
    if down and not tainted:
        _go_down(ctl, node)
    elif not down and tainted:
        _come_back(ctl, node)
    if down:
        _evict(ctl, node)


UNSCHEDULABLE = "node.kubernetes.io/unschedulable"


def _sync_unschedulable_taint(ctl: Controllers, node: Obj) -> None:
    """The node lifecycle controller's taint for a cordoned node (TaintNodesByCondition)."""
    cordoned = bool(node["spec"].get("unschedulable"))
    taints = node["spec"].get("taints") or []
    has = any(t.get("key") == UNSCHEDULABLE for t in taints)
    if cordoned == has:
        return
    node = copy_of(node)
    if cordoned:
        taint = {"key": UNSCHEDULABLE, "effect": "NoSchedule", "timeAdded": now_rfc3339()}
        node["spec"]["taints"] = [*taints, taint]
    else:
        rest = [t for t in taints if t.get("key") != UNSCHEDULABLE]
        if rest:
            node["spec"]["taints"] = rest
        else:
            node["spec"].pop("taints", None)
    ctl.put(R.NODE, node)


def cordoned_message(pod: Obj, node: Obj) -> str | None:
    """The NodeUnschedulable filter's text when the pod does not tolerate the cordon."""
    if not node["spec"].get("unschedulable"):
        return None
    taint = {"key": UNSCHEDULABLE, "effect": "NoSchedule"}
    if tolerates(pod["spec"].get("tolerations"), taint) is not None:
        return None
    return (
        "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are "
        "available: 1 Preemption is not helpful for scheduling."
    )


def _go_down(ctl: Controllers, node: Obj) -> None:
    now = now_rfc3339()
    for cond in node["status"].get("conditions") or []:
        cond.update(status="Unknown", reason="NodeStatusUnknown", message=STOPPED)
        cond["lastTransitionTime"] = now
    taints = [t for t in node["spec"].get("taints") or [] if t.get("key") != UNREACHABLE]
    taints += [
        {"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": now},
        {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now},
    ]
    node["spec"]["taints"] = taints
    node = ctl.put(R.NODE, node)
    ctl.node_down_since = time.monotonic()
    message = f"Node {ctl.node} status is now: NodeNotReady"
    ctl.event(node, "Normal", "NodeNotReady", message, "node-controller")
    for pod in _pods_on(ctl):
        _set_ready(pod, "False")
        pod = ctl.put(R.POD, pod)
        ctl.event(pod, "Warning", "NodeNotReady", "Node is not ready", "node-controller")


def _come_back(ctl: Controllers, node: Obj) -> None:
    now = now_rfc3339()
    for cond in node["status"].get("conditions") or []:
        status, reason, message = HEALTHY.get(cond["type"], ("False", "", ""))
        cond.update(status=status, reason=reason, message=message)
        cond["lastHeartbeatTime"] = cond["lastTransitionTime"] = now
    taints = [t for t in node["spec"].get("taints") or [] if t.get("key") != UNREACHABLE]
    if taints:
        node["spec"]["taints"] = taints
    else:
        node["spec"].pop("taints", None)
    node = ctl.put(R.NODE, node)
    ctl.node_down_since = None
    ctl.event(node, "Normal", "NodeReady", f"Node {ctl.node} status is now: NodeReady", "kubelet")
    for pod in _pods_on(ctl):
        running = all(
            "running" in (cs.get("state") or {})
            for cs in (pod.get("status") or {}).get("containerStatuses") or []
        )
        if running and (pod.get("status") or {}).get("phase") == "Running":
            _set_ready(pod, "True")
            ctl.put(R.POD, pod)


def _pods_on(ctl: Controllers) -> list[Obj]:
    return [
        p
        for p in ctl.store.list(R.POD.key)
        if p["spec"].get("nodeName") == ctl.node and p["metadata"]["namespace"] != "kube-system"
    ]


def _set_ready(pod: Obj, status: str) -> None:
    now = now_rfc3339()
    for cond in (pod.get("status") or {}).get("conditions") or []:
        wanted = cond["type"] == "Ready" or (status == "True" and cond["type"] == "ContainersReady")
        if wanted and cond.get("status") != status:
            cond.update(status=status, lastTransitionTime=now)
            if status == "True":
                cond.pop("reason", None)
                cond.pop("message", None)
    if status == "True":
        for cs in pod["status"].get("containerStatuses") or []:
            cs["ready"] = True


def tolerates(tolerations: list[Any], taint: Obj) -> dict[str, Any] | None:
    """The toleration of ``tolerations`` that tolerates ``taint`` (v1 helper rules), or None."""
    for tol in tolerations or []:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("key") and tol["key"] != taint.get("key"):
            continue
        if not tol.get("key") and tol.get("operator") != "Exists":
            continue
        operator = tol.get("operator") or "Equal"
        if operator == "Exists" or tol.get("value", "") == taint.get("value", ""):
            return dict(tol)
    return None


def untolerated(
    pod: Obj, node: Obj, effects: tuple[str, ...] = ("NoSchedule", "NoExecute")
) -> Obj | None:
    """The first taint of ``node`` with one of ``effects`` that ``pod`` does not tolerate."""
    for taint in node["spec"].get("taints") or []:
        if (
            taint.get("effect") in effects
            and tolerates(pod["spec"].get("tolerations"), taint) is None
        ):
            return dict(taint)
    return None


def unschedulable_message(taint: Obj) -> str:
    """The scheduler's FailedScheduling text for one node with a taint the pod does not tolerate."""
    shown = f"{{{taint.get('key', '')}: {taint.get('value', '')}}}"
    return (
        f"0/1 nodes are available: 1 node(s) had untolerated taint {shown}. preemption: 0/1 "
        "nodes are available: 1 Preemption is not helpful for scheduling."
    )


def _evict(ctl: Controllers, node: Obj) -> None:
    """The taint eviction controller: delete pods whose NoExecute toleration ran out."""
    since = ctl.node_down_since
    if since is None:
        return
    elapsed = time.monotonic() - since
    taint = next(
        (t for t in node["spec"].get("taints") or [] if t.get("effect") == "NoExecute"), None
    )
    if taint is None:
        return
    for pod in _pods_on(ctl):
        if pod["metadata"].get("deletionTimestamp"):
            continue
        tol = tolerates(pod["spec"].get("tolerations"), taint)
        seconds = None if tol is None else tol.get("tolerationSeconds")
        if tol is not None and (seconds is None or elapsed < float(seconds)):
            continue
        meta = pod["metadata"]
        message = f"Marking for deletion Pod {meta['namespace']}/{meta['name']}"
        ctl.event(pod, "Normal", "TaintManagerEviction", message, "taint-eviction-controller")
        ctl.api.delete(R.POD, meta["namespace"], meta["name"], {})
    ctl.timers["evict"] = time.monotonic() + 1.0


__all__ = ["node_down", "sync_nodes", "tolerates", "unschedulable_message", "untolerated"]
