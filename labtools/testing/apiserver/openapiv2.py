"""`/openapi/v2`: a Swagger 2.0 document built from the field schemas, as JSON or gnostic protobuf.

kubectl reads this document only where OpenAPI v3 cannot answer: client-side validation of a
`kind: List` (`kubectl apply -f` of `kubectl get -o yaml` output). client-go asks for
`application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and unmarshals the body as an
`openapi_v2.Document` (gnostic OpenAPIv2.proto) whatever its content type, so that is what it gets.
Definitions carry the real names (io.k8s.api.apps.v1.DeploymentSpec, ...) because kubectl's
validation errors print them.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from . import resources as R
from .schema import ANY, I64, INT, IOS, MAP_S, META, NAMES, SCHEMAS, B, S

Obj = dict[str, Any]
# the type kubectl asks for has an "@" that Go's mime parser rejects; servers answer this one
PROTO_MEDIA = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
SCALARS: dict[str, Obj] = {
    S: {"type": "string"},
    B: {"type": "boolean"},
    INT: {"type": "integer", "format": "int32"},
    I64: {"type": "integer", "format": "int64"},
    MAP_S: {"type": "object", "additionalProperties": {"type": "string"}},
}


def kind_definition_name(res: R.Resource) -> str:
    """The OpenAPI definition name of a kind: io.k8s.api.<group>.<version>.<Kind>."""
    group = res.group.replace(".k8s.io", "") if res.group else "core"
    return f"io.k8s.api.{group}.{res.version}.{res.kind}"


class _Builder:
    def __init__(self) -> None:
        self.definitions: dict[str, Obj] = {}

    def schema(self, node: Any) -> Obj:
        if node == ANY:
            return {}  # no type, no properties: kube-openapi parses it as Arbitrary
        if isinstance(node, list):
            return {"type": "array", "items": self.schema(node[0])}
        if isinstance(node, dict):
            name = NAMES.get(id(node))
            if name is None:
                return self.object(node, "")
            if name not in self.definitions:
                self.definitions[name] = {}  # placeholder: recursion stops here
                self.definitions[name] = self.object(node, "")
            return {"$ref": f"#/definitions/{name}"}
        if node == IOS:
            self.definitions[INT_OR_STRING] = {"type": "string", "format": "int-or-string"}
            return {"$ref": f"#/definitions/{INT_OR_STRING}"}
        return dict(SCALARS[node])

    def object(self, node: Obj, description: str) -> Obj:
        props = {key: self.schema(sub) for key, sub in node.items()}
        out: Obj = {"description": description} if description else {}
        out.update(type="object", properties=props)
        return out

    def kind(self, res: R.Resource) -> Obj:
        gvk = [{"group": res.group, "kind": res.kind, "version": res.version}]
        schema = SCHEMAS.get(res.kind)
        if schema is None:
            # a kind the fake has no field schema for is not validated client-side
            out: Obj = {"description": f"{res.kind} is a Kubernetes {res.kind} object."}
        else:
            body = {"apiVersion": S, "kind": S, "metadata": META, **schema}
            out = self.object(body, f"{res.kind} is a Kubernetes {res.kind} object.")
        out["x-kubernetes-group-version-kind"] = gvk
        return out


@functools.cache
def document() -> Obj:
    """The Swagger 2.0 document (built on first use, then cached)."""
    builder = _Builder()
    kinds: dict[str, Obj] = {}
    for group, versions in R.GROUP_VERSIONS.items():
        for version in versions:
            for res in R.resources_in(group, version):
                kinds.setdefault(kind_definition_name(res), builder.kind(res))
    definitions = {**builder.definitions, **kinds}
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": {},
        "definitions": dict(sorted(definitions.items())),
    }


@functools.cache
def document_json() -> bytes:
    """The document as compact JSON."""
    return json.dumps(document(), separators=(",", ":")).encode()


@functools.cache
def document_proto() -> bytes:
    """The document as a gnostic `openapi_v2.Document` protobuf message."""
    doc = document()
    info = _string(1, doc["info"]["title"]) + _string(2, doc["info"]["version"])
    defs = b"".join(
        _message(1, _string(1, name) + _message(2, _schema_proto(schema)))
        for name, schema in doc["definitions"].items()
    )
    return _string(1, doc["swagger"]) + _message(2, info) + _message(8, b"") + _message(9, defs)


def _schema_proto(schema: Obj) -> bytes:
    # field numbers of gnostic's openapi.v2.Schema
    out = b""
    if "$ref" in schema:
        out += _string(1, schema["$ref"])
    if "format" in schema:
        out += _string(2, schema["format"])
    if "description" in schema:
        out += _string(4, schema["description"])
    if "additionalProperties" in schema:
        out += _message(21, _message(1, _schema_proto(schema["additionalProperties"])))
    if "type" in schema:
        out += _message(22, _string(1, schema["type"]))
    if "items" in schema:
        out += _message(23, _message(1, _schema_proto(schema["items"])))
    if "properties" in schema:
        props = b"".join(
            _message(1, _string(1, key) + _message(2, _schema_proto(sub)))
            for key, sub in schema["properties"].items()
        )
        out += _message(25, props)
    for key, value in schema.items():
        if key.startswith("x-"):
            out += _message(31, _string(1, key) + _message(2, _string(2, _yaml(value))))
    return out


def _yaml(value: Any) -> str:
    # gnostic keeps an extension's value as YAML text: a list of flat string maps here
    lines = []
    for item in value:
        for i, (key, val) in enumerate(sorted(item.items())):
            text = json.dumps(val) if val == "" else val
            lines.append(("- " if i == 0 else "  ") + f"{key}: {text}")
    return "\n".join(lines) + "\n"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _message(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string(number: int, text: str) -> bytes:
    return _message(number, text.encode())
