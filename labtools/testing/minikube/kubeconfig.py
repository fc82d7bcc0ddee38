"""Merge and remove the profile's cluster/context/user entries in the user's kubeconfig."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from labtools.testing.minikube.version import MINIKUBE_VERSION

EXTENSION_PROVIDER = "minikube.sigs.k8s.io"


@dataclass(frozen=True)
class Entry:
    """What `minikube start` writes for one profile."""

    name: str
    server: str
    ca: str
    client_cert: str
    client_key: str
    namespace: str = "default"


def kubeconfig_path() -> Path:
    """First path of $KUBECONFIG, else ~/.kube/config (where minikube writes)."""
    for part in os.environ.get("KUBECONFIG", "").split(os.pathsep):
        if part:
            return Path(part).expanduser()
    return Path.home() / ".kube" / "config"


def load(path: Path) -> dict[str, Any]:
    """The kubeconfig as a dict (an empty Config when the file is missing or empty)."""
    data: dict[str, Any] = {}
    if path.exists():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    data.setdefault("apiVersion", "v1")
    data.setdefault("kind", "Config")
    data.setdefault("preferences", {})
    for key in ("clusters", "contexts", "users"):
        data[key] = data.get(key) or []
    data.setdefault("current-context", "")
    return data


def save(path: Path, data: dict[str, Any]) -> None:
    """Write atomically; keys sorted like client-go writes them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(yaml.safe_dump(data, default_flow_style=False, sort_keys=True), "utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of one kubeconfig between concurrent fake minikubes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _extension(name: str) -> list[dict[str, Any]]:
    stamp = time.strftime("%a, %d %b %Y %H:%M:%S %Z")
    info = {"last-update": stamp, "provider": EXTENSION_PROVIDER, "version": MINIKUBE_VERSION}
    return [{"extension": info, "name": name}]


def _replace(items: list[dict[str, Any]], name: str, item: dict[str, Any]) -> None:
    for i, existing in enumerate(items):
        if existing.get("name") == name:
            items[i] = item
            return
    items.append(item)


def upsert(path: Path, entry: Entry, *, make_current: bool) -> None:
    """Add or replace the profile's cluster, context and user; other entries stay as they are."""
    cluster = {
        "certificate-authority": entry.ca,
        "extensions": _extension("cluster_info"),
        "server": entry.server,
    }
    context = {
        "cluster": entry.name,
        "extensions": _extension("context_info"),
        "namespace": entry.namespace,
        "user": entry.name,
    }
    user = {"client-certificate": entry.client_cert, "client-key": entry.client_key}
    with locked(path):
        data = load(path)
        _replace(data["clusters"], entry.name, {"cluster": cluster, "name": entry.name})
        _replace(data["contexts"], entry.name, {"context": context, "name": entry.name})
        _replace(data["users"], entry.name, {"name": entry.name, "user": user})
        if make_current:
            data["current-context"] = entry.name
        save(path, data)


def remove(path: Path, name: str) -> bool:
    """Drop the cluster, context and user called ``name``; True when something was removed."""
    if not path.exists():
        return False
    with locked(path):
        data = load(path)
        removed = False
        for key in ("clusters", "contexts", "users"):
            kept = [item for item in data[key] if item.get("name") != name]
            removed = removed or len(kept) != len(data[key])
            data[key] = kept
        if data.get("current-context") == name:
            data["current-context"] = ""
            removed = True
        if removed:
            save(path, data)
        return removed


def server_of(path: Path, name: str) -> str | None:
    """The server URL of cluster ``name`` when its context exists too, else None."""
    if not path.exists():
        return None
    data = load(path)
    if not any(c.get("name") == name for c in data["contexts"]):
        return None
    for cluster in data["clusters"]:
        if cluster.get("name") == name:
            server = (cluster.get("cluster") or {}).get("server")
            return str(server) if server else None
    return None


def current_context(path: Path) -> str:
    """The current-context of the kubeconfig ("" when none)."""
    return str(load(path).get("current-context") or "") if path.exists() else ""
