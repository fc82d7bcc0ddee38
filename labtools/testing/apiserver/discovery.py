"""Discovery documents (`/api`, `/apis`, resource lists) and the OpenAPI v3 documents."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from . import resources as R
from .schema import ANY, SCHEMAS

Obj = dict[str, Any]
DATA_FILE = Path(__file__).with_name("data") / "openapi-v1.32.json.gz"

SUB_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "log": ["get"],
    "exec": ["create", "get"],
    "attach": ["create", "get"],
    "portforward": ["create", "get"],
    "proxy": ["create", "delete", "get", "head", "options", "patch", "put"],
    "binding": ["create"],
    "eviction": ["create"],
    "token": ["create"],
    "finalize": ["update"],
    "ephemeralcontainers": ["get", "patch", "update"],
}
SUB_KINDS = {
    "log": "Pod",
    "exec": "PodExecOptions",
    "attach": "PodAttachOptions",
    "portforward": "PodPortForwardOptions",
    "binding": "Binding",
    "eviction": "Eviction",
    "token": "TokenRequest",
}


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16].upper()


def api_versions(server_address: str) -> Obj:
    """`/api`."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str) -> Obj:
    versions = [{"groupVersion": f"{name}/{v}", "version": v} for v in R.GROUP_VERSIONS[name]]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def api_groups() -> Obj:
    """`/apis`."""
    groups = [_group(g) for g in R.GROUP_VERSIONS if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(name: str) -> Obj | None:
    """`/apis/<group>`."""
    if name not in R.GROUP_VERSIONS or not name:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def _resource_entry(res: R.Resource) -> Obj:
    entry: Obj = {
        "name": res.plural,
        "singularName": res.singular,
        "namespaced": res.namespaced,
        "kind": res.kind,
        "verbs": list(res.verbs),
    }
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    if res.categories:
        entry["categories"] = list(res.categories)
    entry["storageVersionHash"] = _hash(res.api_version + res.kind)[:11]
    return entry


def _sub_entry(res: R.Resource, sub: str) -> Obj:
    entry: Obj = {
        "name": f"{res.plural}/{sub}",
        "singularName": "",
        "namespaced": res.namespaced,
        "kind": SUB_KINDS.get(sub, res.kind),
        "verbs": SUB_VERBS.get(sub, ["get"]),
    }
    if sub == "scale":
        entry.update(group="autoscaling", version="v1", kind="Scale")
    elif sub == "eviction":  # kubectl drain looks for this group/version to evict
        entry.update(group="policy", version="v1")
    elif sub == "token":
        entry.update(group="authentication.k8s.io", version="v1")
    return entry


def resource_list(group: str, version: str) -> Obj | None:
    """`/api/v1` or `/apis/<group>/<version>`."""
    items = R.resources_in(group, version)
    if not items:
        return None
    out: list[Obj] = []
    for res in sorted(items, key=lambda r: r.plural):
        out.append(_resource_entry(res))
        out.extend(_sub_entry(res, sub) for sub in res.subresources)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_root() -> Obj:
    """`/openapi/v3`: one entry per group/version."""
    paths: Obj = {}
    for group, versions in R.GROUP_VERSIONS.items():
        for version in versions:
            path = _gv_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={_hash(path)}"}
    return {"paths": paths}


def _schema_of(node: Any) -> Obj:
    if node == ANY:
        return {"type": "object", "description": "", "x-kubernetes-preserve-unknown-fields": True}
    if isinstance(node, list):
        return {"type": "array", "items": _schema_of(node[0]), "description": ""}
    if isinstance(node, dict):
        return {
            "type": "object",
            "description": "",
            "properties": {k: _schema_of(v) for k, v in node.items()},
        }
    if node == "int-or-string":
        return {"x-kubernetes-int-or-string": True, "description": ""}
    from .openapiv2 import SCALARS

    return {**SCALARS[node], "description": ""}


def _kind_schema(res: R.Resource) -> Obj:
    from .schema import META, S

    body = {"apiVersion": S, "kind": S, "metadata": META, **SCHEMAS.get(res.kind, {})}
    schema = _schema_of(body)
    schema["description"] = f"{res.kind} is a Kubernetes {res.kind} object."
    schema["x-kubernetes-group-version-kind"] = [
        {"group": res.group, "kind": res.kind, "version": res.version}
    ]
    return schema


def _patch_op(res: R.Resource) -> Obj:
    media = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ]
    params = [
        {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for n in ("dryRun", "fieldManager", "fieldValidation", "force")
    ]
    return {
        "operationId": f"patch{res.kind}",
        "parameters": params,
        "requestBody": {
            "content": {m: {"schema": {"type": "object"}} for m in media},
            "required": True,
        },
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {
            "group": res.group,
            "kind": res.kind,
            "version": res.version,
        },
    }


@functools.cache
def openapi_data() -> Obj:
    """The Kubernetes v1.32 schemas (``data/openapi-v1.32.json.gz``, see ``openapi_gen.py``)."""
    raw = gzip.decompress(DATA_FILE.read_bytes())
    data: Obj = json.loads(raw)
    return data


def openapi_group(group: str, version: str) -> Obj | None:
    """OpenAPI v3 document of one group/version: the real schemas; PATCH ops for fieldValidation."""
    items = R.resources_in(group, version)
    if not items:
        return None
    prefix = "/" + _gv_path(group, version)
    paths: Obj = {}
    data = openapi_data()
    gv = f"{group}/{version}" if group else version
    schemas: Obj = {name: data["schemas"][name] for name in data["groupVersions"].get(gv, [])}
    for res in items:
        ns = "/namespaces/{namespace}" if res.namespaced else ""
        paths[f"{prefix}{ns}/{res.plural}/{{name}}"] = {"patch": _patch_op(res)}
        if not any(_has_gvk(s, res) for s in schemas.values()):
            api_group = group.replace(".k8s.io", "") if group else "core"
            schemas[f"io.k8s.api.{api_group}.{version}.{res.kind}"] = _kind_schema(res)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _has_gvk(schema: Obj, res: R.Resource) -> bool:
    return any(
        (g.get("group"), g.get("version"), g.get("kind")) == (res.group, res.version, res.kind)
        for g in schema.get("x-kubernetes-group-version-kind") or []
    )


def dumps(obj: Obj) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(obj, separators=(",", ":")).encode()
