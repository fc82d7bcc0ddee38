"""labtools.verify: the pytest command, snapshots, the plugin, and the shipped checks."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from labtools.core.errors import ClusterUnreachableError
from labtools.verify.run import verify_command
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
BASICS_CHECKS = Path(__file__).resolve().parents[2] / "playbooks/basics/checks/test_basics.py"
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
        checks=BASICS_CHECKS,
        proxy_url="http://127.0.0.1:8001",
    )
    assert argv[:3] == (sys.executable, "-m", "pytest")
    assert argv[argv.index("labtools.verify.plugin") - 1] == "-p"
    assert str(BASICS_CHECKS) in argv
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
    argv = verify_command(tmp_path, "inventory.yml", None, {}, None, checks=BASICS_CHECKS)
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


# -- the shipped checks against the fake cluster (labtools.testing.cluster) -------------------

BOOTCAMP_IMAGE = "gcr.io/google-samples/kubernetes-bootcamp:v1"
LAB_VARS = {"app_name": "kubernetes-bootcamp", "image": BOOTCAMP_IMAGE, "replicas": 1}


def kubectl_run(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real kubectl with ``env``."""
    return subprocess.run(
        ["kubectl", *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def fake_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A FakeCluster running the bootcamp deployment, and an inventory (provider context) for it."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH")
    cluster_module = pytest.importorskip("labtools.testing.cluster")
    root = tmp_path_factory.mktemp("verify")
    (root / "home").mkdir()
    cluster = cluster_module.FakeCluster(root / "cluster", name="fake", node_name="minikube")
    cluster.start()
    try:
        env = {**isolated_env(root / "home"), "KUBECONFIG": str(cluster.kubeconfig)}
        ctx = ("--context", cluster.context, "-n", "default")
        created = kubectl_run(
            env, *ctx, "create", "deployment", LAB_VARS["app_name"], f"--image={BOOTCAMP_IMAGE}"
        )
        assert created.returncode == 0, created.stderr
        rolled = kubectl_run(
            env, *ctx, "rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=60s"
        )
        assert rolled.returncode == 0, rolled.stderr
        inventory = root / "inventory.yml"
        inventory.write_text(
            "all:\n  hosts:\n    fakehost:\n      provider: context\n"
            f"      kube_context: {cluster.context}\n      kubeconfig: {cluster.kubeconfig}\n"
            "      namespace: default\n"
        )
        yield {"root": root, "env": env, "ctx": ctx, "inventory": inventory}
    finally:
        cluster.stop()


def run_checks(
    lab: dict[str, Any], name: str, proxy_url: str | None = None
) -> tuple[int, str, dict[str, str]]:
    """Run the shipped checks; (rc, output, {test name: passed|failed|skipped})."""
    junit = lab["root"] / f"{name}.xml"
    argv = verify_command(
        lab["root"],
        lab["inventory"],
        "fakehost",
        LAB_VARS,
        junit,
        checks=BASICS_CHECKS,
        proxy_url=proxy_url,
    )
    env = {k: v for k, v in lab["env"].items() if k != "KUBECONFIG"}  # the inventory names it
    done = subprocess.run(
        argv, capture_output=True, text=True, cwd=lab["root"], env=env, timeout=180, check=False
    )
    outcomes: dict[str, str] = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        state = (
            "failed"
            if kinds & {"failure", "error"}
            else "skipped"
            if "skipped" in kinds
            else "passed"
        )
        outcomes[case.get("name", "")] = state
    return done.returncode, done.stdout + done.stderr, outcomes


@contextlib.contextmanager
def kubectl_proxy(lab: dict[str, Any]) -> Iterator[str]:
    """A running ``kubectl proxy`` on a free port; yields its URL."""
    with subprocess.Popen(
        ["kubectl", *lab["ctx"][:2], "proxy", "--port=0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=lab["env"],
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = re.search(r"127\.0\.0\.1:(\d+)", line)
            assert match, line
            yield f"http://127.0.0.1:{match.group(1)}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.mark.fake
def test_nodes_come_with_a_namespaced_get(fake_lab: dict[str, Any]) -> None:
    snap = Snapshot.take(("kubectl", *fake_lab["ctx"]), "default", env=fake_lab["env"])
    assert snap.node() is not None, "kubectl get nodes,... -n NS did not list the node"
    assert snap.deployment("kubernetes-bootcamp") is not None
    assert len(snap.pods("app=kubernetes-bootcamp")) == 1


@pytest.mark.fake
def test_shipped_checks_pass_on_the_lab(fake_lab: dict[str, Any]) -> None:
    with kubectl_proxy(fake_lab) as url:
        rc, output, outcomes = run_checks(fake_lab, "pass", proxy_url=url)
    assert rc == 0, output
    assert set(outcomes.values()) == {"passed"}, outcomes
    assert "test_app_answers_inside_the_pod[fakehost]" in outcomes
    assert "test_api_answers_through_the_proxy[fakehost]" in outcomes


@pytest.mark.fake
def test_shipped_checks_fail_when_scaled_to_zero_or_deleted(fake_lab: dict[str, Any]) -> None:
    env, ctx = fake_lab["env"], fake_lab["ctx"]
    scaled = kubectl_run(env, *ctx, "scale", "deployment/kubernetes-bootcamp", "--replicas=0")
    assert scaled.returncode == 0, scaled.stderr
    gone = kubectl_run(
        env, *ctx, "wait", "--for=delete", "pod", "-l", "app=kubernetes-bootcamp", "--timeout=30s"
    )
    assert gone.returncode == 0, gone.stderr
    rc, output, outcomes = run_checks(fake_lab, "scaled")
    assert rc != 0
    assert outcomes["test_node_is_ready[fakehost]"] == "passed"
    assert outcomes["test_deployment_is_available[fakehost]"] == "failed", output
    assert outcomes["test_pods_are_running_and_ready[fakehost]"] == "failed", output
    assert "no Running pod of kubernetes-bootcamp" in output

    deleted = kubectl_run(env, *ctx, "delete", "deployment", "kubernetes-bootcamp")
    assert deleted.returncode == 0, deleted.stderr
    rc, output, outcomes = run_checks(fake_lab, "deleted")
    assert rc != 0
    assert outcomes["test_deployment_is_available[fakehost]"] == "failed"
    assert "deployment kubernetes-bootcamp not found in namespace default" in output


USER_TESTS = """
def test_hosts(lab_hosts, lab_host, kubectl, lab_vars, lab_proxy_url):
    assert lab_proxy_url == "http://127.0.0.1:8001"
    assert [h.name for h in lab_hosts] == ["lab-01", "lab-02"]
    assert kubectl == ("kubectl", "--context", "kind-dev", "-n", "lab-" + lab_host.name)
    assert lab_vars == {"replicas": 2}
"""


def test_plugin_in_a_users_own_ci(tmp_path: Path) -> None:
    (tmp_path / "inventory.yml").write_text(
        "all:\n  vars:\n    provider: context\n    kube_context: kind-dev\n"
        "  hosts:\n    lab-[01:03]:\n"
    )
    (tmp_path / "test_mine.py").write_text(USER_TESTS)
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "labtools.verify.plugin",
        "-p",
        "no:cacheprovider",
    ]
    argv += ["-c", os.devnull, "--rootdir", str(tmp_path), "-v", "--lab-inventory=inventory.yml"]
    argv += ["--lab-hosts=lab-0*:!lab-03", '--lab-vars={"replicas": 2}', "test_mine.py"]
    argv += ["--lab-proxy-url=http://127.0.0.1:8001/version"]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=isolated_env(tmp_path),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_hosts[lab-01] PASSED" in done.stdout
    assert "test_hosts[lab-02] PASSED" in done.stdout
    assert "lab-03" not in done.stdout
