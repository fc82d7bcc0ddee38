"""Unknown fields of a body, from the real v1.32 OpenAPI schemas of every built-in kind.

The real server decodes a body into its Go types with sigs.k8s.io/json's strict mode
(`staging/src/k8s.io/apimachinery/pkg/runtime/serializer/json/json.go`, `strictCaseSensitive
...`): every JSON key the Go struct does not declare is an `unknown field "a.b[0].c"`, in the
order the decoder meets them, status and metadata included. The Go structs are what the OpenAPI
schemas describe, so the walk follows `properties`; a map (`additionalProperties`) takes any key;
a schema with neither (`RawExtension`, `FieldsV1`) or `x-kubernetes-preserve-unknown-fields` takes
anything.
"""

from __future__ import annotations

import functools
from typing import Any

from .discovery import openapi_data

Obj = dict[str, Any]
REF_PREFIX = "#/components/schemas/"


@functools.cache
def _kind_index() -> dict[tuple[str, str, str], str]:
    """(group, version, kind) -> schema name, from each schema's x-kubernetes-group-version-kind."""
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in openapi_data()["schemas"].items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
            # the definition in the group's own package wins over a shared one (DeleteOptions)
            index.setdefault(key, name)
    return index


def kind_schema(group: str, version: str, kind: str) -> Obj | None:
    """The OpenAPI schema of one kind, or None when v1.32 has none (the fake's own kinds)."""
    name = _kind_index().get((group, version, kind))
    if name is None:
        return None
    schema: Obj = openapi_data()["schemas"][name]
    return schema


def _resolve(node: Obj) -> Obj:
    schemas = openapi_data()["schemas"]
    for _ in range(8):
        ref = node.get("$ref")
        if ref is None and len(node.get("allOf") or []) == 1:
            ref = node["allOf"][0].get("$ref")
        if not ref:
            return node
        node = schemas[ref.removeprefix(REF_PREFIX)]
    return node


def unknown_fields(
    group: str, version: str, kind: str, obj: Obj, drop: bool = False
) -> list[str] | None:
    """Paths of the fields `kind` does not declare; None when the kind has no real schema.

    With `drop` they are also removed from `obj`: a field the Go struct has no place for is
    not stored (fieldValidation Warn or Ignore), it just vanishes on decoding.
    """
    schema = kind_schema(group, version, kind)
    if schema is None:
        return None
    out: list[str] = []
    _walk(schema, obj, "", out, drop)
    return out


def _walk(node: Obj, value: Any, path: str, out: list[str], drop: bool) -> None:
    node = _resolve(node)
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        props = node.get("properties")
        if props is None:
            return  # a map, RawExtension or FieldsV1: any key is the value's own
        for key, val in list(value.items()):
            sub = f"{path}.{key}" if path else key
            if key not in props:
                out.append(sub)
                if drop:
                    del value[key]
            elif val is not None:
                _walk(props[key], val, sub, out, drop)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            if item is not None:
                _walk(node["items"], item, f"{path}[{i}]", out, drop)
