"""Label and field selectors as the API server parses them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .status import bad_request

Requirement = tuple[str, str, tuple[str, ...]]  # (key, operator, values)

_TOKEN = re.compile(r"\s*(!=|==|=|,|\(|\)|!|[^\s,()!=]+)")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            break
        if m.group(1):
            out.append(m.group(1))
        pos = m.end()
    return out


def parse_labels(text: str) -> list[Requirement]:
    """Parse `a=b,c!=d,e in (f,g),h notin (i),j,!k` into requirements."""
    toks = _tokens(text)
    reqs: list[Requirement] = []
    i = 0
    while i < len(toks):
        if toks[i] == ",":
            i += 1
            continue
        if toks[i] == "!":
            reqs.append((toks[i + 1], "!", ()))
            i += 2
            continue
        key = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ","
        if nxt in ("=", "==", "!="):
            val = toks[i + 2] if i + 2 < len(toks) and toks[i + 2] != "," else ""
            reqs.append((key, "!=" if nxt == "!=" else "=", (val,)))
            i += 3 if val else 2
        elif nxt in ("in", "notin"):
            if i + 2 >= len(toks) or toks[i + 2] != "(":
                raise bad_request(f"unable to parse requirement: found '{nxt}', expected: '('")
            j = i + 3
            vals: list[str] = []
            while j < len(toks) and toks[j] != ")":
                if toks[j] != ",":
                    vals.append(toks[j])
                j += 1
            reqs.append((key, nxt, tuple(vals)))
            i = j + 1
        else:
            reqs.append((key, "exists", ()))
            i += 1
    return reqs


def match_requirements(reqs: list[Requirement], labels: dict[str, str]) -> bool:
    """True when the labels satisfy every requirement."""
    return all(_requirement_ok(op, key in labels, labels.get(key), vals) for key, op, vals in reqs)


def _requirement_ok(op: str, has: bool, val: str | None, vals: tuple[str, ...]) -> bool:
    first = vals[0] if vals else ""
    if op == "=":
        return has and val == first
    if op == "!=":
        return not has or val != first
    if op == "in":
        return has and val in vals
    if op == "notin":
        return not has or val not in vals
    return has if op == "exists" else not has


def selector_requirements(sel: dict[str, Any] | None) -> list[Requirement] | None:
    """Requirements of a metav1.LabelSelector; None means it selects nothing."""
    if sel is None:
        return None
    reqs: list[Requirement] = [
        (k, "=", (str(v),)) for k, v in (sel.get("matchLabels") or {}).items()
    ]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in sel.get("matchExpressions") or []:
        reqs.append((expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return reqs


def selector_matches(sel: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Match a LabelSelector (an empty selector matches everything)."""
    reqs = selector_requirements(sel)
    return reqs is not None and match_requirements(reqs, labels)


def selector_string(sel: dict[str, Any] | None) -> str:
    """Format a LabelSelector like `metav1.FormatLabelSelector`."""
    if sel is None:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or []:
        op = expr["operator"]
        key = expr["key"]
        vals = ",".join(sorted(expr.get("values") or []))
        parts.append(
            {
                "In": f"{key} in ({vals})",
                "NotIn": f"{key} notin ({vals})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[op]
        )
    return ",".join(parts) if parts else "<none>"


def _field(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    return str(cur)


def parse_fields(text: str, kind: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate for a field selector (`a=b,c!=d`); unknown fields are a 400 like the server."""
    reqs: list[tuple[str, bool, str]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.match(r"^([^=!]+)(==|!=|=)(.*)$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        fld, op, val = m.group(1), m.group(2), m.group(3)
        if not _field_allowed(kind, fld):
            raise bad_request(
                f'"{fld}" is not a known field selector: only "metadata.name", "metadata.namespace"'
            )
        reqs.append((fld, op == "!=", val))

    def pred(obj: dict[str, Any]) -> bool:
        return all((_field(obj, f) != v) if neg else (_field(obj, f) == v) for f, neg, v in reqs)

    return pred


_EXTRA_FIELDS = {
    "Pod": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
    ),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Namespace": ("status.phase",),
    "Node": ("spec.unschedulable",),
    "Secret": ("type",),
    "ReplicaSet": ("status.replicas",),
    "Job": ("status.successful",),
    "Service": ("spec.clusterIP", "spec.type"),
}


def _field_allowed(kind: str, fld: str) -> bool:
    return fld in ("metadata.name", "metadata.namespace") or fld in _EXTRA_FIELDS.get(kind, ())
