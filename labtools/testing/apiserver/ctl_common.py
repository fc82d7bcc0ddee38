"""Object helpers the workload controllers share: owner references and pod readiness."""

from __future__ import annotations

from .store import Obj


def owned_by(obj: Obj, uid: str) -> bool:
    """Whether `obj` has a controller owner reference to `uid`."""
    return any(
        r.get("uid") == uid and r.get("controller")
        for r in obj["metadata"].get("ownerReferences") or []
    )


def owner_ref(owner: Obj) -> Obj:
    """The controller owner reference a dependent of `owner` carries."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_ready(pod: Obj) -> bool:
    """Whether the pod's Ready condition is True."""
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )
