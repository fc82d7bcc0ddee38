"""pytest fixtures: ``fake_cluster``, ``fake_cluster_session`` and ``fake_minikube``.

Registered as the ``labtools_testing`` pytest11 entry point. Everything a fixture starts is
stopped at teardown: ``minikube delete --all``, then any fake API server still running whose
command line points into the fixture's MINIKUBE_HOME is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from labtools.testing.minikube.state import SERVER_MODULE, SERVER_MODULE_ENV
from labtools.testing.path import install_shim

if TYPE_CHECKING:
    from labtools.testing.cluster import FakeCluster

RUN_TIMEOUT = 120.0


@dataclass
class FakeMinikube:
    """The fake ``minikube`` on PATH with an isolated HOME, KUBECONFIG and MINIKUBE_HOME."""

    bin_dir: Path
    home: Path
    kubeconfig: Path
    minikube_home: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run ``minikube ARGS`` (the shim) and capture its output; never raises on exit codes."""
        return subprocess.run(
            [str(self.bin_dir / "minikube"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def kubectl(self, *args: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run the real ``kubectl ARGS`` against this fixture's KUBECONFIG."""
        return subprocess.run(
            ["kubectl", *args], env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    def server_pids(self) -> list[int]:
        """Pids of running fake API servers that belong to this MINIKUBE_HOME."""
        return server_pids_under(self.minikube_home, self.server_module)

    @property
    def server_module(self) -> str:
        """The module the fake minikube runs as API server (a test may swap in a stand-in)."""
        return self.env.get(SERVER_MODULE_ENV) or SERVER_MODULE

    def cleanup(self) -> None:
        """``minikube delete --all``, then kill any server of this home that is still running."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.run("delete", "--all", timeout=60)
        kill_servers_under(self.minikube_home, self.server_module)


def server_pids_under(minikube_home: Path, module: str = SERVER_MODULE) -> list[int]:
    """Live fake API server processes whose command line mentions ``minikube_home``."""
    marker, module_name = str(minikube_home).encode(), module.encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        zombie = stat.rsplit(")", 1)[-1].split()[0] in {"Z", "X"}
        if not zombie and module_name in cmdline and marker in cmdline:
            pids.append(int(entry.name))
    return pids


def kill_servers_under(
    minikube_home: Path, module: str = SERVER_MODULE, grace: float = 3.0
) -> None:
    """TERM (then KILL) the process group of every server left under ``minikube_home``."""
    pids = server_pids_under(minikube_home, module)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            _signal_group(pid, sig)
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if p in server_pids_under(minikube_home, module)]
            time.sleep(0.05)
        if not pids:
            return


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            return


def make_fake_minikube(root: Path) -> FakeMinikube:
    """Create the directories and the shim of a FakeMinikube under ``root``."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    bin_dir = root / "bin"
    install_shim(bin_dir)
    kubeconfig = home / ".kube" / "config"
    minikube_home = home / ".minikube"
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("MINIKUBE_")]:
        del env[key]
    env.update(
        HOME=str(home),
        KUBECONFIG=str(kubeconfig),
        MINIKUBE_HOME=str(minikube_home),
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
    )
    return FakeMinikube(bin_dir, home, kubeconfig, minikube_home, env)


@pytest.fixture
def fake_minikube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMinikube]:
    """The fake ``minikube`` first on PATH, with HOME/KUBECONFIG/MINIKUBE_HOME under tmp_path."""
    fake = make_fake_minikube(tmp_path / "fake-minikube")
    for key in [k for k in os.environ if k.startswith("MINIKUBE_")]:
        monkeypatch.delenv(key)
    for key in ("HOME", "KUBECONFIG", "MINIKUBE_HOME", "PATH"):
        monkeypatch.setenv(key, fake.env[key])
    try:
        yield fake
    finally:
        fake.cleanup()


def _start_cluster(workdir: Path) -> FakeCluster:
    from labtools.testing.cluster import FakeCluster

    cluster = FakeCluster(workdir, name="fake", node_name="fake")
    cluster.start()
    return cluster


@pytest.fixture
def fake_cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    """A running fake API server with its own kubeconfig (stopped at teardown)."""
    cluster = _start_cluster(tmp_path / "fake-cluster")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def fake_cluster_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeCluster]:
    """One fake API server shared by the whole session (stopped at the end)."""
    cluster = _start_cluster(tmp_path_factory.mktemp("fake-cluster-session"))
    try:
        yield cluster
    finally:
        cluster.stop()
