"""labtools.verify: the pytest command, snapshots, the plugin, and the shipped checks."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from labtools.errors import ClusterUnreachableError
from labtools.verify.run import CHECKS_DIR, verify_command
from labtools.verify.snapshot import KINDS, Snapshot, parse_selector, pod_is_ready

NODE = {
    "kind": "Node",
    "metadata": {"name": "basics"},
    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
}
POD = {
    "kind": "Pod",
    "metadata": {
        "name": "kubernetes-bootcamp-5dbf48f7d4-r88kt",
        "labels": {"app": "kubernetes-bootcamp"},
    },
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
}
OTHER_POD = {
    "kind": "Pod",
    "metadata": {"name": "nginx-1", "labels": {"app": "nginx"}},
    "status": {"phase": "Pending"},
}
DEPLOYMENT = {"kind": "Deployment", "metadata": {"name": "kubernetes-bootcamp"}}
SERVICE = {"kind": "Service", "metadata": {"name": "kubernetes-bootcamp"}}


def test_verify_command(tmp_path: Path) -> None:
    argv = verify_command(
        tmp_path,
        "inventory.yml",
        ["lab-01", "lab-02"],
        {"replicas": 2, "image": "a b"},
        tmp_path / "v.xml",
        ["-x"],
        proxy_url="http://127.0.0.1:8001",
    )
    assert argv[:3] == (sys.executable, "-m", "pytest")
    assert argv[argv.index("labtools.verify.plugin") - 1] == "-p"
    assert str(CHECKS_DIR / "test_basics.py") in argv
    assert f"--lab-inventory={tmp_path / 'inventory.yml'}" in argv
    assert "--lab-hosts=lab-01,lab-02" in argv
    assert f"--junitxml={tmp_path / 'v.xml'}" in argv
    assert "--lab-proxy-url=http://127.0.0.1:8001" in argv
    assert "-q" in argv
    assert argv[-1] == "-x"
    lab_vars = next(a for a in argv if a.startswith("--lab-vars="))
    assert json.loads(lab_vars.split("=", 1)[1]) == {"replicas": 2, "image": "a b"}


def fake_kubectl(tmp_path: Path, items: list[dict[str, Any]], rc: int = 0) -> Path:
    """A stand-in kubectl that records its argv and prints a List of ``items``."""
    script = tmp_path / "kubectl"
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > {tmp_path}/argv\n'
        f'printf "%s\\n" "$KUBECONFIG" > {tmp_path}/kubeconfig\n'
        f"cat <<'EOF'\n{body}\nEOF\n"
        "echo 'error: the server could not be reached' >&2\n"
        f"exit {rc}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_snapshot_reads_everything_in_one_call(tmp_path: Path) -> None:
    kubectl = fake_kubectl(tmp_path, [NODE, POD, OTHER_POD, DEPLOYMENT, SERVICE])
    snap = Snapshot.take((str(kubectl), "--context", "basics"), "lab ns", env={"KUBECONFIG": "/k"})
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv == ["--context", "basics", "-n", "lab ns", "get", KINDS, "-o", "json"]
    assert (tmp_path / "kubeconfig").read_text().strip() == "/k"
    assert snap.node() == NODE
    assert snap.node("basics") == NODE
    assert snap.node("other") is None
    assert snap.deployment("kubernetes-bootcamp") == DEPLOYMENT
    assert snap.service("kubernetes-bootcamp") == SERVICE
    assert snap.pods("app=kubernetes-bootcamp") == [POD]
    assert snap.pods({"app": "nginx"}) == [OTHER_POD]
    assert len(snap.pods()) == 2
    assert [pod_is_ready(p) for p in snap.pods()] == [True, False]


def test_snapshot_keeps_the_prefix_namespace(tmp_path: Path) -> None:
    kubectl = fake_kubectl(tmp_path, [])
    Snapshot.take((str(kubectl), "--context", "c", "-n", "lab-x"), "ignored")
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv.count("-n") == 1
    assert argv[argv.index("-n") + 1] == "lab-x"


def test_snapshot_names_a_failing_kubectl(tmp_path: Path) -> None:
    kubectl = fake_kubectl(tmp_path, [], rc=1)
    with pytest.raises(ClusterUnreachableError, match="could not be reached"):
        Snapshot.take((str(kubectl), "--context", "gone"), "default")


@pytest.mark.parametrize(
    ("selector", "expected"),
    [("app=x", {"app": "x"}), ("app=x, tier=web", {"app": "x", "tier": "web"}), (None, {})],
)
def test_parse_selector(selector: str | None, expected: dict[str, str]) -> None:
    assert parse_selector(selector) == expected


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """An environment with HOME, KUBECONFIG and MINIKUBE_HOME inside tmp_path."""
    return {
        **os.environ,
        "HOME": str(tmp_path),
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "MINIKUBE_HOME": str(tmp_path / ".minikube"),
    }


def test_checks_without_inventory_say_what_is_missing(tmp_path: Path) -> None:
    argv = verify_command(tmp_path, "inventory.yml", None, {}, None)
    argv = tuple(a for a in argv if not a.startswith("--lab-inventory"))
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=isolated_env(tmp_path),
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "--lab-inventory" in done.stdout + done.stderr
