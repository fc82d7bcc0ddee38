"""The endpoints and EndpointSlice controllers: a selector Service's pods as addresses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import resources as R
from .ctl_common import owner_ref, pod_ready
from .selectors import selector_matches
from .store import Obj, now_rfc3339

if TYPE_CHECKING:
    from .controllers import Controllers

SERVICE_NAME = "kubernetes.io/service-name"
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"


def sync_endpoints(ctl: Controllers) -> None:
    """One pass: the Endpoints and the EndpointSlice of every Service with a selector."""
    for svc in ctl.store.list(R.SERVICE.key):
        selector = svc["spec"].get("selector")
        if not selector or svc["metadata"].get("deletionTimestamp"):
            continue
        ns = svc["metadata"]["namespace"]
        pods = [
            p
            for p in ctl.store.scan(R.POD.key, ns)  # read only
            if selector_matches({"matchLabels": selector}, p["metadata"].get("labels") or {})
            and (p.get("status") or {}).get("podIP")
            and not p["metadata"].get("deletionTimestamp")
        ]
        _sync_endpoints(ctl, svc, pods)
        _sync_slice(ctl, svc, pods)


def _sync_endpoints(ctl: Controllers, svc: Obj, pods: list[Obj]) -> None:
    meta = svc["metadata"]
    subset = _subset(svc, pods)
    ep = ctl.store.get(R.ENDPOINTS.key, meta["namespace"], meta["name"])
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
        ctl.store.create(R.ENDPOINTS.key, ep)
        return
    want = [subset] if subset else None
    if ep.get("subsets") != want:
        if want:
            ep["subsets"] = want
        else:
            ep.pop("subsets", None)
        ep["metadata"].setdefault("annotations", {})[TRIGGER_TIME] = now_rfc3339()
        ctl.put(R.ENDPOINTS, ep)


def _subset(svc: Obj, pods: list[Obj]) -> Obj:
    """The one Endpoints subset of the pods: ready and not-ready addresses, and the ports."""
    ready = [_address(p) for p in pods if pod_ready(p)]
    not_ready = [_address(p) for p in pods if not pod_ready(p)]
    subset: Obj = {}
    if ready:
        subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
    if not_ready:
        subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
    if subset:
        subset["ports"] = [_ep_port(p, pods) for p in svc["spec"].get("ports") or []]
    return subset


def _sync_slice(ctl: Controllers, svc: Obj, pods: list[Obj]) -> None:
    meta = svc["metadata"]
    ns = meta["namespace"]
    endpoints = _slice_endpoints(ns, pods)
    ports = _slice_ports(svc, pods)
    existing = [
        s
        for s in ctl.store.list(R.ENDPOINTSLICE.key, ns)
        if (s["metadata"].get("labels") or {}).get(SERVICE_NAME) == meta["name"]
    ]
    if not existing:
        body = _new_slice(svc, endpoints, ports)
        ctl.api.create(R.ENDPOINTSLICE, ns, body, internal=True, opts=ctl.api.controller_opts())
        return
    cur = existing[0]
    if cur.get("endpoints") != (endpoints or None) or cur.get("ports") != ports:
        if endpoints:
            cur["endpoints"] = endpoints
        else:
            cur.pop("endpoints", None)
        cur["ports"] = ports
        ctl.put(R.ENDPOINTSLICE, cur)


def _slice_endpoints(ns: str, pods: list[Obj]) -> list[Obj]:
    return [
        {
            "addresses": [p["status"]["podIP"]],
            "conditions": {
                "ready": pod_ready(p),
                "serving": pod_ready(p),
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


def _slice_ports(svc: Obj, pods: list[Obj]) -> list[Obj]:
    return [
        {
            "name": p.get("name", ""),
            "port": _ep_port(p, pods)["port"],
            "protocol": p.get("protocol", "TCP"),
        }
        for p in svc["spec"].get("ports") or []
    ]


def _new_slice(svc: Obj, endpoints: list[Obj], ports: list[Obj]) -> Obj:
    meta = svc["metadata"]
    labels = {
        **(meta.get("labels") or {}),
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        SERVICE_NAME: meta["name"],
    }
    body: Obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": meta["name"] + "-",
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner_ref(svc)],
        },
        "addressType": "IPv4",
        "endpoints": endpoints or None,
        "ports": ports,
    }
    if not endpoints:
        body.pop("endpoints")
    return body


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
