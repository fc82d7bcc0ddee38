"""Shared unit-test fixtures: an isolated environment and a tiny lab project on disk."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the user's HOME, kubeconfig or minikube state."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", str(home / ".kube" / "config"))
    monkeypatch.setenv("MINIKUBE_HOME", str(home / ".minikube"))
    return home


WriteFile = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """Write dedented text to ``tmp_path/relative`` (parents created) and return the path."""

    def _write(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


INVENTORY = """
all:
  vars:
    provider: fake
  hosts:
    solo:
  children:
    workshop:
      vars: {cpus: 2}
      hosts:
        lab-[01:03]:
"""

PLAYBOOK = """
name: demo
hosts: all
vars:
  app_name: hello
setup:
  - name: start
    cluster: start
deploy:
  - name: create
    kubectl: create deployment {{ app_name }} --image=nginx
  - name: apply
    manifest: demo/app.yaml.j2
teardown:
  - name: delete
    cluster: delete
"""

MANIFEST = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ app_name }}
data:
  greeting: {{ greeting | default("hi") | to_json }}
"""


@pytest.fixture
def project(write: WriteFile, tmp_path: Path) -> Path:
    """A project root with inventory.yml, playbooks/demo/playbook.yml and a manifest template."""
    write("inventory.yml", INVENTORY)
    write("playbooks/demo/playbook.yml", PLAYBOOK)
    write("templates/demo/app.yaml.j2", MANIFEST)
    return tmp_path
