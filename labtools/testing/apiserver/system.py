"""Control-plane loops beyond the workload controllers: what the real cluster keeps in place."""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING

from . import resources as R
from .ctl_services import TRIGGER_TIME

if TYPE_CHECKING:
    from .controllers import Controllers

# the API server's kubernetes-service controller re-creates `default/kubernetes` on this period
KUBERNETES_SERVICE_PERIOD = 10.0
# when each cluster's missing `kubernetes` service is due (the pod loop prunes ctl.timers)
_DUE: weakref.WeakKeyDictionary[Controllers, float] = weakref.WeakKeyDictionary()


def sync_system(ctl: Controllers) -> None:
    """One pass: the `kubernetes` service and Endpoints of deleted services."""
    _kubernetes_service(ctl)
    _stale_endpoints(ctl)


def _kubernetes_service(ctl: Controllers) -> None:
    if ctl.store.get(R.SERVICE.key, "default", "kubernetes") is not None:
        _DUE.pop(ctl, None)
        return
    if ctl.store.get(R.NAMESPACE.key, "", "default") is None:
        return
    now = time.monotonic()
    if _DUE.setdefault(ctl, now + KUBERNETES_SERVICE_PERIOD) > now:
        return
    from .bootstrap import kubernetes_service  # bootstrap imports the controllers

    _DUE.pop(ctl, None)
    ctl.api.create(R.SERVICE, "default", kubernetes_service(), internal=True)


def _stale_endpoints(ctl: Controllers) -> None:
    """The endpoints controller deletes the Endpoints it wrote once their service is gone."""
    for ep in ctl.store.list(R.ENDPOINTS.key):
        meta = ep["metadata"]
        if TRIGGER_TIME not in (meta.get("annotations") or {}):  # written by the controller
            continue
        if ctl.store.get(R.SERVICE.key, meta["namespace"], meta["name"]) is None:
            ctl.store.remove(R.ENDPOINTS.key, meta["namespace"], meta["name"])
