"""The whole lab through `invoke`, as a subprocess, with the real kubectl and the fake cluster."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import (
    REPO,
    LabProject,
    copy_project,
    isolated_env,
    kill_processes_mentioning,
)
from tests.integration.tmux import Tmux


@pytest.fixture
def project(tmp_path: Path) -> LabProject:
    """A copy of the repository's project files with the shipped inventory."""
    root = tmp_path / "project"
    root.mkdir()
    copy_project(root)
    shutil.copy2(REPO / "inventory.yml", root / "inventory.yml")
    return LabProject(root, isolated_env(tmp_path))


@pytest.fixture
def minikube_project(tmp_path: Path) -> Iterator[LabProject]:
    """The project with the fake `minikube` on PATH and provider minikube."""
    from labtools.testing.path import install_shim

    root = tmp_path / "project"
    root.mkdir()
    copy_project(root)
    (root / "inventory.yml").write_text(
        "all:\n  hosts:\n    basics:\n      provider: minikube\n      profile: labtools-basics\n"
        "      cpus: 2\n      memory: 2200\n"
    )
    bin_dir = tmp_path / "bin"
    install_shim(bin_dir)
    # No Docker engine runs here; preflight checks the driver with `docker info`. The fake
    # minikube needs no driver, so a stand-in `docker` that answers `info` plays the engine.
    docker = bin_dir / "docker"
    docker.write_text("#!/bin/sh\necho 'Server Version: 27.4.1 (labtools test stand-in)'\n")
    docker.chmod(0o755)
    project = LabProject(root, isolated_env(tmp_path, path_prefix=bin_dir))
    yield project
    kill_processes_mentioning(str(tmp_path))


@pytest.fixture
def context_project(tmp_path: Path) -> Iterator[tuple[LabProject, object]]:
    """The project with provider `context` against a fake API server started separately."""
    from labtools.testing.cluster import FakeCluster

    cluster = FakeCluster(tmp_path / "cluster", name="shared", pod_ready_delay=0.3).start()
    root = tmp_path / "project"
    root.mkdir()
    copy_project(root)
    (root / "inventory.yml").write_text(
        "all:\n  vars:\n    provider: context\n"
        f"    kube_context: {cluster.context}\n    kubeconfig: {cluster.kubeconfig}\n"
        "  hosts:\n    team-[a:b]:\n"
    )
    try:
        yield LabProject(root, isolated_env(tmp_path)), cluster
    finally:
        cluster.stop()
        kill_processes_mentioning(str(tmp_path))


@pytest.fixture
def fake_project(tmp_path: Path) -> Iterator[LabProject]:
    """The project on provider `fake` (the fake minikube run by labtools, state in .labtools/)."""
    root = tmp_path / "project"
    root.mkdir()
    copy_project(root)
    (root / "inventory.yml").write_text(
        "all:\n  vars:\n    provider: fake\n  hosts:\n    basics:\n      profile: labtools-basics\n"
    )
    project = LabProject(root, isolated_env(tmp_path))
    try:
        yield project
    finally:
        project.invoke("lab.down", timeout=120)
        kill_processes_mentioning(str(tmp_path))


@pytest.fixture
def terminal(fake_project: LabProject, tmp_path: Path) -> Iterator[Tmux]:
    """A colour terminal (tmux) with the fake project's environment, as a student has it."""
    env = {k: v for k, v in fake_project.env.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    tmux = Tmux(tmp_path, env)
    try:
        yield tmux
    finally:
        tmux.close()
