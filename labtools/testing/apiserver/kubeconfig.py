"""Writing the kubeconfig of the fake cluster (atomically, once the server is ready)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .certs import CertFiles


def kubeconfig_doc(name: str, server: str, certs: CertFiles | None) -> dict[str, Any]:
    """A kubeconfig with one cluster, user and context all called `name`."""
    cluster: dict[str, Any] = {"server": server}
    user: dict[str, Any] = {}
    if certs is not None:
        cluster["certificate-authority"] = str(certs.ca)
        user = {"client-certificate": str(certs.client_cert), "client-key": str(certs.client_key)}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}
        ],
        "current-context": name,
    }


def write_kubeconfig(path: Path, doc: dict[str, Any]) -> None:
    """Write the kubeconfig atomically (tmp file + rename) so readers never see half a file."""
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.chmod(tmp, 0o600)
    tmp.replace(path)
