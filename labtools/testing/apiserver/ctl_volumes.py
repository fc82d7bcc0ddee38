"""Persistent volumes: the PV controller's binding, minikube's hostpath provisioner, protection.

After `pkg/controller/volume/persistentvolume/pv_controller.go` (syncUnboundClaim: a matching
Available volume, else dynamic provisioning through the class's provisioner; bind: the volume's
`claimRef`, the claim's `volumeName`, the `pv.kubernetes.io/*` annotations, both `Bound`;
reclaim of a volume whose claim is gone: `Delete` or `Released`), minikube's
storage-provisioner (`k8s.io/minikube-hostpath`: a `pvc-<claim uid>` hostPath volume under
`/tmp/hostpath-provisioner/<namespace>/<claim>`) and the pvc/pv-protection controllers (a
finalizer kept while a pod uses the claim, or while the volume is bound).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from . import resources as R
from .quantity import QuantityError, parse
from .store import Obj, copy_of

if TYPE_CHECKING:
    from .controllers import Controllers

PVC, PV = ("", "persistentvolumeclaims"), ("", "persistentvolumes")
CLASSES = ("storage.k8s.io", "storageclasses")
HOSTPATH = "k8s.io/minikube-hostpath"
PVC_PROTECTION, PV_PROTECTION = "kubernetes.io/pvc-protection", "kubernetes.io/pv-protection"
PROVISIONER_ID = str(uuid.uuid4())
WAITING = (
    "Waiting for a volume to be created either by the external provisioner '{p}' or manually by "
    "the system administrator. If volume creation is delayed, please verify that the provisioner "
    "is running and correctly registered."
)


def sync_volumes(ctl: Controllers) -> None:
    """One pass: volumes become Available, claims are bound or provisioned, protection ends."""
    for pv in ctl.store.list(PV):
        _sync_volume(ctl, pv)
    for claim in ctl.store.list(PVC):
        if claim["metadata"].get("deletionTimestamp"):
            _release_claim(ctl, claim)
        elif not (claim.get("spec") or {}).get("volumeName"):
            _sync_unbound_claim(ctl, claim)


# ---- volumes --------------------------------------------------------------------------------
def _sync_volume(ctl: Controllers, pv: Obj) -> None:
    meta, spec = pv["metadata"], pv.get("spec") or {}
    phase = (pv.get("status") or {}).get("phase")
    ref = spec.get("claimRef")
    claim = _claim_of(ctl, ref) if ref else None
    if meta.get("deletionTimestamp"):
        # pv-protection: the finalizer stays while a claim is bound to the volume
        in_use = phase == "Bound" and claim is not None
        if not in_use and PV_PROTECTION in (meta.get("finalizers") or []):
            _drop_finalizer(ctl, R.preferred(*PV), pv, PV_PROTECTION)
        return
    if ref is None:
        if phase != "Available":
            _set_phase(ctl, pv, "Available")
        return
    if claim is not None:
        return
    if phase != "Bound":
        return  # pre-bound to a claim that does not exist yet: it waits
    # the claim is gone: reclaim
    if spec.get("persistentVolumeReclaimPolicy") == "Delete":
        ctl.api.delete(R.preferred(*PV), "", meta["name"], {})
    elif phase != "Released":
        _set_phase(ctl, pv, "Released")


def _claim_of(ctl: Controllers, ref: Obj) -> Obj | None:
    """The claim a claimRef names (None for a new claim of the same name: not this volume's)."""
    claim = ctl.store.get(PVC, ref.get("namespace", ""), ref.get("name", ""))
    if claim is None or claim["metadata"]["uid"] != ref.get("uid", claim["metadata"]["uid"]):
        return None
    return claim


def _set_phase(ctl: Controllers, pv: Obj, phase: str) -> None:
    pv = copy_of(pv)
    pv.setdefault("status", {})["phase"] = phase
    ctl.put(R.preferred(*PV), pv)


# ---- claims ---------------------------------------------------------------------------------
def _sync_unbound_claim(ctl: Controllers, claim: Obj) -> None:
    spec = claim.get("spec") or {}
    wanted = spec.get("storageClassName") or ""
    volume = _matching_volume(ctl, claim, wanted)
    if volume is not None:
        _bind(ctl, claim, volume, by_controller=True)
        return
    sc = ctl.store.get(CLASSES, "", wanted) if wanted else None
    if sc is None:
        return  # no class, no match: Pending (FailedBinding events are not emitted here)
    provisioner = sc.get("provisioner", "")
    meta = claim["metadata"]
    annotations = meta.get("annotations") or {}
    if "volume.kubernetes.io/storage-provisioner" not in annotations:
        claim = copy_of(claim)
        claim["metadata"].setdefault("annotations", {}).update(
            {
                "volume.beta.kubernetes.io/storage-provisioner": provisioner,
                "volume.kubernetes.io/storage-provisioner": provisioner,
            }
        )
        claim = ctl.put(R.preferred(*PVC), claim)
        message = WAITING.format(p=provisioner)
        ctl.event(claim, "Normal", "ExternalProvisioning", message, "persistentvolume-controller")
    if provisioner == HOSTPATH:
        _provision(ctl, claim, sc)


def _matching_volume(ctl: Controllers, claim: Obj, wanted: str) -> Obj | None:
    """findBestMatchForClaim: the smallest Available volume of the class that fits."""
    spec = claim.get("spec") or {}
    need = _storage(spec.get("resources", {}).get("requests", {}).get("storage"))
    modes = set(spec.get("accessModes") or [])
    best: Obj | None = None
    for pv in ctl.store.list(PV):
        pspec = pv.get("spec") or {}
        ref = pspec.get("claimRef")
        if ref is not None:
            if ref.get("name") != claim["metadata"]["name"] or ref.get("namespace") != claim[
                "metadata"
            ].get("namespace"):
                continue
        elif (pv.get("status") or {}).get("phase") != "Available":
            continue
        if (pspec.get("storageClassName") or "") != wanted or pv["metadata"].get(
            "deletionTimestamp"
        ):
            continue
        size = _storage((pspec.get("capacity") or {}).get("storage"))
        if size < need or not modes <= set(pspec.get("accessModes") or []):
            continue
        if spec.get("volumeName") and spec["volumeName"] != pv["metadata"]["name"]:
            continue
        if best is None or size < _storage((best["spec"].get("capacity") or {}).get("storage")):
            best = pv
    return best


def _storage(text: object) -> int:
    try:
        return parse(text).nanos if text is not None else 0
    except QuantityError:
        return 0


def _provision(ctl: Controllers, claim: Obj, sc: Obj) -> None:
    """minikube's hostpath provisioner: a Delete-policy hostPath volume made for the claim."""
    meta = claim["metadata"]
    name = f"pvc-{meta['uid']}"
    who = f"{HOSTPATH}_{ctl.node}_{PROVISIONER_ID}"
    if ctl.store.get(PV, "", name) is not None:
        return
    ns = meta.get("namespace", "")
    message = f'External provisioner is provisioning volume for claim "{ns}/{meta["name"]}"'
    ctl.event(claim, "Normal", "Provisioning", message, who)
    spec = claim.get("spec") or {}
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "annotations": {
                "hostPathProvisionerIdentity": ctl.node,
                "pv.kubernetes.io/provisioned-by": HOSTPATH,
            },
        },
        "spec": {
            "accessModes": list(spec.get("accessModes") or []),
            "capacity": {"storage": spec.get("resources", {}).get("requests", {}).get("storage")},
            "claimRef": _claim_ref(claim),
            "hostPath": {"path": f"/tmp/hostpath-provisioner/{ns}/{meta['name']}", "type": ""},
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
            "storageClassName": sc["metadata"]["name"],
            "volumeMode": spec.get("volumeMode") or "Filesystem",
        },
    }
    ctl.api.create(R.preferred(*PV), "", volume, internal=True)
    ctl.event(
        claim, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {name}", who
    )
    pv = ctl.store.get(PV, "", name)
    if pv is not None:
        _bind(ctl, claim, pv, by_controller=False)


