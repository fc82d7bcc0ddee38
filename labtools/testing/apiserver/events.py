"""Conversion between core v1 Events (the storage form) and events.k8s.io/v1 Events."""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]


def from_core(ev: Obj) -> Obj:
    """A stored core Event as events.k8s.io/v1."""
    if ev.get("kind") != "Event" or ev.get("apiVersion") != "v1":
        return ev
    out: Obj = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": copy.deepcopy(ev.get("metadata") or {}),
        "eventTime": ev.get("eventTime"),
        "reportingController": ev.get("reportingComponent")
        or (ev.get("source") or {}).get("component", ""),
        "reportingInstance": ev.get("reportingInstance", ""),
        "action": ev.get("action", ""),
        "reason": ev.get("reason", ""),
        "regarding": ev.get("involvedObject") or {},
        "note": ev.get("message", ""),
        "type": ev.get("type", ""),
    }
    if ev.get("source"):
        out["deprecatedSource"] = ev["source"]
    for src, dst in (
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
        ("count", "deprecatedCount"),
    ):
        if ev.get(src) is not None:
            out[dst] = ev[src]
    return out


def to_core(ev: Obj) -> Obj:
    """An events.k8s.io/v1 Event body as a core Event for storage."""
    out: Obj = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": copy.deepcopy(ev.get("metadata") or {}),
        "involvedObject": ev.get("regarding") or {},
        "reason": ev.get("reason", ""),
        "message": ev.get("note", ""),
        "type": ev.get("type", ""),
        "eventTime": ev.get("eventTime"),
        "reportingComponent": ev.get("reportingController", ""),
        "reportingInstance": ev.get("reportingInstance", ""),
        "action": ev.get("action", ""),
    }
    if ev.get("deprecatedSource"):
        out["source"] = ev["deprecatedSource"]
    for dst, src in (
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
        ("count", "deprecatedCount"),
    ):
        if ev.get(src) is not None:
            out[dst] = ev[src]
    return out
