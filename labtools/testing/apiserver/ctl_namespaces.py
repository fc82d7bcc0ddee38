"""The namespace controllers: per-namespace defaults, and emptying a namespace being deleted."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from . import resources as R
from .status import ApiError
from .store import Obj

if TYPE_CHECKING:
    from .controllers import Controllers

ROOT_CA = "kube-root-ca.crt"
ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the "
    "kube-apiserver when using internal endpoints such as "
    "the internal service IP or kubernetes.default.svc. "
    "No other usage is guaranteed across distributions of "
    "Kubernetes clusters."
)


def sync_namespaces(ctl: Controllers) -> None:
    """One pass: finalize terminating namespaces, give live ones their default objects."""
    for ns in ctl.store.list(R.NAMESPACE.key):
        name = ns["metadata"]["name"]
        if ns["metadata"].get("deletionTimestamp"):
            _finalize_namespace(ctl, name)
            continue
        if ctl.store.get(R.SERVICEACCOUNT.key, name, "default") is None:
            ctl.store.create(R.SERVICEACCOUNT.key, _default_service_account(name))
        if ctl.store.get(R.CONFIGMAP.key, name, ROOT_CA) is None:
            ctl.store.create(R.CONFIGMAP.key, _root_ca_configmap(name, getattr(ctl, "ca_pem", "")))


def _default_service_account(namespace: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": namespace},
    }


def _root_ca_configmap(namespace: str, ca_pem: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ROOT_CA,
            "namespace": namespace,
            "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION},
        },
        "data": {"ca.crt": ca_pem},
    }


def _finalize_namespace(ctl: Controllers, name: str) -> None:
    """The namespace controller's content deletion (`pkg/controller/namespace/deletion`).

    Everything in it is deleted; pods gracefully, so the kubelet stops them (`Killing`) and the
    namespace stays `Terminating` until the last one is gone, then its finalizer is removed.
    """
    left = 0
    for key in ctl.store.all_keys():
        res = R.preferred(*key)
        if not res.namespaced:
            continue
        for obj in ctl.store.list(key, name):
            left += 1
            meta = obj["metadata"]
            if res.kind != "Pod":
                ctl.store.remove(key, name, meta["name"])
            elif not meta.get("deletionTimestamp"):
                # the kubelet ends it (sync_pods); while the node is down it stays, as the
                # namespace does
                with contextlib.suppress(ApiError):  # gone in between
                    ctl.api.delete(R.POD, name, meta["name"], {})
    if left == 0:
        ctl.store.remove(R.NAMESPACE.key, "", name)
