"""Server-side field ownership: ``metadata.managedFields`` and apply, as kube-apiserver v1.32 does.

A port of the parts of sigs.k8s.io/structured-merge-diff (``typed/tofieldset.go``,
``typed/compare.go``, ``typed/merge.go``, ``merge/update.go``) and of
``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager`` (``internal/stripmeta.go``,
``managedfields.go`` encoding and sorting, ``internal/conflict.go`` texts) that labs meet:

* every write records, per manager identity (manager, operation, apiVersion for Update,
  subresource), the set of fields it set, in the ``FieldsV1`` trie encoding (``f:name``,
  ``k:{"name":"web"}``, ``v:"x"``, ``.`` for the node itself) with the time of its last change;
* an Update takes the fields it added or changed from every other manager;
* an Apply merges its configuration into the object, removes the fields it applied before and no
  longer applies (when nobody else owns them), owns exactly what it applied, and fails with a
  409 when it would change a field another manager owns, unless forced.

Field types come from the v1.32 OpenAPI schemas (``data/types-v1.32.json.gz``): structs,
maps, and lists that are atomic, sets or associative by their ``x-kubernetes-list-map-keys``.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import resources as R

Obj = dict[str, Any]
Path = tuple[str, ...]  # encoded path elements: "f:spec", 'k:{"name":"web"}', 'v:"x"'
FieldSet = set[Path]
_ABSENT = object()
KEY_DEFAULTS = {"protocol": "TCP"}

# stripmeta.go: never tracked (exact paths; their children are)
STRIPPED: FieldSet = {
    ("f:apiVersion",),
    ("f:kind",),
    ("f:metadata",),
    *(
        ("f:metadata", f"f:{name}")
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    ),
}

# Go zero values: the struct-valued (non-pointer) fields a new object of a kind already has when
# its first write is compared (`&apps.Deployment{}` has spec.template and spec.strategy), and
# the slices encoded as null without omitempty (PodSpec.containers); everything else is absent
_POD_TEMPLATE: Obj = {"metadata": {}, "spec": {"containers": None}}
ZERO: dict[str, Obj] = {
    "Deployment": {"spec": {"template": _POD_TEMPLATE, "strategy": {}}, "status": {}},
    "ReplicaSet": {"spec": {"template": _POD_TEMPLATE}, "status": {}},
    "StatefulSet": {"spec": {"template": _POD_TEMPLATE, "updateStrategy": {}}, "status": {}},
    "DaemonSet": {"spec": {"template": _POD_TEMPLATE, "updateStrategy": {}}, "status": {}},
    "Job": {"spec": {"template": _POD_TEMPLATE}, "status": {}},
    "CronJob": {
        "spec": {"jobTemplate": {"metadata": {}, "spec": {"template": _POD_TEMPLATE}}},
        "status": {},
    },
    "Pod": {"spec": {"containers": None}, "status": {}},
    "PodTemplate": {"template": _POD_TEMPLATE},
    "Service": {"spec": {}, "status": {"loadBalancer": {}}},
    "Namespace": {"spec": {}, "status": {}},
    "Node": {"spec": {}, "status": {"daemonEndpoints": {"kubeletEndpoint": {}}, "nodeInfo": {}}},
    "PersistentVolumeClaim": {"spec": {"resources": {}}, "status": {}},
    "HorizontalPodAutoscaler": {"spec": {"scaleTargetRef": {}}, "status": {}},
    "Ingress": {"spec": {}, "status": {"loadBalancer": {}}},
    "PodDisruptionBudget": {"spec": {}, "status": {}},
    "Role": {"rules": None},
    "ClusterRole": {"rules": None},
    "RoleBinding": {"roleRef": {}},
    "ClusterRoleBinding": {"roleRef": {}},
    "EndpointSlice": {"endpoints": None},
    "ResourceQuota": {"spec": {}, "status": {}},
    "LimitRange": {"spec": {"limits": None}},
}


# ---- schemas --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    """One schema node, classified the way structured-merge-diff's schemaconv does."""

    kind: str  # "struct", "map", "list", "scalar"
    schema: Obj
    list_type: str = "atomic"  # "atomic", "set", "map"
    keys: tuple[str, ...] = ()

    def field(self, name: str) -> Node:
        """The node of a struct field or map value (untyped when the schema does not say)."""
        if self.kind == "struct":
            prop = (self.schema.get("properties") or {}).get(name)
            return classify(prop) if prop is not None else UNTYPED
        if self.kind == "map":
            return classify(self.schema.get("additionalProperties") or {})
        return UNTYPED

    def item(self) -> Node:
        """The node of a list item."""
        return classify(self.schema.get("items") or {})


