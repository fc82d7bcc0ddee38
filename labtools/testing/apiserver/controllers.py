"""In-process controllers: scheduler, kubelet, ReplicaSet, Deployment, endpoints, GC."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from . import resources as R
from .api import LAST_APPLIED, Api, random_suffix
from .jobs import sync_jobs
from .selectors import selector_matches
from .store import Obj, now_rfc3339
from .system import sync_system

log = logging.getLogger(__name__)

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
SKIP_ANNOTATIONS = {REVISION, REVISION_HISTORY, DESIRED, MAX_REPLICAS, LAST_APPLIED}
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
MISSING_IMAGES_ENV = "LABTOOLS_FAKE_MISSING_IMAGES"
IMAGE_DIGEST = "sha256:0d6b8ee63bb57c5f5b6156f446b3bc3b3c143d233037f3a2f00e279c8fcc64af"
NODE_IP = "192.168.49.2"


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


def image_missing(image: str) -> bool:
    """Images that cannot be pulled: the bootcamp `v10` tag and those listed in the env."""
    listed = {i.strip() for i in os.environ.get(MISSING_IMAGES_ENV, "").split(",") if i.strip()}
    if image in listed:
        return True
    name, _, tag = image.rpartition(":")
    if "/" in tag:
        return False
    return (
        (name.endswith("kubernetes-bootcamp") and tag == "v10")
        or "does-not-exist" in image
        or "nonexistent" in image
    )


def _owned_by(obj: Obj, uid: str) -> bool:
    return any(
        r.get("uid") == uid and r.get("controller")
        for r in obj["metadata"].get("ownerReferences") or []
    )


def _owner_ref(owner: Obj) -> Obj:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


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


def _pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _active(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get(
        "phase"
    ) not in ("Succeeded", "Failed")


class Controllers:
    """Every controller in one reconcile loop, woken by writes and by timers."""

    def __init__(self, api: Api, runtime: Any, pod_ready_delay: float = 1.0) -> None:
        self.api = api
        self.store = api.store
        self.runtime = runtime
        self.delay = pod_ready_delay
        self.node = api.node_name
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.timers: dict[str, float] = {}
        self.starting: set[str] = set()
        self.pulled: set[str] = set()
        self.next_ip = 3
        self.thread = threading.Thread(target=self._loop, name="controllers", daemon=True)
        self.workers: list[threading.Thread] = []
        api.kick = self.wake.set
        self.store.on_change.append(self._on_change)

    def _on_change(self, key: tuple[str, str], kind: str, obj: Obj) -> None:
        self.wake.set()
        # a pod removed without graceful termination (grace 0, namespace cleanup) still owns a
        # sandbox: stop it off the store lock
        if key == R.POD.key and kind == "DELETED" and self.runtime is not None:
            worker = threading.Thread(target=self._stop_deleted, args=(obj,), daemon=True)
            self.workers = [w for w in self.workers if w.is_alive()] + [worker]
            worker.start()

    def _stop_deleted(self, pod: Obj) -> None:
        meta = pod["metadata"]
        if self.store.get(R.POD.key, meta["namespace"], meta["name"]) is None:
            self._stop_pod(pod)

    def start(self) -> None:
        """Start the reconcile thread."""
        self.thread.start()

    def stop(self) -> None:
        """Stop the reconcile thread and wait for pod starters."""
        self.stopping.set()
        self.wake.set()
        self.thread.join(timeout=5)
        # a sandbox start can take a few seconds; its worker stops it again when it sees
        # `stopping`, so wait for every worker before the runtime shuts down
        deadline = time.monotonic() + 8.0
        for worker in list(self.workers):
            worker.join(timeout=max(deadline - time.monotonic(), 0.1))

    def _loop(self) -> None:
        while not self.stopping.is_set():
            now = time.monotonic()
            due = [t for t in self.timers.values() if t > now]
            timeout = min([*due, now + 5.0]) - now
            self.wake.wait(timeout=max(timeout, 0.01))
            self.wake.clear()
            if self.stopping.is_set():
                break
            try:
                self.reconcile()
            except Exception:  # a bug in one pass must not kill the cluster
                log.exception("reconcile failed")
                time.sleep(0.1)

    def reconcile(self) -> None:
        """One pass over every controller."""
        steps: list[Callable[[], None]] = [
            self._namespaces,
            self._gc,
            self._deployments,
            self._replicasets,
            lambda: sync_jobs(self),
            self._pods,
            self._endpoints,
            lambda: sync_system(self),
        ]
        for step in steps:
            with self.api.lock:
                step()

    # ---- helpers -----------------------------------------------------------------------
    def _put(self, res: R.Resource, obj: Obj) -> Obj:
        return self.store.put(res.key, obj)

    def _event(
        self, obj: Obj, etype: str, reason: str, message: str, component: str, field_path: str = ""
    ) -> None:
        host = self.node if component == "kubelet" else ""
        self.api.record_event(obj, etype, reason, message, component, field_path, host)

    # ---- namespaces --------------------------------------------------------------------
    def _namespaces(self) -> None:
        for ns in self.store.list(R.NAMESPACE.key):
            name = ns["metadata"]["name"]
            if ns["metadata"].get("deletionTimestamp"):
                self._finalize_namespace(name)
                continue
            if self.store.get(R.SERVICEACCOUNT.key, name, "default") is None:
                self.store.create(
                    R.SERVICEACCOUNT.key,
                    {
                        "apiVersion": "v1",
                        "kind": "ServiceAccount",
                        "metadata": {"name": "default", "namespace": name},
                    },
                )
            if self.store.get(R.CONFIGMAP.key, name, "kube-root-ca.crt") is None:
                self.store.create(
                    R.CONFIGMAP.key,
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {
                            "name": "kube-root-ca.crt",
                            "namespace": name,
                            "annotations": {
                                "kubernetes.io/description": (
                                    "Contains a CA bundle that can be used to verify the "
                                    "kube-apiserver when using internal endpoints such as "
                                    "the internal service IP or kubernetes.default.svc. "
                                    "No other usage is guaranteed across distributions of "
                                    "Kubernetes clusters."
                                )
                            },
                        },
                        "data": {"ca.crt": getattr(self, "ca_pem", "")},
                    },
                )

    def _finalize_namespace(self, name: str) -> None:
        left = 0
        for key in self.store.all_keys():
            res = R.preferred(*key)
            if not res.namespaced:
                continue
            for obj in self.store.list(key, name):
                left += 1
                if res.kind == "Pod":
                    self._stop_pod(obj)
                self.store.remove(key, name, obj["metadata"]["name"])
        if left == 0:
            self.store.remove(R.NAMESPACE.key, "", name)

    # ---- garbage collector -------------------------------------------------------------
    def _gc(self) -> None:
        uids: dict[str, Obj] = {}
        everything: list[tuple[R.Resource, Obj]] = []
        for key in self.store.all_keys():
            res = R.preferred(*key)
            for obj in self.store.list(key):
                uids[obj["metadata"]["uid"]] = obj
                everything.append((res, obj))
        for res, obj in everything:
            meta = obj["metadata"]
            refs = meta.get("ownerReferences") or []
            if refs and all(r.get("uid") not in uids for r in refs):
                self._collect(res, obj)
            elif refs:
                owners = [uids[r["uid"]] for r in refs if r.get("uid") in uids]
                if all(
                    "foregroundDeletion" in (o["metadata"].get("finalizers") or []) for o in owners
                ):
                    self._collect(res, obj, foreground=True)
        for res, obj in everything:
            fins = obj["metadata"].get("finalizers") or []
            if "foregroundDeletion" in fins and not self.api.dependents(obj["metadata"]["uid"]):
                rest = [f for f in fins if f != "foregroundDeletion"]
                if rest:
                    obj["metadata"]["finalizers"] = rest
                    self._put(res, obj)
                else:
                    self.store.remove(
                        res.key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
                    )

    def _collect(self, res: R.Resource, obj: Obj, foreground: bool = False) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        ns = meta.get("namespace", "")
        body = {"propagationPolicy": "Foreground" if foreground else "Background"}
        if self.store.get(res.key, ns, meta["name"]) is not None:
            self.api.delete(res, ns, meta["name"], body)

    # ---- deployments -------------------------------------------------------------------
    def _deployments(self) -> None:
        for dep in self.store.list(R.DEPLOYMENT.key):
            if dep["metadata"].get("deletionTimestamp"):
                continue
            self._sync_deployment(dep)

    def _owned_rs(self, dep: Obj) -> list[Obj]:
        ns = dep["metadata"]["namespace"]
        return [
            rs
            for rs in self.store.list(R.REPLICASET.key, ns)
            if _owned_by(rs, dep["metadata"]["uid"])
        ]

    def _sync_deployment(self, dep: Obj) -> None:
        rses = self._owned_rs(dep)
        key = _template_key(dep["spec"]["template"])
        new_rs = next((rs for rs in rses if _template_key(rs["spec"]["template"]) == key), None)
        olds = [rs for rs in rses if rs is not new_rs]
        max_rev = max(
            [int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in olds] + [0]
        )
        desired = int(dep["spec"].get("replicas", 1))
        surge, unavailable = self._surge(dep, desired)
        if new_rs is None:
            new_rs = self._create_rs(dep, max_rev + 1, olds, desired, surge)
        else:
            new_rs = self._sync_rs_meta(dep, new_rs, max_rev, desired, surge)
        if not dep["spec"].get("paused"):
            if dep["spec"].get("strategy", {}).get("type") == "Recreate":
                self._recreate(dep, new_rs, olds, desired)
            else:
                self._rolling(dep, new_rs, olds, desired, surge, unavailable)
        self._cleanup_history(dep, olds)
        self._deployment_status(dep, new_rs, olds, desired, unavailable)

    def _surge(self, dep: Obj, desired: int) -> tuple[int, int]:
        strategy = dep["spec"].get("strategy") or {}
        if strategy.get("type") == "Recreate":
            return 0, 0
        ru = strategy.get("rollingUpdate") or {}
        surge = _intstr(ru.get("maxSurge", "25%"), desired, True)
        unavailable = _intstr(ru.get("maxUnavailable", "25%"), desired, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    def _create_rs(self, dep: Obj, revision: int, olds: list[Obj], desired: int, surge: int) -> Obj:
        tpl = copy.deepcopy(dep["spec"]["template"])
        h = compute_hash(tpl, int(dep.get("status", {}).get("collisionCount", 0)))
        tpl.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = copy.deepcopy(dep["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        old_total = sum(int(rs["spec"].get("replicas", 0)) for rs in olds)
        if dep["spec"].get("strategy", {}).get("type") == "Recreate" or old_total == 0:
            replicas = desired if old_total == 0 else 0
        else:
            replicas = max(min(desired + surge - old_total, desired), 0)
        name = f"{dep['metadata']['name']}-{h}"
        annotations = self._copied_annotations(dep)
        annotations.update(
            {DESIRED: str(desired), MAX_REPLICAS: str(desired + surge), REVISION: str(revision)}
        )
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": dep["metadata"]["namespace"],
                "labels": dict(tpl["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [_owner_ref(dep)],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": tpl},
        }
        if dep["spec"].get("minReadySeconds"):
            rs["spec"]["minReadySeconds"] = dep["spec"]["minReadySeconds"]  # type: ignore[index]
        created = self.api.create(R.REPLICASET, dep["metadata"]["namespace"], rs, internal=True)
        self._set_progressing(dep, "NewReplicaSetCreated", f'Created new replica set "{name}"')
        if replicas > 0:
            self._event(
                dep,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled up replica set {name} from 0 to {replicas}",
                "deployment-controller",
            )
        return created

    def _set_progressing(self, dep: Obj, reason: str, message: str) -> None:
        cur = self.store.get(
            R.DEPLOYMENT.key, dep["metadata"]["namespace"], dep["metadata"]["name"]
        )
        if cur is None:
            return
        _set_condition(cur.setdefault("status", {}), "Progressing", "True", reason, message)
        dep["status"] = cur["status"]
        self._put(R.DEPLOYMENT, cur)
        dep["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]

    def _copied_annotations(self, dep: Obj) -> dict[str, str]:
        return {
            k: v
            for k, v in (dep["metadata"].get("annotations") or {}).items()
            if k not in SKIP_ANNOTATIONS
        }

    def _sync_rs_meta(self, dep: Obj, rs: Obj, max_rev: int, desired: int, surge: int) -> Obj:
        ann = rs["metadata"].setdefault("annotations", {})
        before = dict(ann)
        cur_rev = int(ann.get(REVISION, "0"))
        if cur_rev <= max_rev:
            history = [h for h in ann.get(REVISION_HISTORY, "").split(",") if h]
            if cur_rev:
                history.append(str(cur_rev))
            ann[REVISION_HISTORY] = ",".join(history)
            ann[REVISION] = str(max_rev + 1)
        ann.update(self._copied_annotations(dep))
        ann[DESIRED] = str(desired)
        ann[MAX_REPLICAS] = str(desired + surge)
        if ann != before:
            return self._put(R.REPLICASET, rs)
        return rs

    def _scale_rs(self, dep: Obj, rs: Obj, replicas: int) -> Obj:
        old = int(rs["spec"].get("replicas", 0))
        if old == replicas:
            return rs
        rs["spec"]["replicas"] = replicas
        out = self._put(R.REPLICASET, rs)
        verb = "up" if replicas > old else "down"
        self._event(
            dep,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled {verb} replica set {rs['metadata']['name']} from {old} to {replicas}",
            "deployment-controller",
        )
        return out

    def _rolling(
        self, dep: Obj, new_rs: Obj, olds: list[Obj], desired: int, surge: int, unavailable: int
    ) -> None:
        active_olds = [rs for rs in olds if int(rs["spec"].get("replicas", 0)) > 0]
        new_count = int(new_rs["spec"].get("replicas", 0))
        if not active_olds:
            self._scale_rs(dep, new_rs, desired)
            return
        total = new_count + sum(int(rs["spec"]["replicas"]) for rs in active_olds)
        if new_count < desired:
            up = min(desired + surge - total, desired - new_count)
            if up > 0:
                new_rs = self._scale_rs(dep, new_rs, new_count + up)
        elif new_count > desired:
            new_rs = self._scale_rs(dep, new_rs, desired)
        self._scale_down_olds(dep, new_rs, active_olds, desired, unavailable)

    def _scale_down_olds(
        self, dep: Obj, new_rs: Obj, olds: list[Obj], desired: int, unavailable: int
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
                rs = self._scale_rs(dep, rs, spec - cut)
                budget -= cut
        available = new_avail + sum(
            int((rs.get("status") or {}).get("availableReplicas", 0))
            for rs in self._owned_rs(dep)
            if rs is not new_rs and rs["metadata"]["uid"] != new_rs["metadata"]["uid"]
        )
        can_remove = available - min_available
        for rs in sorted(self._owned_rs(dep), key=lambda r: r["metadata"]["creationTimestamp"]):
            if rs["metadata"]["uid"] == new_rs["metadata"]["uid"] or can_remove <= 0:
                continue
            spec = int(rs["spec"].get("replicas", 0))
            cut = min(spec, can_remove)
            if cut > 0:
                self._scale_rs(dep, rs, spec - cut)
                can_remove -= cut

    def _recreate(self, dep: Obj, new_rs: Obj, olds: list[Obj], desired: int) -> None:
        for rs in olds:
            if int(rs["spec"].get("replicas", 0)):
                self._scale_rs(dep, rs, 0)
        ns = dep["metadata"]["namespace"]
        old_uids = {rs["metadata"]["uid"] for rs in olds}
        running_old = [
            p
            for p in self.store.list(R.POD.key, ns)
            if any(r.get("uid") in old_uids for r in p["metadata"].get("ownerReferences") or [])
        ]
        if not running_old:
            self._scale_rs(dep, new_rs, desired)

    def _cleanup_history(self, dep: Obj, olds: list[Obj]) -> None:
        limit = int(dep["spec"].get("revisionHistoryLimit", 10))
        idle = [
            rs
            for rs in olds
            if not int(rs["spec"].get("replicas", 0))
            and not int((rs.get("status") or {}).get("replicas", 0))
        ]
        idle.sort(key=lambda r: int(r["metadata"].get("annotations", {}).get(REVISION, "0")))
        for rs in idle[: max(len(idle) - limit, 0)]:
            self.api.delete(
                R.REPLICASET,
                rs["metadata"]["namespace"],
                rs["metadata"]["name"],
                {"propagationPolicy": "Background"},
            )

    def _deployment_status(
        self, dep: Obj, new_rs: Obj, olds: list[Obj], desired: int, unavailable: int
    ) -> None:
        cur = self.store.get(
            R.DEPLOYMENT.key, dep["metadata"]["namespace"], dep["metadata"]["name"]
        )
        if cur is None:
            return
        rses = self._owned_rs(cur)
        new_rs = next(
            (r for r in rses if r["metadata"]["uid"] == new_rs["metadata"]["uid"]), new_rs
        )
        st = [r.get("status") or {} for r in rses]
        status = cur.setdefault("status", {})
        before = copy.deepcopy(status)
        counts = {
            "observedGeneration": cur["metadata"].get("generation", 1),
            "replicas": sum(int(s.get("replicas", 0)) for s in st),
            "updatedReplicas": int((new_rs.get("status") or {}).get("replicas", 0)),
            "readyReplicas": sum(int(s.get("readyReplicas", 0)) for s in st),
            "availableReplicas": sum(int(s.get("availableReplicas", 0)) for s in st),
        }
        counts["unavailableReplicas"] = (
            max(desired - counts["availableReplicas"], 0) if counts["replicas"] or desired else 0
        )
        for k, v in counts.items():
            if v or k == "observedGeneration":
                status[k] = v
            else:
                status.pop(k, None)
        avail_ok = counts["availableReplicas"] >= desired - unavailable
        if avail_ok:
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
        ann = cur["metadata"].setdefault("annotations", {})
        rev = (new_rs["metadata"].get("annotations") or {}).get(REVISION)
        if status != before or (rev and ann.get(REVISION) != rev):
            if rev:
                ann[REVISION] = rev
            self._put(R.DEPLOYMENT, cur)

    # ---- replica sets ------------------------------------------------------------------
    def _replicasets(self) -> None:
        for rs in self.store.list(R.REPLICASET.key):
            if rs["metadata"].get("deletionTimestamp"):
                continue
            self._sync_replicaset(rs)

    def _sync_replicaset(self, rs: Obj) -> None:
        ns = rs["metadata"]["namespace"]
        uid = rs["metadata"]["uid"]
        pods = [p for p in self.store.list(R.POD.key, ns) if _owned_by(p, uid)]
        active = [p for p in pods if _active(p)]
        want = int(rs["spec"].get("replicas", 1))
        if len(active) < want:
            for _ in range(want - len(active)):
                active.append(self._create_pod(rs))
        elif len(active) > want:
            for pod in _deletion_order(active)[: len(active) - want]:
                self.api.delete(R.POD, ns, pod["metadata"]["name"], {})
                self._event(
                    rs,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    "replicaset-controller",
                )
                active.remove(pod)
        self._rs_status(rs, active)

    def _create_pod(self, rs: Obj) -> Obj:
        tpl = copy.deepcopy(rs["spec"]["template"])
        meta = tpl.get("metadata") or {}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": rs["metadata"]["name"] + "-",
                "namespace": rs["metadata"]["namespace"],
                "labels": meta.get("labels") or {},
                "ownerReferences": [_owner_ref(rs)],
            },
            "spec": tpl.get("spec") or {},
        }
        if meta.get("annotations"):
            pod["metadata"]["annotations"] = meta["annotations"]  # type: ignore[index]
        created = self.api.create(R.POD, rs["metadata"]["namespace"], pod, internal=True)
        self._event(
            rs,
            "Normal",
            "SuccessfulCreate",
            f"Created pod: {created['metadata']['name']}",
            "replicaset-controller",
        )
        return created

    def _rs_status(self, rs: Obj, active: list[Obj]) -> None:
        cur = self.store.get(R.REPLICASET.key, rs["metadata"]["namespace"], rs["metadata"]["name"])
        if cur is None:
            return
        ready = sum(1 for p in active if _pod_ready(p))
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
        if cur.get("status") != status:
            cur["status"] = status
            self._put(R.REPLICASET, cur)

    # ---- pods: scheduler and kubelet ---------------------------------------------------
    def _pods(self) -> None:
        now = time.monotonic()
        for pod in self.store.list(R.POD.key):
            meta = pod["metadata"]
            key = f"{meta['namespace']}/{meta['name']}/{meta['uid']}"
            if meta.get("deletionTimestamp"):
                self._terminate(pod, key)
                continue
            if not pod["spec"].get("nodeName"):
                self._schedule(pod)
                self.timers[key] = now + self.delay
                continue
            phase = pod.get("status", {}).get("phase")
            if phase == "Pending" and key not in self.starting:
                if key not in self.timers:
                    self.timers[key] = now + self.delay
                if self.timers[key] <= now:
                    self._kubelet_start(pod, key)
            elif phase == "Running" and key not in self.starting:
                self._watch_containers(pod, key, now)
        live = {
            f"{p['metadata']['namespace']}/{p['metadata']['name']}/{p['metadata']['uid']}"
            for p in self.store.list(R.POD.key)
        }
        self.timers = {
            k: v for k, v in self.timers.items() if k.split(":", 1)[-1] in live or k == "poll"
        }

    def _watch_containers(self, pod: Obj, key: str, now: float) -> None:
        """The kubelet's view of exited containers: complete, fail or restart with back-off."""
        states = getattr(self.runtime, "container_states", None)
        if states is None or pod["metadata"]["namespace"] == "kube-system":
            return
        self.timers["poll"] = now + 1.0
        restart_due = self.timers.get("restart:" + key)
        if restart_due is not None:
            if restart_due <= now:
                self.timers.pop("restart:" + key)
                self._restart(pod, key)
            return
        exited = {
            n: c
            for n, c in states(pod["metadata"]["namespace"], pod["metadata"]["name"]).items()
            if c is not None
        }
        if exited:
            self._containers_exited(pod, key, exited, now)

    def _containers_exited(self, pod: Obj, key: str, exited: dict[str, int], now: float) -> None:
        policy = pod["spec"].get("restartPolicy", "Always")
        stamp = now_rfc3339()
        status = pod["status"]
        restart = False
        for cs in status.get("containerStatuses") or []:
            code = exited.get(cs["name"])
            if code is None or "terminated" in (cs.get("state") or {}):
                continue
            started = ((cs.get("state") or {}).get("running") or {}).get("startedAt", stamp)
            term = {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": started,
                "finishedAt": stamp,
                "containerID": cs.get("containerID", ""),
            }
            cs.update(ready=False, started=False)
            if policy == "Always" or (policy == "OnFailure" and code != 0):
                restart = True
                cs["lastState"] = {"terminated": term}
                meta = pod["metadata"]
                msg = (
                    f"back-off 10s restarting failed container={cs['name']} "
                    f"pod={meta['name']}_{meta['namespace']}({meta['uid']})"
                )
                cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": msg}}
            else:
                cs["state"] = {"terminated": term}
        finished = all(
            "terminated" in (cs.get("state") or {}) for cs in status.get("containerStatuses") or []
        )
        if finished:
            failed = any(
                cs["state"]["terminated"]["exitCode"] for cs in status["containerStatuses"]
            )
            status["phase"] = "Failed" if failed else "Succeeded"
        for cond in status.get("conditions") or []:
            if cond["type"] in ("Ready", "ContainersReady"):
                cond.update(
                    status="False",
                    lastTransitionTime=stamp,
                    reason="PodCompleted" if finished else "ContainersNotReady",
                )
        pod = self._put(R.POD, pod)
        if restart:
            meta = pod["metadata"]
            for name in exited:
                self._event(
                    pod,
                    "Warning",
                    "BackOff",
                    f"Back-off restarting failed container "
                    f"{name} in pod {meta['name']}_{meta['namespace']}({meta['uid']})",
                    "kubelet",
                    f"spec.containers{{{name}}}",
                )
            self.timers["restart:" + key] = now + 10.0
        elif finished:
            self._stop_pod(pod)

    def _restart(self, pod: Obj, key: str) -> None:
        for cs in pod["status"].get("containerStatuses") or []:
            if "waiting" in (cs.get("state") or {}):
                cs["restartCount"] = int(cs.get("restartCount", 0)) + 1
        pod = self._put(R.POD, pod)
        self._stop_pod(pod)
        self.starting.add(key)
        worker = threading.Thread(target=self._start_worker, args=(pod, key), daemon=True)
        self.workers = [w for w in self.workers if w.is_alive()] + [worker]
        worker.start()

    def _schedule(self, pod: Obj) -> None:
        meta = pod["metadata"]
        pod["spec"]["nodeName"] = self.node
        now = now_rfc3339()
        containers = pod["spec"].get("containers") or []
        pod["status"] = {
            "phase": "Pending",
            "qosClass": pod.get("status", {}).get("qosClass", "BestEffort"),
            "conditions": [
                {
                    "type": "PodReadyToStartContainers",
                    "status": "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": now,
                },
                {
                    "type": "Initialized",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": now,
                },
                _unready("Ready", containers, now),
                _unready("ContainersReady", containers, now),
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": now,
                },
            ],
            "hostIP": NODE_IP,
            "hostIPs": [{"ip": NODE_IP}],
            "startTime": now,
            "containerStatuses": [
                {
                    "name": c["name"],
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                    "lastState": {},
                    "ready": False,
                    "restartCount": 0,
                    "image": c.get("image"),
                    "imageID": "",
                    "started": False,
                }
                for c in containers
            ],
        }
        pod = self._put(R.POD, pod)
        self._event(
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {self.node}",
            "default-scheduler",
        )
        for c in containers:
            image = c.get("image", "")
            if c.get("imagePullPolicy") == "Always" or image not in self.pulled:
                self._event(
                    pod,
                    "Normal",
                    "Pulling",
                    f'Pulling image "{image}"',
                    "kubelet",
                    f"spec.containers{{{c['name']}}}",
                )

    def _kubelet_start(self, pod: Obj, key: str) -> None:
        containers = pod["spec"].get("containers") or []
        missing = [c for c in containers if image_missing(c.get("image", ""))]
        if missing:
            self._image_backoff(pod, key, missing)
            return
        self.starting.add(key)
        worker = threading.Thread(
            target=self._start_worker,
            args=(pod, key),
            daemon=True,
            name=f"start-{pod['metadata']['name']}",
        )
        self.workers = [w for w in self.workers if w.is_alive()] + [worker]
        worker.start()

    def _start_worker(self, pod: Obj, key: str) -> None:
        ip, ids = "", {}
        started = time.monotonic()
        if pod["metadata"]["namespace"] != "kube-system" and self.runtime is not None:
            try:
                info = self.runtime.start(pod, **self._service_links())
                ip = info.get("podIP", "")
                ids = info.get("containerIDs", {})
            except Exception:
                log.exception("pod runtime failed to start %s", key)
        took = time.monotonic() - started + self.delay
        with self.api.lock:
            cur = self.store.get(R.POD.key, pod["metadata"]["namespace"], pod["metadata"]["name"])
            alive = (
                cur is not None
                and cur["metadata"]["uid"] == pod["metadata"]["uid"]
                and not cur["metadata"].get("deletionTimestamp")
                and not self.stopping.is_set()
            )
            if alive and cur is not None:
                self._mark_running(cur, ip or self._alloc_ip(), ids, took)
            self.starting.discard(key)
        if not alive:
            # deleted (or shutting down) while its sandbox was starting: nobody else will stop it
            self._stop_pod(pod)

    def _service_links(self) -> dict[str, Any]:
        # the kubelet gives a starting container the variables of the Services that exist now
        if not getattr(self.runtime, "service_links", False):
            return {}
        return {"services": self.store.list(R.SERVICE.key)}

    def _alloc_ip(self) -> str:
        used = {p.get("status", {}).get("podIP") for p in self.store.list(R.POD.key)}
        while True:
            ip = f"10.244.{self.next_ip // 254}.{self.next_ip % 254 + 1}"
            self.next_ip += 1
            if ip not in used:
                return ip

    def _mark_running(self, pod: Obj, ip: str, ids: dict[str, str], took: float) -> None:
        now = now_rfc3339()
        for c in pod["spec"].get("containers") or []:
            image = c.get("image", "")
            fp = f"spec.containers{{{c['name']}}}"
            if c.get("imagePullPolicy") == "Always" or image not in self.pulled:
                secs = go_duration(took)
                size = 200_000_000 + int(hashlib.sha1(image.encode()).hexdigest()[:6], 16)
                self._event(
                    pod,
                    "Normal",
                    "Pulled",
                    f'Successfully pulled image "{image}" in '
                    f"{secs} ({secs} including waiting). Image size: {size} bytes.",
                    "kubelet",
                    fp,
                )
                self.pulled.add(image)
            else:
                self._event(
                    pod,
                    "Normal",
                    "Pulled",
                    f'Container image "{image}" already present on machine',
                    "kubelet",
                    fp,
                )
            self._event(pod, "Normal", "Created", f"Created container {c['name']}", "kubelet", fp)
            self._event(pod, "Normal", "Started", f"Started container {c['name']}", "kubelet", fp)
        status = pod["status"]
        status["phase"] = "Running"
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
        for cond in status.get("conditions") or []:
            if cond["status"] != "True":
                cond.update(status="True", lastTransitionTime=now)
                cond.pop("reason", None)
                cond.pop("message", None)
        restarts = {
            cs["name"]: cs.get("restartCount", 0) for cs in status.get("containerStatuses") or []
        }
        previous = {cs["name"]: cs for cs in status.get("containerStatuses") or []}
        status["containerStatuses"] = [
            {
                "containerID": _container_id(ids.get(c["name"]) or _cid(pod, c["name"])),
                "image": c.get("image"),
                "imageID": _image_id(c.get("image", "")),
                "lastState": previous.get(c["name"], {}).get("lastState", {}),
                "name": c["name"],
                "ready": True,
                "restartCount": restarts.get(c["name"], 0),
                "started": True,
                "state": {"running": {"startedAt": now}},
            }
            for c in pod["spec"].get("containers") or []
        ]
        self._put(R.POD, pod)

    def _image_backoff(self, pod: Obj, key: str, missing: list[Obj]) -> None:
        status = pod["status"]
        first = all(
            ((cs.get("state") or {}).get("waiting") or {}).get("reason") == "ContainerCreating"
            for cs in status.get("containerStatuses") or []
        )
        for cond in status.get("conditions") or []:
            if cond["type"] == "PodReadyToStartContainers":
                cond["status"] = "True"
        names = {c["name"] for c in missing}
        reason = "ErrImagePull" if first else "ImagePullBackOff"
        for cs in status.get("containerStatuses") or []:
            if cs["name"] in names:
                img = cs.get("image")
                msg = (
                    (
                        f"Error response from daemon: manifest for {img} not found: "
                        "manifest unknown: manifest unknown"
                    )
                    if first
                    else f'Back-off pulling image "{img}"'
                )
                cs["state"] = {"waiting": {"reason": reason, "message": msg}}
        pod = self._put(R.POD, pod)
        for c in missing:
            fp = f"spec.containers{{{c['name']}}}"
            img = c.get("image", "")
            if first:
                self._event(
                    pod,
                    "Warning",
                    "Failed",
                    f'Failed to pull image "{img}": Error '
                    f"response from daemon: manifest for {img} not found: manifest "
                    "unknown: manifest unknown",
                    "kubelet",
                    fp,
                )
                self._event(pod, "Warning", "Failed", "Error: ErrImagePull", "kubelet", fp)
            else:
                self._event(
                    pod, "Normal", "BackOff", f'Back-off pulling image "{img}"', "kubelet", fp
                )
                self._event(pod, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet", fp)
        self.timers[key] = time.monotonic() + (self.delay if first else 10.0)

    def _terminate(self, pod: Obj, key: str) -> None:
        meta = pod["metadata"]
        if meta.get("finalizers"):
            return
        due = self.timers.setdefault("del:" + key, time.monotonic() + min(self.delay, 0.3))
        if due > time.monotonic():
            return
        self._stop_pod(pod)
        self.timers.pop("del:" + key, None)
        for c in pod["spec"].get("containers") or []:
            if (pod.get("status") or {}).get("phase") == "Running":
                self._event(
                    pod,
                    "Normal",
                    "Killing",
                    f"Stopping container {c['name']}",
                    "kubelet",
                    f"spec.containers{{{c['name']}}}",
                )
        self.store.remove(R.POD.key, meta["namespace"], meta["name"])

    def _stop_pod(self, pod: Obj) -> None:
        if self.runtime is None or pod["metadata"].get("namespace") == "kube-system":
            return
        try:
            self.runtime.stop(pod["metadata"]["namespace"], pod["metadata"]["name"])
        except Exception:
            log.exception("pod runtime failed to stop %s", pod["metadata"]["name"])

    # ---- endpoints ---------------------------------------------------------------------
    def _endpoints(self) -> None:
        for svc in self.store.list(R.SERVICE.key):
            selector = svc["spec"].get("selector")
            if not selector or svc["metadata"].get("deletionTimestamp"):
                continue
            ns = svc["metadata"]["namespace"]
            pods = [
                p
                for p in self.store.list(R.POD.key, ns)
                if selector_matches({"matchLabels": selector}, p["metadata"].get("labels") or {})
                and (p.get("status") or {}).get("podIP")
                and not p["metadata"].get("deletionTimestamp")
            ]
            self._sync_endpoints(svc, pods)
            self._sync_slice(svc, pods)

    def _sync_endpoints(self, svc: Obj, pods: list[Obj]) -> None:
        meta = svc["metadata"]
        ready = [_address(p) for p in pods if _pod_ready(p)]
        not_ready = [_address(p) for p in pods if not _pod_ready(p)]
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
        if subset:
            subset["ports"] = [_ep_port(p, pods) for p in svc["spec"].get("ports") or []]
        ep = self.store.get(R.ENDPOINTS.key, meta["namespace"], meta["name"])
        labels = dict(meta.get("labels") or {})
        if ep is None:
            ep = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            }
            if labels:
                ep["metadata"]["labels"] = labels
            if subset:
                ep["subsets"] = [subset]
            self.store.create(R.ENDPOINTS.key, ep)
            return
        want = [subset] if subset else None
        if ep.get("subsets") != want:
            if want:
                ep["subsets"] = want
            else:
                ep.pop("subsets", None)
            ep["metadata"].setdefault("annotations", {})[
                "endpoints.kubernetes.io/last-change-trigger-time"
            ] = now_rfc3339()
            self._put(R.ENDPOINTS, ep)

    def _sync_slice(self, svc: Obj, pods: list[Obj]) -> None:
        meta = svc["metadata"]
        ns = meta["namespace"]
        endpoints = [
            {
                "addresses": [p["status"]["podIP"]],
                "conditions": {
                    "ready": _pod_ready(p),
                    "serving": _pod_ready(p),
                    "terminating": False,
                },
                "nodeName": p["spec"].get("nodeName"),
                "targetRef": {
                    "kind": "Pod",
                    "namespace": ns,
                    "name": p["metadata"]["name"],
                    "uid": p["metadata"]["uid"],
                },
            }
            for p in sorted(pods, key=lambda p: p["status"]["podIP"])
        ]
        ports = [
            {
                "name": p.get("name", ""),
                "port": _ep_port(p, pods)["port"],
                "protocol": p.get("protocol", "TCP"),
            }
            for p in svc["spec"].get("ports") or []
        ]
        existing = [
            s
            for s in self.store.list(R.ENDPOINTSLICE.key, ns)
            if (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == meta["name"]
        ]
        if not existing:
            labels = {
                **(meta.get("labels") or {}),
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                "kubernetes.io/service-name": meta["name"],
            }
            body = {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "generateName": meta["name"] + "-",
                    "namespace": ns,
                    "labels": labels,
                    "ownerReferences": [_owner_ref(svc)],
                },
                "addressType": "IPv4",
                "endpoints": endpoints or None,
                "ports": ports,
            }
            if not endpoints:
                body.pop("endpoints")
            self.api.create(R.ENDPOINTSLICE, ns, body, internal=True)
            return
        cur = existing[0]
        if cur.get("endpoints") != (endpoints or None) or cur.get("ports") != ports:
            if endpoints:
                cur["endpoints"] = endpoints
            else:
                cur.pop("endpoints", None)
            cur["ports"] = ports
            self._put(R.ENDPOINTSLICE, cur)


