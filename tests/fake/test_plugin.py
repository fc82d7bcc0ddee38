"""The pytest fixtures and the PATH shim of labtools.testing."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labtools.testing.path import install_shim
from labtools.testing.plugin import FakeMinikube, make_fake_minikube, server_pids_under

pytestmark = pytest.mark.fake


def own_home(tmp_path: Path) -> dict[str, str]:
    """The environment with HOME under tmp_path and no MINIKUBE_* (the fake writes its state
    where minikube would: never into the user's own ~/.minikube)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIKUBE_")}
    (tmp_path / "home").mkdir(exist_ok=True)
    return {**env, "HOME": str(tmp_path / "home")}


def test_install_shim_runs_the_fake(tmp_path: Path) -> None:
    shim = install_shim(tmp_path / "bin")
    assert shim == tmp_path / "bin" / "minikube"
    assert os.access(shim, os.X_OK)
    result = subprocess.run(
        [str(shim), "version", "--short"], capture_output=True, text=True, env=own_home(tmp_path)
    )
    assert (result.returncode, result.stdout) == (0, "v1.37.0\n")


def test_print_export_one_liner(tmp_path: Path) -> None:
    bin_dir = tmp_path / "fake bin"
    script = f'eval "$({sys.executable} -m labtools.testing.path --print-export "{bin_dir}")"; '
    script += "command -v minikube; minikube version --short"
    result = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env=own_home(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(bin_dir / "minikube"), "v1.37.0"]


def test_fake_minikube_fixture_isolates_env(fake_minikube: FakeMinikube, tmp_path: Path) -> None:
    assert shutil.which("minikube") == str(fake_minikube.bin_dir / "minikube")
    assert os.environ["HOME"] == str(fake_minikube.home)
    assert os.environ["KUBECONFIG"] == str(fake_minikube.kubeconfig)
    assert os.environ["MINIKUBE_HOME"] == str(fake_minikube.minikube_home)
    assert fake_minikube.home.is_relative_to(tmp_path)
    result = fake_minikube.run("profile", "list", "-o", "json")
    assert result.stdout == '{"invalid":[],"valid":[]}'


def test_cleanup_kills_leftover_servers(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "_fake_mk", Path(__file__).with_name("test_minikube.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    REAL_SERVER, STANDIN = module.REAL_SERVER, module.STANDIN
    fake = make_fake_minikube(tmp_path / "root")
    if not REAL_SERVER:
        (tmp_path / "standin_apiserver.py").write_text(STANDIN)
        fake.env["LABTOOLS_FAKE_APISERVER_MODULE"] = "standin_apiserver"
        fake.env["PYTHONPATH"] = str(tmp_path)
    assert fake.run("start", "-p", "a").returncode == 0
    # Simulate a lost pid file: only the scan of MINIKUBE_HOME can still find the server.
    (fake.minikube_home / "profiles" / "a" / "apiserver.pid").unlink()
    assert len(fake.server_pids()) == 1
    fake.cleanup()
    assert fake.server_pids() == []
    assert server_pids_under(fake.minikube_home, fake.server_module) == []


@pytest.mark.skipif(
    importlib.util.find_spec("labtools.testing.cluster") is None,
    reason="needs labtools.testing.cluster (FakeCluster)",
)
def test_fake_cluster_fixture_answers_kubectl(fake_cluster: object) -> None:
    result = fake_cluster.kubectl("get", "nodes", "-o", "name")  # type: ignore[attr-defined]
    assert result.returncode == 0
    assert result.stdout.strip() == "node/fake"