def _claim_ref(claim: Obj) -> Obj:
    meta = claim["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "name": meta["name"],
        "namespace": meta.get("namespace", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
        "uid": meta["uid"],
    }


def _bind(ctl: Controllers, claim: Obj, pv: Obj, *, by_controller: bool) -> None:
    """bindVolumeToClaim, then bindClaimToVolume: both Bound."""
    pv = copy_of(pv)
    if (pv["spec"].get("claimRef") or {}).get("uid") != claim["metadata"]["uid"]:
        pv["spec"]["claimRef"] = _claim_ref(claim)
        if by_controller:
            pv["metadata"].setdefault("annotations", {})["pv.kubernetes.io/bound-by-controller"] = (
                "yes"
            )
    pv.setdefault("status", {})["phase"] = "Bound"
    ctl.put(R.preferred(*PV), pv)
    claim = copy_of(claim)
    notes = claim["metadata"].setdefault("annotations", {})
    if claim["spec"].get("volumeName") != pv["metadata"]["name"]:
        claim["spec"]["volumeName"] = pv["metadata"]["name"]
        notes.setdefault("pv.kubernetes.io/bound-by-controller", "yes")
    notes.setdefault("pv.kubernetes.io/bind-completed", "yes")
    claim["status"] = {
        "phase": "Bound",
        "accessModes": list(pv["spec"].get("accessModes") or []),
        "capacity": dict(pv["spec"].get("capacity") or {}),
    }
    ctl.put(R.preferred(*PVC), claim)


def _release_claim(ctl: Controllers, claim: Obj) -> None:
    """pvc-protection: the finalizer goes once no pod uses the claim."""
    meta = claim["metadata"]
    if PVC_PROTECTION not in (meta.get("finalizers") or []):
        return
    name, ns = meta["name"], meta.get("namespace", "")
    for pod in ctl.store.list(R.POD.key, ns):
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            if (volume.get("persistentVolumeClaim") or {}).get("claimName") == name:
                return
    _drop_finalizer(ctl, R.preferred(*PVC), claim, PVC_PROTECTION)


def _drop_finalizer(ctl: Controllers, res: R.Resource, obj: Obj, finalizer: str) -> None:
    meta = obj["metadata"]
    rest = [f for f in meta.get("finalizers") or [] if f != finalizer]
    if rest:
        obj = copy_of(obj)
        obj["metadata"]["finalizers"] = rest
        ctl.put(res, obj)
    else:
        ctl.store.remove(res.key, meta.get("namespace", ""), meta["name"])