UNTYPED = Node("scalar", {})


TYPES_FILE = pathlib.Path(__file__).with_name("data") / "types-v1.32.json.gz"


@functools.cache
def _schemas() -> dict[str, Obj]:
    """The v1.32 schemas' types (``data/types-v1.32.json.gz``, made by ``openapi_gen.py``)."""
    schemas: dict[str, Obj] = json.loads(gzip.decompress(TYPES_FILE.read_bytes()))["schemas"]
    return schemas


@functools.cache
def _by_gvk() -> dict[tuple[str, str, str], Obj]:
    index: dict[tuple[str, str, str], Obj] = {}
    for schema in _schemas().values():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            index[(gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))] = schema
    return index


def _resolve(schema: Obj) -> Obj:
    ref = schema.get("$ref")
    if ref is None and len(schema.get("allOf") or []) == 1:
        ref = schema["allOf"][0].get("$ref")
    if ref:
        target = _schemas().get(ref.rsplit("/", 1)[-1], {})
        return {**target, **{k: v for k, v in schema.items() if k not in ("$ref", "allOf")}}
    return schema


_NODES: dict[int, tuple[Obj, Node]] = {}


def classify(schema: Obj) -> Node:
    """A schema as a struct, map, list (with its list type and keys) or scalar/atomic value."""
    # the schemas live as long as the process (discovery.openapi_data is cached): remember
    # each one's node by identity, keeping the schema referenced so the id stays its own
    known = _NODES.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    node = _classify(schema)
    _NODES[id(schema)] = (schema, node)
    return node


def _classify(schema: Obj) -> Node:
    schema = _resolve(schema)
    if schema.get("x-kubernetes-map-type") == "atomic":
        return Node("scalar", schema)
    if schema.get("type") == "array":
        list_type = schema.get("x-kubernetes-list-type")
        keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
        merge_key = schema.get("x-kubernetes-patch-merge-key")
        if list_type is None and schema.get("x-kubernetes-patch-strategy", "").startswith("merge"):
            list_type = "map" if merge_key else "set"
            keys = (merge_key,) if merge_key else ()
        return Node("list", schema, list_type or "atomic", keys)
    if schema.get("properties"):
        return Node("struct", schema)
    if isinstance(schema.get("additionalProperties"), dict):
        return Node("map", schema)
    return Node("scalar", schema)


def root(res: R.Resource) -> Node:
    """The schema node of a resource's kind."""
    schema = _by_gvk().get((res.group, res.version, res.kind))
    return classify(schema) if schema is not None else Node("struct", {"properties": {}})


# ---- path elements ----------------------------------------------------------------------------
def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def item_element(node: Node, index: int, item: Any) -> str:
    """The path element of a list item: its key fields, its value, or its index."""
    if node.list_type == "map" and isinstance(item, dict):
        # a key field the item leaves out takes its schema default (structured-merge-diff's
        # keys with defaults; in the v1.32 built-ins that is protocol: TCP of ports)
        fields = {k: item.get(k, KEY_DEFAULTS.get(k)) for k in node.keys}
        fields = {k: v for k, v in fields.items() if v is not None}
        return "k:" + _json(dict(sorted(fields.items())))
    if node.list_type == "set":
        return "v:" + _json(item)
    return f"i:{index}"


def path_string(path: Path) -> str:
    """``fieldpath.Path.String()``: ``.spec.containers[name="web"].image``."""
    out = []
    for element in path:
        tag, rest = element[:2], element[2:]
        if tag == "f:":
            out.append("." + rest)
        elif tag == "k:":
            fields = json.loads(rest)
            out.append("[" + ",".join(f"{k}={_json(v)}" for k, v in fields.items()) + "]")
        elif tag == "v:":
            out.append("[=" + rest + "]")
        else:
            out.append("[" + rest + "]")
    return "".join(out)


# ---- field sets ----------------------------------------------------------------------------
def field_set(obj: Any, node: Node, path: Path = ()) -> FieldSet:
    """``ToFieldSet``: every leaf, empty or untyped value, and list item, of ``obj``."""
    out: FieldSet = set()
    if node.kind in ("struct", "map") and isinstance(obj, dict):
        for key, value in obj.items():
            child = (*path, f"f:{key}")
            sub = node.field(key)
            out |= field_set(value, sub, child)
            if value is None or value == {}:
                out.add(child)  # leaves and list items add themselves; empty values here
        return out
    if node.kind == "list" and node.list_type != "atomic" and isinstance(obj, list):
        item = node.item()
        for index, value in enumerate(obj):
            child = (*path, item_element(node, index, value))
            out |= field_set(value, item, child)
            out.add(child)
        return out
    if path:
        out.add(path)
    return out


