"""JSON patch, JSON merge patch and strategic merge patch with the real merge keys."""

from __future__ import annotations

import copy
from typing import Any

from .status import ApiError, bad_request

# Merge keys by list field name; (parent, field) entries take precedence.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "schedulingGates": "name",
    "secrets": "name",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
    "addresses": "type",
}
PRIMITIVE_MERGE = {"finalizers"}


def _merge_key(path: list[str], field: str) -> str | None:
    if field == "ports":
        containerish = any(
            p in ("containers", "initContainers", "ephemeralContainers") for p in path
        )
        return "containerPort" if containerish else "port"
    if field == "addresses" and "subsets" in path:
        return None
    return MERGE_KEYS.get(field)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, val in patch.items():
        if val is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), val)
    return result


def strategic_merge(original: Any, patch: Any, path: list[str] | None = None) -> Any:
    """Kubernetes strategic merge patch (merge keys, `$patch`, `$retainKeys`, ...)."""
    path = path or []
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for key, val in patch.items():
        if key in ("$retainKeys", "$patch") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [x for x in result.get(name) or [] if x not in val]
            continue
        if val is None:
            result.pop(key, None)
        elif isinstance(val, dict):
            merged = strategic_merge(result.get(key), val, [*path, key])
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(val, list):
            result[key] = _merge_list(result.get(key), val, path, key)
        else:
            result[key] = val
    return result


def _merge_list(original: Any, patch: list[Any], path: list[str], field: str) -> list[Any]:
    orig = list(original) if isinstance(original, list) else []
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [
            copy.deepcopy(x)
            for x in patch
            if not (isinstance(x, dict) and x.get("$patch") == "replace")
        ]
    if field in PRIMITIVE_MERGE:
        return orig + [x for x in patch if x not in orig]
    key = _merge_key(path, field)
    if key is None or not all(isinstance(x, dict) for x in patch):
        return [copy.deepcopy(x) for x in patch]
    result = [copy.deepcopy(x) for x in orig]
    for item in patch:
        idx = next(
            (
                i
                for i, o in enumerate(result)
                if isinstance(o, dict) and o.get(key) == item.get(key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                result.pop(idx)
            continue
        if idx is None:
            result.append(strategic_merge(None, item, [*path, field]))
        else:
            result[idx] = strategic_merge(result[idx], item, [*path, field])
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, list):
            cur = cur[int(part)]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise _missing("/" + "/".join(parts))
    return cur


def _missing(path: str) -> ApiError:
    return ApiError(
        422,
        "Invalid",
        f"the server rejected our request due to an error in our "
        f'request: doc is missing path: "{path}": missing value',
        {},
    )


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    last = parts[-1]
    try:
        return parent[int(last)] if isinstance(parent, list) else parent[last]
    except (KeyError, IndexError, ValueError) as exc:
        raise _missing("/" + "/".join(parts)) from exc


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, list):
        parent.insert(len(parent) if last == "-" else int(last), value)
    else:
        parent[last] = value
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent = _parent(doc, parts)
    last = parts[-1]
    try:
        if isinstance(parent, list):
            parent.pop(int(last))
        else:
            del parent[last]
    except (KeyError, IndexError, ValueError) as exc:
        raise _missing("/" + "/".join(parts)) from exc
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch."""
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind = op.get("op")
        parts = _pointer(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "replace":
            _get(doc, parts)
            doc = (
                _add(_remove(doc, parts), parts, copy.deepcopy(op.get("value")))
                if parts
                else copy.deepcopy(op.get("value"))
            )
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            val = copy.deepcopy(_get(doc, src))
            if kind == "move":
                doc = _remove(doc, src)
            doc = _add(doc, parts, val)
        elif kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise ApiError(
                    422,
                    "Invalid",
                    "the server rejected our request due to an "
                    "error in our request: testing value failed",
                    {},
                )
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return doc
