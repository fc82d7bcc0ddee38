"""The resource quota controller: keep every ResourceQuota's status.hard and status.used true.

`pkg/controller/resourcequota/resource_quota_controller.go`: status.hard mirrors spec.hard and
status.used is recalculated from the namespace's objects whenever something in that namespace
changes (the real controller reacts to informer events within milliseconds, and resyncs).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from . import quota
from . import resources as R

if TYPE_CHECKING:
    from .controllers import Controllers
    from .store import Obj, Store

QUOTAS = ("", "resourcequotas")


class QuotaTracker:
    """Which namespaces changed since the last pass (so a pass touches only those)."""

    def __init__(self, store: Store) -> None:
        self.dirty: set[str] = set()
        self.lock = threading.Lock()
        store.on_change.append(self._on_change)

    def _on_change(self, key: tuple[str, str], kind: str, obj: Obj) -> None:
        ns = obj.get("metadata", {}).get("namespace")
        if ns and (key != QUOTAS or kind != "MODIFIED" or _spec_changed(obj)):
            with self.lock:
                self.dirty.add(ns)

    def take(self) -> set[str]:
        """The dirty namespaces, cleared."""
        with self.lock:
            dirty, self.dirty = self.dirty, set()
        return dirty


def _spec_changed(quota_obj: Obj) -> bool:
    status = quota_obj.get("status") or {}
    return bool(status.get("hard") != quota_obj.get("spec", {}).get("hard"))


def sync_quotas(ctl: Controllers) -> None:
    """One pass over the ResourceQuotas of namespaces where something changed."""
    tracker: Any = getattr(ctl, "quotas", None)
    if tracker is None:
        return
    for ns in sorted(tracker.take()):
        quotas = ctl.store.list(QUOTAS, ns)
        if quotas:
            _sync_namespace(ctl, ns, quotas)


def _sync_namespace(ctl: Controllers, ns: str, quotas: list[Obj]) -> None:
    cache: dict[tuple[str, str], list[Obj]] = {}

    def objects(key: tuple[str, str]) -> list[Obj]:
        if key not in cache:
            cache[key] = ctl.store.list(key, ns)
        return cache[key]

    for q in quotas:
        status = quota.compute_status(q, objects)
        if q.get("status") != status:
            q["status"] = status
            ctl.put(R.preferred(*QUOTAS), q)


__all__ = ["QuotaTracker", "sync_quotas"]
