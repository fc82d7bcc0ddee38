"""The tokens controller: fill (or remove) `kubernetes.io/service-account-token` Secrets.

`pkg/controller/serviceaccount/tokens_controller.go`: a Secret of that type naming an existing
ServiceAccount gets `data.token` (a legacy token, `pkg/serviceaccount/legacy.go`), `ca.crt`,
`namespace` and the `kubernetes.io/service-account.uid` annotation; one whose ServiceAccount
does not exist (or has another uid) is deleted. Since v1.24 nothing creates such Secrets by
itself; `kubectl apply` of one still gets a long-lived token, as the Kubernetes docs show.
"""

from __future__ import annotations

import base64
import threading
from typing import TYPE_CHECKING, Any

from . import resources as R

if TYPE_CHECKING:
    from .controllers import Controllers
    from .store import Obj, Store

TOKEN_TYPE = "kubernetes.io/service-account-token"
NAME_KEY = "kubernetes.io/service-account.name"
UID_KEY = "kubernetes.io/service-account.uid"


class TokenSecretTracker:
    """Namespaces whose Secrets or ServiceAccounts changed since the last pass."""

    def __init__(self, store: Store) -> None:
        self.dirty: set[str] = set()
        self.lock = threading.Lock()
        store.on_change.append(self._on_change)

    def _on_change(self, key: tuple[str, str], kind: str, obj: Obj) -> None:
        if key in (R.SECRET.key, R.SERVICEACCOUNT.key):
            ns = obj.get("metadata", {}).get("namespace")
            if ns:
                with self.lock:
                    self.dirty.add(ns)

    def take(self) -> set[str]:
        """The dirty namespaces, cleared."""
        with self.lock:
            dirty, self.dirty = self.dirty, set()
        return dirty


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sync_token_secrets(ctl: Controllers) -> None:
    """One pass over the service-account-token Secrets of namespaces that changed."""
    tracker: Any = getattr(ctl, "token_secrets", None)
    if tracker is None or ctl.issuer is None:
        return
    for ns in sorted(tracker.take()):
        for secret in ctl.store.list(R.SECRET.key, ns):
            if secret.get("type") == TOKEN_TYPE:
                _sync_secret(ctl, secret)


def _sync_secret(ctl: Controllers, secret: Obj) -> None:
    meta = secret["metadata"]
    ann = meta.get("annotations") or {}
    sa = ctl.store.get(R.SERVICEACCOUNT.key, meta["namespace"], ann.get(NAME_KEY, ""))
    if sa is None or (ann.get(UID_KEY) and ann[UID_KEY] != sa["metadata"]["uid"]):
        ctl.api.remove_now(R.SECRET, meta["namespace"], meta["name"])
        return
    data = secret.get("data") or {}
    if data.get("token") and ann.get(UID_KEY) == sa["metadata"]["uid"]:
        return
    token = ctl.issuer.issue_legacy(sa, meta["name"])
    data.update(
        {
            "ca.crt": _b64(getattr(ctl, "ca_pem", "")),
            "namespace": _b64(meta["namespace"]),
            "token": _b64(token),
        }
    )
    secret["data"] = data
    meta.setdefault("annotations", {})[UID_KEY] = sa["metadata"]["uid"]
    ctl.put(R.SECRET, secret)


__all__ = ["TokenSecretTracker", "sync_token_secrets"]
