"""A fake ``minikube`` executable: minikube's CLI contract over labtools' fake API server.

Run it as ``python -m labtools.testing.minikube ARGS...`` (or the ``labtools-fake-minikube``
script). A test double: product code never imports it (see docs/fake-cluster.md).
"""

from __future__ import annotations

from labtools.testing.minikube.cli import main

__all__ = ["main"]
