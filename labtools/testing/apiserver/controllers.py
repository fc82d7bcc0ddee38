"""In-process controllers: one reconcile loop over every controller of the fake cluster.

The controllers themselves live in their own modules, each a `sync_*(ctl)` pass over the store:
namespaces and the garbage collector, Deployments, ReplicaSets, Jobs, the scheduler and kubelet
(pods), endpoints and EndpointSlices, and the control-plane loops (system).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from . import fieldmanager
from . import resources as R
from .api import Api, random_suffix
from .backoff import Backoff
from .bootstrap_policy import sync_aggregation
from .ctl_cronjobs import sync_cronjobs
from .ctl_deployments import compute_hash, sync_deployments
from .ctl_gc import sync_gc
from .ctl_images import ImageManager, image_missing
from .ctl_namespaces import sync_namespaces
from .ctl_nodes import sync_nodes
from .ctl_pods import NODE_IP, go_duration, stop_pod, sync_pods
from .ctl_quota import sync_quotas
from .ctl_replicasets import sync_replicasets
from .ctl_services import sync_endpoints
from .ctl_tokens import sync_token_secrets
from .ctl_volumes import sync_volumes
from .disruption import sync_disruption
from .faults import Faults
from .jobs import sync_jobs
from .store import Obj
from .system import sync_system

log = logging.getLogger(__name__)


def _status_only(old: Obj, new: Obj) -> bool:
    """Whether a write changes nothing but the status (and the controller's annotations)."""
    strip = ("status", "metadata")
    same = {k: v for k, v in old.items() if k not in strip} == {
        k: v for k, v in new.items() if k not in strip
    }
    old_meta = {
        k: v
        for k, v in old["metadata"].items()
        if k not in ("annotations", "resourceVersion", "managedFields")
    }
    new_meta = {
        k: v
        for k, v in new["metadata"].items()
        if k not in ("annotations", "resourceVersion", "managedFields")
    }
    return same and old_meta == new_meta


def _spec_of_pod_bound(old: Obj, new: Obj) -> bool:
    """The scheduler's binding: only spec.nodeName (and the status) change."""
    old_spec = {k: v for k, v in (old.get("spec") or {}).items() if k != "nodeName"}
    new_spec = {k: v for k, v in (new.get("spec") or {}).items() if k != "nodeName"}
    return old_spec == new_spec


class Controllers:
    """Every controller in one reconcile loop, woken by writes and by timers."""

    def __init__(
        self,
        api: Api,
        runtime: Any,
        pod_ready_delay: float = 1.0,
        faults: Faults | None = None,
        backoff_scale: float = 1.0,
    ) -> None:
        self.api = api
        self.store = api.store
        self.runtime = runtime
        self.delay = pod_ready_delay
        self.node = api.node_name
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.timers: dict[str, float] = {}
        self.starting: set[str] = set()
        # per-pod counters of the kubelet (mount retries, events sent once), pruned with pods
        self.backoffs: dict[str, int] = {}
        # signs the tokens of projected serviceAccountToken volumes (tokens.TokenIssuer)
        self.issuer: Any = None
        self.pod_tokens: dict[str, tuple[str, float]] = {}
        self.pulled: set[str] = set()
        self.next_ip = 3
        # injected faults (the admin endpoint's registry) and the kubelet's back-offs
        self.faults = faults if faults is not None else Faults()
        self.image_backoff = Backoff(backoff_scale)
        self.crash_backoff = Backoff(backoff_scale)
        self.images = ImageManager(self)
        self.crashes: dict[str, list[Any]] = {}
        self.node_down_since: float | None = None
        self.thread = threading.Thread(target=self._loop, name="controllers", daemon=True)
        self.workers: list[threading.Thread] = []
        api.kick = self.wake.set
        self.store.on_change.append(self._on_change)

    def _on_change(self, key: tuple[str, str], kind: str, obj: Obj) -> None:
        self.wake.set()
        # a pod removed without graceful termination (grace 0, namespace cleanup) still owns a
        # sandbox: stop it off the store lock
        if key == R.POD.key and kind == "DELETED" and self.runtime is not None:
            self.spawn(threading.Thread(target=self._stop_deleted, args=(obj,), daemon=True))

    def _stop_deleted(self, pod: Obj) -> None:
        meta = pod["metadata"]
        if self.store.get(R.POD.key, meta["namespace"], meta["name"]) is None:
            stop_pod(self, pod)

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
        steps: list[Callable[[Controllers], None]] = [
            sync_namespaces,
            sync_aggregation,
            sync_gc,
            sync_deployments,
            sync_replicasets,
            sync_cronjobs,
            sync_jobs,
            sync_volumes,
            sync_disruption,
            sync_pods,
            sync_nodes,
            sync_endpoints,
            sync_quotas,
            sync_token_secrets,
            sync_system,
        ]
        for step in steps:
            with self.api.lock:
                step(self)

    # ---- what the controller modules share ------------------------------------------------
    def put(self, res: R.Resource, obj: Obj) -> Obj:
        """Write `obj` back to the store, its managedFields updated; return the stored object.

        A pod's status is the kubelet's (subresource status); any other kind's status is the
        kube-controller-manager's, like the rest the controllers write.
        """
        if res.kind != "Event":
            old = self.store.get(
                res.key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
            )
            if old is not None:
                manager = "kube-controller-manager"
                sub = "status" if _status_only(old, obj) else ""
                if res.kind == "Pod" and sub == "status":
                    manager = "kubelet"
                elif res.kind == "Pod" and _spec_of_pod_bound(old, obj):
                    manager, sub = "kubelet", "status"  # binding: nodeName is not tracked
                fieldmanager.update(res, old, obj, manager, sub)
        return self.store.put(res.key, obj)

    def event(
        self, obj: Obj, etype: str, reason: str, message: str, component: str, field_path: str = ""
    ) -> None:
        """Record an Event about `obj` from `component` (the kubelet's name the node)."""
        host = self.node if component == "kubelet" else ""
        self.api.record_event(obj, etype, reason, message, component, field_path, host)

    def spawn(self, worker: threading.Thread) -> None:
        """Start a worker thread that `stop` waits for; forget the finished ones."""
        self.workers = [w for w in self.workers if w.is_alive()] + [worker]
        worker.start()


__all__ = [
    "NODE_IP",
    "Controllers",
    "compute_hash",
    "go_duration",
    "image_missing",
    "random_suffix",
]
