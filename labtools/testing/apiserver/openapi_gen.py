"""Generate ``data/openapi-v1.32.json.gz`` (the Kubernetes v1.32 API schemas the fake serves) and
``data/types-v1.32.json.gz`` (the same, only their types, for field ownership).

Run at development time only::

    pip download --no-deps 'kubernetes-validate==1.32.0' -d /tmp/kv
    python -m labtools.testing.apiserver.openapi_gen /tmp/kv/kubernetes_validate-1.32.0-*.whl

The source is ``kubernetes-json-schema/v1.32.0-local/_definitions.json`` inside the
kubernetes-validate wheel: every definition of the Kubernetes v1.32.0 OpenAPI document, converted
to JSON Schema by openapi2jsonschema (descriptions, formats, required fields and the
``x-kubernetes-*`` extensions kept). This script turns it back into OpenAPI v3 component schemas
as kube-apiserver publishes them at ``/openapi/v3/...``: nullable type lists become one type,
``$ref`` points into ``#/components/schemas/`` (wrapped in ``allOf`` beside a field's own
description), the ``apiVersion``/``kind`` enums the converter
added are dropped, and ``IntOrString``/``Quantity`` get back their OpenAPI shapes. Only schemas
reachable from the group/versions a default v1.32 server serves are kept.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

Obj = dict[str, Any]
SOURCE = "kubernetes_validate/kubernetes-json-schema/v1.32.0-local/_definitions.json"
OUT = Path(__file__).with_name("data") / "openapi-v1.32.json.gz"
# the same schemas reduced to what field ownership needs (fieldmanager.py loads it at start)
TYPES_OUT = Path(__file__).with_name("data") / "types-v1.32.json.gz"
TYPE_KEYS = (
    "type",
    "properties",
    "items",
    "additionalProperties",
    "$ref",
    "allOf",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-map-type",
    "x-kubernetes-group-version-kind",
)
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
# group/versions a default kube-apiserver v1.32 serves (pkg/controlplane/instance.go and
# apiextensions/kube-aggregator): stable ones; every beta and alpha version is off by default
SERVED = [
    "v1",
    "admissionregistration.k8s.io/v1",
    "apiextensions.k8s.io/v1",
    "apiregistration.k8s.io/v1",
    "apps/v1",
    "authentication.k8s.io/v1",
    "authorization.k8s.io/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "certificates.k8s.io/v1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "events.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1",
    "networking.k8s.io/v1",
    "node.k8s.io/v1",
    "policy/v1",
    "rbac.authorization.k8s.io/v1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1",
]
# the shapes kube-openapi gives these two (their own OpenAPIDefinition in apimachinery)
SPECIAL: dict[str, Obj] = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "description": (
            "IntOrString is a type that can hold an int32 or a string.  When used in JSON or "
            "YAML marshalling and unmarshalling, it produces or consumes the inner type.  This "
            "allows you to have, for example, a JSON field that can accept a name or number."
        ),
        "format": "int-or-string",
        "type": "string",
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
}
EXTRA = ["APIResourceList", "DeleteOptions", "Patch", "Status", "WatchEvent"]


def _ref(value: str) -> str:
    return "#/components/schemas/" + value.rsplit("/", 1)[-1]


def convert(node: Any, parent_key: str = "") -> Any:
    """One JSON Schema node back to its OpenAPI v3 form."""
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: Obj = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, list):
            kinds = [v for v in value if v != "null"]
            out[key] = kinds[0] if len(kinds) == 1 else kinds
        elif key == "$ref" and isinstance(value, str):
            out[key] = _ref(value)
        elif key == "enum" and parent_key in ("apiVersion", "kind"):
            continue
        elif key == "properties":
            out[key] = {name: convert(prop, name) for name, prop in value.items()}
        else:
            out[key] = convert(value)
    if "$ref" in out and len(out) > 1:
        # kube-openapi's v3 builder wraps a reference that has siblings (a field's own
        # description) in allOf; kubectl explain then shows the field's text and its type's
        out["allOf"] = [{"$ref": out.pop("$ref")}]
    return out


def refs(node: Any) -> set[str]:
    """Names of every definition a schema refers to."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value.rsplit("/", 1)[-1])
            elif key == "properties":  # property names ("$ref" of JSONSchemaProps) are no refs
                for prop in value.values():
                    found |= refs(prop)
            else:
                found |= refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= refs(value)
    return found


def served_roots(definitions: dict[str, Obj]) -> dict[str, list[str]]:
    """For each served group/version, the definitions of its kinds."""
    roots: dict[str, list[str]] = {gv: [] for gv in SERVED}
    for name, schema in definitions.items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            gv = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            if gv in roots and not name.startswith(META):
                roots[gv].append(name)
    return roots


def closure(definitions: dict[str, Obj], names: list[str]) -> list[str]:
    """``names`` and every definition they reach through ``$ref``."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in definitions:
            continue
        seen.add(name)
        todo.extend(refs(definitions[name]))
    return sorted(seen)


def generate(source: dict[str, Obj]) -> Obj:
    """The data file's content: converted schemas and each group/version's schema names."""
    definitions = {name: convert(schema) for name, schema in source.items()}
    definitions.update(SPECIAL)
    groups: dict[str, list[str]] = {}
    for gv, names in served_roots(definitions).items():
        groups[gv] = closure(definitions, names + [META + extra for extra in EXTRA])
    kept = sorted({name for names in groups.values() for name in names})
    return {
        "source": f"kubernetes-validate 1.32.0: {SOURCE}",
        "groupVersions": groups,
        "schemas": {name: definitions[name] for name in kept},
    }


def types_only(node: Any) -> Any:
    """A schema without descriptions, formats and the rest that field ownership ignores."""
    if isinstance(node, list):
        return [types_only(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: Obj = {}
    for key, value in node.items():
        if key not in TYPE_KEYS:
            continue
        if key == "properties":
            out[key] = {name: types_only(prop) for name, prop in value.items()}
        elif key in ("items", "additionalProperties", "allOf"):
            out[key] = types_only(value)
        else:
            out[key] = value  # $ref, type and the x-kubernetes-* values as they are
    return out


def write(path: Path, data: Obj) -> int:
    """Write compact, sorted, reproducible gzipped JSON; the uncompressed size."""
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    return len(raw)


def load_source(path: Path) -> dict[str, Obj]:
    """The ``$defs`` of ``_definitions.json``, from the wheel or the extracted file."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            text = wheel.read(SOURCE).decode()
    else:
        text = path.read_text()
    data: dict[str, Obj] = json.loads(text)["$defs"]
    return data


def main(argv: list[str] | None = None) -> int:
    """Write the data file from a kubernetes-validate 1.32.0 wheel or its _definitions.json."""
    parser = argparse.ArgumentParser(prog="openapi_gen", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    data = generate(load_source(args.source))
    size = write(args.out, data)
    print(f"{args.out}: {len(data['schemas'])} schemas, {size} bytes uncompressed")
    types = {name: types_only(schema) for name, schema in data["schemas"].items()}
    size = write(args.out.with_name(TYPES_OUT.name), {"source": data["source"], "schemas": types})
    print(f"{args.out.with_name(TYPES_OUT.name)}: {size} bytes uncompressed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