@dataclass
class Comparison:
    """What changed between two objects: fields added, removed and modified."""

    added: FieldSet
    removed: FieldSet
    modified: FieldSet

    def changed(self) -> FieldSet:
        """Added or modified."""
        return self.added | self.modified


def compare(lhs: Any, rhs: Any, node: Node) -> Comparison:
    """``TypedValue.Compare``: the merge walker's view of ``lhs`` -> ``rhs``."""
    result = Comparison(set(), set(), set())
    _walk(lhs, rhs, node, (), result)
    return result


def _walk(lhs: Any, rhs: Any, node: Node, path: Path, out: Comparison) -> None:
    composite = node.kind in ("struct", "map") or (
        node.kind == "list" and node.list_type != "atomic"
    )
    if not composite or not (_is_container(lhs) or _is_container(rhs)):
        if path:
            _rule(lhs, rhs, path, out)
        return
    if node.kind == "list":
        _walk_list(lhs, rhs, node, path, out)
        return
    left = lhs if isinstance(lhs, dict) else {}
    right = rhs if isinstance(rhs, dict) else {}
    for key in list(left) + [k for k in right if k not in left]:
        child = (*path, f"f:{key}")
        lv, rv = left.get(key, _ABSENT), right.get(key, _ABSENT)
        _walk(_value(lv), _value(rv), node.field(key), child, out)
        _hook(lv, rv, child, out)


def _walk_list(lhs: Any, rhs: Any, node: Node, path: Path, out: Comparison) -> None:
    item = node.item()
    left = {item_element(node, i, v): v for i, v in enumerate(lhs or [])}
    right = {item_element(node, i, v): v for i, v in enumerate(rhs or [])}
    for element in list(left) + [e for e in right if e not in left]:
        child = (*path, element)
        lv, rv = left.get(element, _ABSENT), right.get(element, _ABSENT)
        _walk(_value(lv), _value(rv), item, child, out)
        _hook(lv, rv, child, out)


def _is_container(value: Any) -> bool:
    return isinstance(value, dict | list)


def _value(value: Any) -> Any:
    return None if value is _ABSENT else value


def _rule(lhs: Any, rhs: Any, path: Path, out: Comparison) -> None:
    if lhs is None and rhs is not None:
        out.added.add(path)
    elif rhs is None and lhs is not None:
        out.removed.add(path)
    elif lhs != rhs:
        out.modified.add(path)


def _hook(lhs: Any, rhs: Any, path: Path, out: Comparison) -> None:
    if lhs is _ABSENT and rhs is not _ABSENT:
        out.added.add(path)
    elif rhs is _ABSENT and lhs is not _ABSENT:
        out.removed.add(path)


def recursive_difference(fields: FieldSet, ignored: FieldSet) -> FieldSet:
    """``RecursiveDifference``: drop ``ignored`` paths and everything below them."""
    return {p for p in fields if not any(p[: len(i)] == i for i in ignored)}


# ---- merge and prune (apply) -----------------------------------------------------------------
def merge(lhs: Any, rhs: Any, node: Node) -> Any:
    """``TypedValue.Merge``: ``rhs`` (the applied configuration) over ``lhs`` (the object)."""
    if node.kind in ("struct", "map") and isinstance(lhs, dict) and isinstance(rhs, dict):
        out = dict(lhs)
        for key, value in rhs.items():
            out[key] = merge(lhs[key], value, node.field(key)) if key in lhs else value
        return out
    if node.kind == "list" and node.list_type != "atomic" and isinstance(lhs, list):
        if not isinstance(rhs, list):
            return rhs
        item = node.item()
        right = {item_element(node, i, v): v for i, v in enumerate(rhs)}
        left = {item_element(node, i, v): v for i, v in enumerate(lhs)}
        merged = [merge(left[e], v, item) if e in left else v for e, v in right.items()]
        return merged + [v for e, v in left.items() if e not in right]
    return copy.deepcopy(rhs)


