"""Participant kubeconfigs (pure): a ServiceAccount token and the cluster's CA, for kubectl.

A workshop participant on a shared cluster gets a file with one cluster (the instructor context's
server and CA, copied), one user (a TokenRequest bearer token: the legacy token Secret is gone
since Kubernetes 1.24) and one context whose namespace is theirs.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from labtools.core.errors import ConfigError
from labtools.core.messages import msg

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: Any, key: str = "token_duration") -> float:
    """Seconds of a Go duration, as ``kubectl create token --duration`` takes it (``8h``)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    value = str(text).strip()
    parts = _DURATION_PART.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise ConfigError(
            msg("`{key}`: {value!r} is not a duration", key=key, value=value),
            hint=msg("write hours, minutes or seconds as kubectl takes them: 8h, 90m, 1h30m"),
        )
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT (not verified: the API server does that), empty when it is not one."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim of a token (seconds since the epoch), or None."""
    exp = token_claims(token).get("exp")
    return float(exp) if isinstance(exp, int | float) else None


def cluster_entry(text: str) -> dict[str, Any]:
    """The cluster entry (server, certificate-authority-data...) that ``kubectl config view
    --minify --flatten --raw -o jsonpath={.clusters[0].cluster}`` printed."""
    try:
        entry = json.loads(text)
    except ValueError as exc:
        raise ConfigError(msg("kubectl printed no cluster entry: {error}", error=exc)) from exc
    if not isinstance(entry, dict) or not entry.get("server"):
        raise ConfigError(msg("the instructor's context has no cluster server"))
    return entry


def participant_kubeconfig(
    cluster: Mapping[str, Any], token: str, *, context: str, user: str, namespace: str
) -> str:
    """The kubeconfig: the cluster, a token user, one context in the participant's namespace."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": dict(cluster)}],
        "users": [{"name": user, "user": {"token": token.strip()}}],
        "contexts": [
            {"name": context, "context": {"cluster": context, "user": user, "namespace": namespace}}
        ],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def kubeconfig_token(text: str, context: str | None = None) -> str | None:
    """The bearer token of a kubeconfig's context user (current context by default), or None."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict):
        return None
    name = context or doc.get("current-context")
    ctx = _named(doc.get("contexts"), name).get("context") or {}
    user = _named(doc.get("users"), ctx.get("user")).get("user") or {}
    token = user.get("token")
    return str(token) if token else None


def _named(items: Any, name: Any) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            return item
    return {}


def applied_changes(output: str) -> bool:
    """``kubectl apply`` changed something: a line ending in ``created`` or ``configured``."""
    return any(line.rstrip().endswith((" created", " configured")) for line in output.splitlines())


def deleted_something(output: str) -> bool:
    """``kubectl delete`` removed something: a line ending in ``deleted``."""
    return any(line.rstrip().endswith(" deleted") for line in output.splitlines())


def recreated(output: str, account: str) -> bool:
    """``kubectl apply`` created the ServiceAccount (``serviceaccount/NAME created``)."""
    return f"serviceaccount/{account} created" in output.splitlines()
