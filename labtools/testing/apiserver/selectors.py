"""Label and field selectors as the API server parses them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .labels import Requirement, SelectorError, parse_selector
from .status import bad_request


def parse_labels(text: str) -> list[Requirement]:
    """labels.Parse of `a=b,c!=d,e in (f,g),h notin (i),j,!k`; a 400 with its text if bad."""
    try:
        return parse_selector(text)
    except SelectorError as exc:
        raise bad_request(str(exc)) from None


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
    if op in (">", "<"):
        try:
            number = int(val or "")
        except ValueError:
            return False
        return number > int(first) if op == ">" else number < int(first)
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
    if isinstance(cur, bool):
        return "true" if cur else "false"  # strconv.FormatBool
    return str(cur)


# Field selectors, per kind, as the real server converts and matches them (Kubernetes v1.32):
# the labels each kind's AddFieldLabelConversionFunc accepts (pkg/apis/core/v1/conversion.go,
# pkg/apis/batch/v1/conversion.go, pkg/apis/certificates/v1/conversion.go; every other kind
# gets runtime.DefaultMetaV1FieldSelectorConversion), its error text for any other label, and
# how a label reads an object (each registry's ToSelectableFields in pkg/registry/...).
NOT_SUPPORTED = "field label not supported: {label}"
_CORE_META = ("metadata.name", "metadata.namespace")
_FIELD_LABELS: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    (
        "",
        "Pod",
    ): (
        (
            *_CORE_META,
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
            "spec.host",
        ),
        NOT_SUPPORTED,
    ),
    ("", "Node"): (("metadata.name", "spec.unschedulable"), NOT_SUPPORTED),
    ("", "ReplicationController"): ((*_CORE_META, "status.replicas"), NOT_SUPPORTED),
    (
        "",
        "Event",
    ): (
        (
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
            *_CORE_META,
        ),
        NOT_SUPPORTED,
    ),
    ("", "Namespace"): (("status.phase", "metadata.name"), NOT_SUPPORTED),
    ("", "Secret"): (("type", *_CORE_META), NOT_SUPPORTED),
    ("", "Service"): ((*_CORE_META, "spec.clusterIP", "spec.type"), NOT_SUPPORTED),
    ("batch", "Job"): (
        (*_CORE_META, "status.successful"),
        'field label "{label}" not supported for batchv1.Job',
    ),
    ("certificates.k8s.io", "CertificateSigningRequest"): (
        ("metadata.name", "spec.signerName"),
        NOT_SUPPORTED,
    ),
    # the ReplicaSet registry selects on status.replicas (ReplicaSetToSelectableFields)
    ("apps", "ReplicaSet"): ((*_CORE_META, "status.replicas"), NOT_SUPPORTED),
}
_DEFAULT_ERROR = (
    '"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"'
)


def _selectable(obj: dict[str, Any], kind: str, label: str) -> str:
    """The value a field label reads from an object (the registries' selectable fields)."""
    if kind == "Pod":
        if label == "spec.host":
            label = "spec.nodeName"
        if label == "status.podIP":
            ips = (obj.get("status") or {}).get("podIPs") or []
            return str(ips[0].get("ip", "")) if ips else _field(obj, "status.podIP")
        if label == "status.podIPs":
            return ""  # accepted by the conversion, not among the pod's selectable fields
        if label == "spec.hostNetwork":
            return "true" if (obj.get("spec") or {}).get("hostNetwork") else "false"
    if kind == "Node" and label == "spec.unschedulable":
        return "true" if (obj.get("spec") or {}).get("unschedulable") else "false"
    if kind == "Event" and label == "source":
        return _field(obj, "source.component")
    if label in ("status.successful", "status.replicas") and kind in (
        "Job",
        "ReplicaSet",
        "ReplicationController",
    ):
        key = "succeeded" if label == "status.successful" else "replicas"
        return str(int((obj.get("status") or {}).get(key) or 0))
    return _field(obj, label)


def parse_fields(text: str, kind: str, group: str = "") -> Callable[[dict[str, Any]], bool]:
    """A predicate for a field selector (`a=b,c!=d`); an unknown label is the server's 400."""
    allowed, error = _FIELD_LABELS.get((group, kind), (_CORE_META, _DEFAULT_ERROR))
    reqs: list[tuple[str, bool, str]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.match(r"^([^=!]+)(==|!=|=)(.*)$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        fld, op, val = m.group(1).strip(), m.group(2), m.group(3).strip()
        if fld not in allowed:
            raise bad_request(error.format(label=fld))
        reqs.append((fld, op == "!=", val))

    def pred(obj: dict[str, Any]) -> bool:
        return all((_selectable(obj, kind, f) != v) == neg for f, neg, v in reqs)

    return pred
