"""The garbage collector: dependents of deleted owners, and foreground deletion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import resources as R
from .store import Obj, copy_of

if TYPE_CHECKING:
    from .controllers import Controllers

FOREGROUND = "foregroundDeletion"


def sync_gc(ctl: Controllers) -> None:
    """One pass: delete orphaned dependents, then finish owners whose dependents are gone."""
    uids: dict[str, Obj] = {}
    everything: list[tuple[R.Resource, Obj]] = []
    for key in ctl.store.all_keys():
        res = R.preferred(*key)
        for obj in ctl.store.scan(key):  # read only: what is changed is copied first
            uids[obj["metadata"]["uid"]] = obj
            everything.append((res, obj))
    _collect_dependents(ctl, everything, uids)
    _finish_foreground(ctl, everything)


def _collect_dependents(
    ctl: Controllers, everything: list[tuple[R.Resource, Obj]], uids: dict[str, Obj]
) -> None:
    for res, obj in everything:
        meta = obj["metadata"]
        refs = meta.get("ownerReferences") or []
        if refs and all(r.get("uid") not in uids for r in refs):
            _collect(ctl, res, obj)
        elif refs:
            owners = [uids[r["uid"]] for r in refs if r.get("uid") in uids]
            if all(FOREGROUND in (o["metadata"].get("finalizers") or []) for o in owners):
                _collect(ctl, res, obj, foreground=True)


def _finish_foreground(ctl: Controllers, everything: list[tuple[R.Resource, Obj]]) -> None:
    for res, obj in everything:
        fins = obj["metadata"].get("finalizers") or []
        if FOREGROUND in fins and not ctl.api.dependents(obj["metadata"]["uid"]):
            rest = [f for f in fins if f != FOREGROUND]
            if rest:
                obj = copy_of(obj)
                obj["metadata"]["finalizers"] = rest
                ctl.put(res, obj)
            else:
                ctl.store.remove(
                    res.key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
                )


def _collect(ctl: Controllers, res: R.Resource, obj: Obj, foreground: bool = False) -> None:
    meta = obj["metadata"]
    if meta.get("deletionTimestamp"):
        return
    ns = meta.get("namespace", "")
    body = {"propagationPolicy": "Foreground" if foreground else "Background"}
    if ctl.store.get(res.key, ns, meta["name"]) is not None:
        ctl.api.delete(res, ns, meta["name"], body)