def go_duration(seconds: float) -> str:
    """Go's `Duration.String()` of a duration truncated to milliseconds."""
    ms = int(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms"
    text = f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _progress_changed(before: Obj, counts: dict[str, int]) -> bool:
    return any(
        int(before.get(k, 0)) != v for k, v in counts.items() if k != "observedGeneration"
    ) or not before.get("conditions")


def _unready(ctype: str, containers: list[Obj], now: str) -> Obj:
    names = " ".join(c["name"] for c in containers)
    return {
        "type": ctype,
        "status": "False",
        "lastProbeTime": None,
        "lastTransitionTime": now,
        "reason": "ContainersNotReady",
        "message": f"containers with unready status: [{names}]",
    }


def _deletion_order(pods: list[Obj]) -> list[Obj]:
    def rank(p: Obj) -> tuple[int, int, int, str]:
        phase = (p.get("status") or {}).get("phase")
        return (
            1 if p["spec"].get("nodeName") else 0,
            1 if phase == "Running" else 0,
            1 if _pod_ready(p) else 0,
            _neg(p["metadata"]["creationTimestamp"]),
        )

    return sorted(pods, key=rank)


def _neg(ts: str) -> str:
    return "".join(chr(0x10FFFF - ord(ch)) for ch in ts)


def _address(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {
        "ip": pod["status"]["podIP"],
        "nodeName": pod["spec"].get("nodeName"),
        "targetRef": {
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
        },
    }


def _ep_port(port: Obj, pods: list[Obj]) -> Obj:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, str) and not target.isdigit():
        found = next(
            (
                cp.get("containerPort")
                for p in pods
                for c in p["spec"].get("containers") or []
                for cp in c.get("ports") or []
                if cp.get("name") == target
            ),
            None,
        )
        target = found or 0
    out: Obj = {"port": int(target or 0), "protocol": port.get("protocol", "TCP")}
    if port.get("name"):
        out = {"name": port["name"], **out}
    return out


def _container_id(cid: str) -> str:
    return cid if "://" in cid else f"docker://{cid}"


def _cid(pod: Obj, name: str) -> str:
    return hashlib.sha256(f"{pod['metadata']['uid']}/{name}".encode()).hexdigest()


def _image_id(image: str) -> str:
    repo = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    if "kubernetes-bootcamp" in image and image.endswith(":v1"):
        digest = IMAGE_DIGEST
    else:
        digest = "sha256:" + hashlib.sha256(image.encode()).hexdigest()
    return f"docker-pullable://{repo}@{digest}"


__all__ = ["Controllers", "compute_hash", "image_missing", "random_suffix"]