def remove(obj: Any, node: Node, paths: FieldSet, path: Path = ()) -> Any:
    """``RemoveItems``: ``obj`` without the given paths (fields, list items, set values)."""
    if not paths:
        return obj
    if node.kind in ("struct", "map") and isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            child = (*path, f"f:{key}")
            if child in paths:
                continue
            out[key] = remove(value, node.field(key), paths, child)
        return out
    if node.kind == "list" and node.list_type != "atomic" and isinstance(obj, list):
        item = node.item()
        kept = []
        for index, value in enumerate(obj):
            child = (*path, item_element(node, index, value))
            if child not in paths:
                kept.append(remove(value, item, paths, child))
        return kept
    return obj


# ---- managers ----------------------------------------------------------------------------------
@dataclass
class Manager:
    """One managedFields entry, its fields decoded."""

    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str
    fields: FieldSet

    def identity(self) -> tuple[str, str, str, str]:
        """BuildManagerIdentifier: appliers are one manager whatever their apiVersion."""
        version = "" if self.operation == "Apply" else self.api_version
        return (self.manager, self.operation, version, self.subresource)

    def describe(self) -> str:
        """printManager of internal/conflict.go (an Update's time is not in its identity)."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


def decode(obj: Obj) -> list[Manager]:
    """The managers of an object's ``metadata.managedFields``."""
    out = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        out.append(
            Manager(
                manager=entry.get("manager", ""),
                operation=entry.get("operation", "Update"),
                api_version=entry.get("apiVersion", ""),
                subresource=entry.get("subresource", ""),
                time=entry.get("time", ""),
                fields=_from_trie(entry.get("fieldsV1") or {}, ()),
            )
        )
    return out


def _from_trie(trie: Obj, path: Path) -> FieldSet:
    out: FieldSet = set()
    for key, sub in trie.items():
        if key == ".":
            out.add(path)
            continue
        child = (*path, key)
        if not sub:
            out.add(child)
        else:
            out |= _from_trie(sub, child)
    return out


def to_trie(fields: Iterable[Path]) -> Obj:
    """The FieldsV1 encoding of a field set (keys sorted, as Go marshals the trie)."""
    trie: Obj = {}
    for path in fields:
        node = trie
        for element in path:
            node = node.setdefault(element, {})
        node.setdefault(".", {})
    return _collapse(trie)


def _collapse(node: Obj) -> Obj:
    children = {k: _collapse(v) for k, v in sorted(node.items()) if k != "."}
    if "." in node and children:
        return {".": {}, **children}
    return children


def encode(managers: list[Manager]) -> list[Obj]:
    """``metadata.managedFields``: entries sorted like sortEncodedManagedFields."""
    entries = []
    for m in sorted(
        managers,
        key=lambda m: (m.operation, m.time, m.manager, m.api_version, m.subresource),
    ):
        if not m.fields:
            continue
        entry: Obj = {
            "apiVersion": m.api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_trie(m.fields),
            "manager": m.manager,
            "operation": m.operation,
        }
        if m.subresource:
            entry["subresource"] = m.subresource
        entry["time"] = m.time
        entries.append(entry)
    return entries


def now() -> str:
    """RFC 3339 with seconds, as metav1.Time marshals."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- the field manager ---------------------------------------------------------------------------
class ApplyConflict(Exception):
    """An apply would change fields other managers own (409 Conflict)."""

    def __init__(self, conflicts: list[tuple[Manager, Path]]) -> None:
        self.conflicts = conflicts
        super().__init__(self.message())

    def message(self) -> str:
        """getConflictMessage of internal/conflict.go."""
        if len(self.conflicts) == 1:
            manager, path = self.conflicts[0]
            return (
                f"Apply failed with 1 conflict: conflict with {manager.describe()}: "
                f"{path_string(path)}"
            )
        by_manager: dict[str, list[Path]] = {}
        for manager, path in self.conflicts:
            by_manager.setdefault(manager.describe(), []).append(path)
        lines = []
        for name in sorted(by_manager):
            lines.append(f"conflicts with {name}:")
            lines.extend(f"- {path_string(p)}" for p in by_manager[name])
        return f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)

    def causes(self) -> list[Obj]:
        """The Status causes: one FieldManagerConflict per field."""
        return [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {manager.describe()}",
                "field": path_string(path),
            }
            for manager, path in self.conflicts
        ]


def _tracked(obj: Obj) -> Obj:
    """The object as the field manager sees it: without its managedFields."""
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def ignored_fields(res: R.Resource, subresource: str) -> FieldSet:
    """The strategies' ResetFields: status on the main resource, spec on /status."""
    has_status = "status" in R.preferred(res.group, res.plural).subresources
    if subresource == "status":
        return {("f:spec",)}
    if has_status and res.kind != "Namespace":
        return {("f:status",)}
    return set()


def zero(res: R.Resource) -> Obj:
    """A new object of the kind, as Go's zero value of its type encodes."""
    return {"metadata": {}, **copy.deepcopy(ZERO.get(res.kind, {}))}


def update(
    res: R.Resource,
    old: Obj | None,
    new: Obj,
    manager: str,
    subresource: str = "",
    operation: str = "Update",
) -> None:
    """Record an Update (or a create) by ``manager`` in ``new``'s managedFields."""
    node = root(res)
    live = _tracked(old) if old is not None else zero(res)
    managers = decode(old) if old is not None else []
    diff = compare(live, _tracked(new), node)
    if not diff.added and not diff.removed and not diff.modified and old is not None:
        new["metadata"]["managedFields"] = (old.get("metadata") or {}).get("managedFields")
        if not new["metadata"]["managedFields"]:
            new["metadata"].pop("managedFields", None)
        return
    me = Manager(manager, operation, res.api_version, subresource, now(), set())
    changed = diff.changed()
    for other in managers:
        if other.identity() == me.identity():
            me.fields = other.fields
            continue
        other.fields = other.fields - changed - diff.removed
    managers = [m for m in managers if m.identity() != me.identity()]
    fields = (me.fields - diff.removed) | changed
    me.fields = recursive_difference(fields - STRIPPED, ignored_fields(res, subresource))
    _store(new, [*managers, me])


def _store(obj: Obj, managers: list[Manager]) -> None:
    entries = encode(managers)
    if entries:
        obj.setdefault("metadata", {})["managedFields"] = entries
    else:
        (obj.get("metadata") or {}).pop("managedFields", None)


def apply(
    res: R.Resource, live: Obj | None, config: Obj, manager: str, force: bool
) -> tuple[Obj, list[Manager]]:
    """Merge an applied configuration: the new object and its managers (ApplyConflict)."""
    node = root(res)
    base = _tracked(live) if live is not None else zero(res)
    managers = decode(live) if live is not None else []
    applied = recursive_difference(
        field_set(_tracked(config), node) - STRIPPED, ignored_fields(res, "")
    )
    identity = (manager, "Apply", "", "")
    previous = next((m for m in managers if m.identity() == identity), None)
    merged = merge(base, config, node)
    if previous is not None:
        others = set().union(*(m.fields for m in managers if m.identity() != identity))
        merged = remove(merged, node, previous.fields - applied - others)
    diff = compare(base, merged, node)
    changed = diff.changed()
    conflicts = [
        (other, path)
        for other in managers
        if other.identity() != identity
        for path in sorted(other.fields & changed & applied)
    ]
    if conflicts and not force and manager == "kubectl" and live is not None:
        # lastappliedmanager.go: kubectl moving from client-side to server-side apply may take
        # the fields whose live values are still those of its last-applied annotation
        allowed = _allowed_from_last_applied(live, node)
        conflicts = [(m, p) for m, p in conflicts if p not in allowed]
        force = not conflicts
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    for other in managers:
        if other.identity() != identity:
            other.fields = other.fields - (changed & applied if force else set()) - diff.removed
    me = Manager(manager, "Apply", res.api_version, "", now(), applied)
    if previous is not None and previous.fields == applied and not changed:
        me.time = previous.time
    if manager == "kubectl" and live is not None and _last_applied(live) is not None:
        # lastappliedupdater.go: kubectl's server-side apply keeps the annotation in step
        annotations = merged.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[LAST_APPLIED] = build_last_applied(config)
    kept = [m for m in managers if m.identity() != identity]
    return merged, [*kept, me]


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _last_applied(obj: Obj) -> str | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    return value if value else None


def build_last_applied(config: Obj) -> str:
    """buildLastApplied: the applied object without the annotation, as Go encodes JSON."""
    obj = copy.deepcopy(config)
    annotations = (obj.get("metadata") or {}).get("annotations")
    if annotations is not None:
        annotations.pop(LAST_APPLIED, None)
    return json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n"


def _allowed_from_last_applied(live: Obj, node: Node) -> FieldSet:
    """allowedConflictsFromLastApplied: last-applied fields whose live value is unchanged."""
    text = _last_applied(live)
    if text is None:
        return set()
    try:
        last = json.loads(text)
    except ValueError:
        return set()
    if not isinstance(last, dict):
        return set()
    fields = field_set(last, node)
    diff = compare(last, _tracked(live), node)
    return fields - diff.modified - diff.added - diff.removed


def store_apply(obj: Obj, managers: list[Manager]) -> None:
    """Write the managers of an apply into the (defaulted) object."""
    _store(obj, managers)
