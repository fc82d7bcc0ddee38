"""labtools.verify: the pytest command, snapshots, the plugin, and the shipped checks."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from labtools.core.errors import ClusterUnreachableError
from labtools.core.options import parse_typed_sets
from labtools.verify.run import shown, split_junit, verify_command
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


def test_verify_command_is_short_and_relative(tmp_path: Path) -> None:
    checks = tmp_path / "playbooks" / "web" / "checks" / "test_web.py"
    argv = verify_command(
        tmp_path,
        lab="web",
        checks=[checks],
        inventory=tmp_path / "inventory.yml",
        hosts=["lab-01", "lab-02"],
        sets={"replicas": 2, "image": "a b", "flag": "yes", "nested": {"a": [1]}},
        proxy_url="http://127.0.0.1:8001",
        junit=tmp_path / "runs" / "r1" / "v.xml",
        extra=["-x"],
    )
    assert argv[:3] == (sys.executable, "-m", "pytest")
    assert shown(argv)[:4] == ("pytest", "-p", "labtools.verify.plugin", "--lab")
    pairs = dict(itertools.pairwise(argv))
    assert pairs["--lab"] == "web"
    assert pairs["--lab-inventory"] == "inventory.yml"
    assert pairs["--lab-hosts"] == "lab-01,lab-02"
    assert pairs["--junitxml"] == "runs/r1/v.xml"
    assert pairs["--rootdir"] == "."
    assert pairs["--confcutdir"] == "."
    sets = [argv[i + 1] for i, word in enumerate(argv) if word == "--lab-set"]
    # each value reads back as itself: "yes" stays text, the mapping stays a mapping
    assert sets == ["replicas=2", "image=a b", 'flag="yes"', 'nested={"a": [1]}']
    assert parse_typed_sets(sets) == {
        "replicas": 2,
        "image": "a b",
        "flag": "yes",
        "nested": {"a": [1]},
    }
    assert argv[-2:] == ("playbooks/web/checks/test_web.py", "-x")
    assert not any(word.startswith("{") for word in argv)


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


def run_checks_command(
    argv: Sequence[str], project: Path, home: Path
) -> subprocess.CompletedProcess[str]:
    """A checks command run in ``project`` with an environment isolated in ``home``."""
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=project,
        env=isolated_env(home),
        timeout=60,
        check=False,
    )


def test_checks_without_inventory_say_what_is_missing(tmp_path: Path) -> None:
    shutil.copytree(BASICS_CHECKS.parents[1], tmp_path / "playbooks" / "basics")
    shutil.copytree(BASICS_CHECKS.parents[3] / "templates", tmp_path / "templates")
    done = run_checks_command(
        verify_command(tmp_path, lab="basics", checks=[BASICS_CHECKS]), tmp_path, tmp_path
    )
    assert done.returncode != 0
    assert "inventory file not found" in done.stdout + done.stderr
    assert "--lab-inventory" in done.stdout + done.stderr


# -- the shipped checks against the fake cluster (labtools.testing.cluster) -------------------

BOOTCAMP_IMAGE = "gcr.io/google-samples/kubernetes-bootcamp:v1"
APP = "kubernetes-bootcamp"


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
        created = kubectl_run(env, *ctx, "create", "deployment", APP, f"--image={BOOTCAMP_IMAGE}")
        assert created.returncode == 0, created.stderr
        rolled = kubectl_run(
            env, *ctx, "rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=60s"
        )
        assert rolled.returncode == 0, rolled.stderr
        # the project: the Basics lab's folder and an inventory for the fake cluster
        shutil.copytree(BASICS_CHECKS.parents[1], root / "playbooks" / "basics")
        shutil.copytree(BASICS_CHECKS.parents[3] / "templates", root / "templates")
        inventory = root / "inventory.yml"
        inventory.write_text(
            "all:\n  hosts:\n    fakehost:\n      provider: context\n"
            f"      kube_context: {cluster.context}\n      kubeconfig: {cluster.kubeconfig}\n"
            "      namespace: default\n      isolation: false\n"
        )
        yield {"root": root, "env": env, "ctx": ctx, "inventory": inventory}
    finally:
        cluster.stop()


def run_checks(
    lab: dict[str, Any], name: str, proxy_url: str | None = None, path: str | None = None
) -> tuple[int, str, dict[str, str]]:
    """Run the shipped checks; (rc, output, {test name: passed|failed|skipped})."""
    junit = lab["root"] / f"{name}.xml"
    checks = lab["root"] / "playbooks" / "basics" / "checks" / "test_basics.py"
    argv = verify_command(
        lab["root"],
        lab="basics",
        checks=[checks],
        inventory=lab["inventory"],
        hosts="fakehost",
        junit=junit,
        proxy_url=proxy_url,
    )
    env = {k: v for k, v in lab["env"].items() if k != "KUBECONFIG"}  # the inventory names it
    if path is not None:
        env["PATH"] = path
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


KUBECTL_LOG_SHIM = """#!/bin/sh
printf '%s\\n' "$*" >> "{log}"
exec "{real}" "$@"
"""


@pytest.mark.fake
def test_shipped_checks_read_each_cluster_once_and_exec_once_per_pod_check(
    fake_lab: dict[str, Any], tmp_path: Path
) -> None:
    # lab.verify's budget: its proxy and one `get -o json` snapshot (the proxy check compares
    # the proxy's nodes with the snapshot's: no `kubectl version`), plus one exec per in-pod
    # check; testinfra's OS detection would add five execs
    real = shutil.which("kubectl", path=fake_lab["env"]["PATH"])
    assert real
    shims, log = tmp_path / "shims", tmp_path / "calls.log"
    shims.mkdir()
    (shims / "kubectl").write_text(KUBECTL_LOG_SHIM.format(log=log, real=real))
    (shims / "kubectl").chmod(0o755)
    with kubectl_proxy(fake_lab) as url:
        path = f"{shims}:{fake_lab['env']['PATH']}"
        rc, output, outcomes = run_checks(fake_lab, "counted", proxy_url=url, path=path)
    assert rc == 0, output
    calls = log.read_text().splitlines()
    execs = [call for call in calls if " exec " in f" {call} "]
    reads = [call for call in calls if call not in execs]
    in_pod = [n for n in outcomes if n.startswith(("test_app_listens", "test_app_answers"))]
    assert len(execs) == len(in_pod) == 2, calls
    assert len(reads) == 1, calls  # the snapshot
    assert " get " in f" {reads[0]} ", calls
    assert "-o json" in reads[0], calls


@pytest.mark.fake
def test_the_proxy_check_fails_on_a_proxy_to_another_cluster(fake_lab: dict[str, Any]) -> None:
    # an API that answers /version and lists a node, but not this cluster's node
    import http.server
    import json
    import threading

    class OtherCluster(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            other = {"items": [{"metadata": {"name": "minikube", "uid": "another-uid"}}]}
            body = {"/version": {"gitVersion": "v1.32.0"}, "/api/v1/nodes": other}[self.path]
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), OtherCluster) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}"
            rc, output, outcomes = run_checks(fake_lab, "other-proxy", proxy_url=url)
        finally:
            server.shutdown()
            thread.join(5)
    assert rc != 0
    assert outcomes["test_api_answers_through_the_proxy[fakehost]"] == "failed", outcomes
    assert "reaches another cluster" in output
    assert outcomes["test_node_is_ready[fakehost]"] == "passed"


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
def test_hosts(lab_hosts, lab_host, kubectl, lab_vars, lab_proxy_url, lab_namespace):
    assert lab_proxy_url == "http://127.0.0.1:8001"
    assert [h.name for h in lab_hosts] == ["lab-01", "lab-02"]
    assert kubectl == ("kubectl", "--context", "kind-dev", "-n", lab_host.name)
    assert lab_namespace == lab_host.name  # the context provider's default (lab-01 stays lab-01)
    assert lab_vars["replicas"] == 2  # --lab-set, as lab.up --set
    assert lab_vars["inventory_hostname"] == lab_host.name
"""


def run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest with the plugin in ``tmp_path`` (a user's project), isolated from this repo."""
    argv = [sys.executable, "-m", "pytest", "-p", "labtools.verify.plugin", "-p"]
    argv += ["no:cacheprovider", "-c", os.devnull, "--rootdir", str(tmp_path), "-v", *args]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=isolated_env(tmp_path),
        timeout=60,
        check=False,
    )


def test_plugin_in_a_users_own_ci(tmp_path: Path) -> None:
    (tmp_path / "inventory.yml").write_text(
        "all:\n  vars:\n    provider: context\n    kube_context: kind-dev\n    isolation: false\n"
        "  hosts:\n    lab-[01:03]:\n"
    )
    (tmp_path / "test_mine.py").write_text(USER_TESTS)
    done = run_pytest(
        tmp_path,
        "--lab-inventory=inventory.yml",
        "--lab-hosts=lab-0*:!lab-03",
        "--lab-set",
        "replicas=2",
        "--lab-proxy-url=http://127.0.0.1:8001/version",
        "test_mine.py",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_hosts[lab-01] PASSED" in done.stdout
    assert "test_hosts[lab-02] PASSED" in done.stdout
    assert "lab-03" not in done.stdout


def test_a_conftest_above_the_project_is_not_the_checks_own(tmp_path: Path) -> None:
    # a conftest.py in a folder above the project (a home folder, /tmp) is someone else's: it
    # must not load into the lab's checks (and pytest must not scan those folders' entries)
    (tmp_path / "conftest.py").write_text("raise SystemExit('a conftest above the project')\n")
    project = tmp_path / "project"
    checks = project / "playbooks" / "tiny" / "checks"
    checks.mkdir(parents=True)
    (project / "playbooks" / "tiny" / "playbook.yml").write_text(
        "name: tiny\nverify:\n  - name: checks\n    verify: tiny\n"
    )
    (checks / "test_tiny.py").write_text("def test_host(lab_host):\n    assert lab_host.name\n")
    (project / "inventory.yml").write_text(
        "all:\n  vars:\n    provider: context\n    kube_context: dev\n    isolation: false\n"
        "  hosts:\n    lab-01:\n"
    )
    argv = verify_command(
        project, lab="tiny", checks=[checks / "test_tiny.py"], inventory="inventory.yml"
    )
    done = run_checks_command(argv, project, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


SECRET_LAB = """
name: vault
vars:
  app_name: web
  replicas: 1
  token: tok-from-the-lab-3f9a
  dsn: "postgres://app:{{ token }}@db/app"
  greeting: "hello {{ inventory_hostname }}"
secrets: [token]
verify:
  - name: checks
    verify: vault
"""

SECRET_CHECKS = """
import json

def test_vars(lab_vars, lab_host):
    print(json.dumps(dict(lab_vars), default=str))
    assert "token" not in lab_vars          # a secret, by name
    assert "dsn" not in lab_vars            # holds the secret
    assert lab_vars["greeting"] == "hello " + lab_host.name  # templates rendered per host
    assert lab_vars["replicas"] == int(lab_host.name[-1])    # inventory host vars
    assert lab_vars["app_name"] == "web"
"""


def test_the_lab_variables_reach_the_checks_but_never_its_secrets(tmp_path: Path) -> None:
    (tmp_path / "inventory.yml").write_text(
        "all:\n  vars:\n    provider: context\n    kube_context: kind-dev\n"
        "  hosts:\n    h1: {replicas: 1}\n    h2: {replicas: 2}\n"
    )
    checks = tmp_path / "playbooks" / "vault" / "checks"
    checks.mkdir(parents=True)
    (checks.parent / "playbook.yml").write_text(SECRET_LAB)
    (checks / "test_vault.py").write_text(SECRET_CHECKS)
    secret = "tok-given-with-set-77c1"
    done = run_pytest(
        tmp_path,
        "-s",
        "--lab",
        "vault",
        "--lab-set",
        f"token={secret}",
        "playbooks/vault/checks/test_vault.py",
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "test_vars[h1]" in output
    assert "test_vars[h2]" in output
    assert "2 passed" in output
    assert '"app_name": "web"' in output  # what the checks saw was printed (-s)
    assert secret not in output
    assert "tok-from-the-lab-3f9a" not in output


def test_an_unknown_lab_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "inventory.yml").write_text("all:\n  hosts:\n    h1:\n")
    (tmp_path / "playbooks" / "basics").mkdir(parents=True)
    (tmp_path / "playbooks" / "basics" / "playbook.yml").write_text("name: basics\n")
    (tmp_path / "test_x.py").write_text("def test_x(lab_host):\n    pass\n")
    done = run_pytest(tmp_path, "--lab", "basic", "test_x.py")
    assert done.returncode == 4  # pytest's usage error
    assert "unknown lab 'basic'" in done.stderr
    assert "did you mean 'basics'" in done.stderr


PER_HOST_PROXY_TESTS = """
def test_proxy(lab_host, lab_proxy_url):
    assert lab_proxy_url == {"lab-01": "http://127.0.0.1:9001", "lab-02": "http://127.0.0.1:9002"}[
        lab_host.name
    ]
"""


def test_each_host_of_one_session_gets_its_own_proxy_and_its_name_in_the_junit(
    tmp_path: Path,
) -> None:
    (tmp_path / "inventory.yml").write_text(
        "all:\n  vars:\n    provider: context\n    kube_context: kind-dev\n"
        "  hosts:\n    lab-[01:02]:\n"
    )
    (tmp_path / "test_proxy.py").write_text(PER_HOST_PROXY_TESTS)
    argv = verify_command(
        tmp_path,
        lab=None,
        checks=[tmp_path / "test_proxy.py"],
        inventory=tmp_path / "inventory.yml",
        hosts=["lab-01", "lab-02"],
        proxy_url={"lab-01": "http://127.0.0.1:9001", "lab-02": "http://127.0.0.1:9002/version"},
        junit=tmp_path / "session.xml",
    )
    assert [argv[i + 1] for i, w in enumerate(argv) if w == "--lab-proxy-url"] == [
        "lab-01=http://127.0.0.1:9001",
        "lab-02=http://127.0.0.1:9002/version",
    ]
    done = run_pytest(tmp_path, *argv[5:])  # after `python -m pytest -p labtools.verify.plugin`
    assert done.returncode == 0, done.stdout + done.stderr
    parts = split_junit((tmp_path / "session.xml").read_text(), ["lab-01", "lab-02"], "lab_host")
    for host in ("lab-01", "lab-02"):
        cases = ElementTree.fromstring(parts[host]).iter("testcase")
        assert [c.get("name") for c in cases] == [f"test_proxy[{host}]"]


SESSION_JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="0"
 tests="5" time="2.5" timestamp="2026-12-01T12:00:00" hostname="x">
<testcase classname="t" name="test_a[h1]" time="0.5"><properties>
<property name="lab_host" value="h1"/></properties></testcase>
<testcase classname="t" name="test_a[h2]" time="0.5"><properties>
<property name="lab_host" value="h2"/></properties><failure message="boom">x</failure></testcase>
<testcase classname="t" name="test_b[h2]" time="0.5"><properties>
<property name="lab_host" value="h2"/></properties><error message="err">y</error></testcase>
<testcase classname="t" name="test_c[h1]" time="0.5"><properties>
<property name="lab_host" value="h1"/></properties><skipped message="no proxy"/></testcase>
<testcase classname="t" name="test_no_host" time="0.5"/>
</testsuite></testsuites>
"""


def test_a_session_junit_splits_into_each_hosts_own_counts() -> None:
    parts = split_junit(SESSION_JUNIT, ["h1", "h2", "h3"], "lab_host")
    suites = {h: ElementTree.fromstring(text).find("testsuite") for h, text in parts.items()}
    counts = {
        h: tuple(s.get(k) for k in ("tests", "failures", "errors", "skipped"))
        for h, s in suites.items()
        if s is not None
    }
    # the testcase of no host belongs to every host
    assert counts == {
        "h1": ("3", "0", "0", "1"),
        "h2": ("3", "1", "1", "0"),
        "h3": ("1", "0", "0", "0"),
    }
    names = [c.get("name") for c in ElementTree.fromstring(parts["h2"]).iter("testcase")]
    assert names == ["test_a[h2]", "test_b[h2]", "test_no_host"]
    assert suites["h1"] is not None
    assert suites["h1"].get("time") == "1.500"


FROZEN_CHECKS = """
import gc
import weakref

class Node:
    pass

def test_what_the_start_built_is_frozen(lab_host):
    assert gc.get_freeze_count() > 0

def test_a_checks_garbage_is_still_collected(lab_host):
    node = Node()
    node.itself = node  # a cycle: only the collector frees it
    gone = weakref.ref(node)
    del node
    gc.collect()
    assert gone() is None
"""


@pytest.mark.parametrize("nested", [False, True], ids=["own-process", "inside-a-test"])
def test_the_checks_process_freezes_its_start_only(tmp_path: Path, nested: bool) -> None:
    # the collections at the end walk only what the checks made, and their garbage is still
    # collected; inside another pytest's test (as an in-process run is) the heap is left alone
    (tmp_path / "inventory.yml").write_text("all:\n  hosts:\n    h1:\n")
    (tmp_path / "test_frozen.py").write_text(FROZEN_CHECKS)
    env = {k: v for k, v in isolated_env(tmp_path).items() if k != "PYTEST_CURRENT_TEST"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # as lab.verify runs it
    if nested:
        env["PYTEST_CURRENT_TEST"] = "test_outer.py::test_outer (call)"
    argv = [sys.executable, "-m", "pytest", "-p", "labtools.verify.plugin", "-p"]
    argv += ["no:cacheprovider", "-c", os.devnull, "--rootdir", str(tmp_path), "test_frozen.py"]
    done = subprocess.run(
        argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    if nested:
        assert "1 failed, 1 passed" in output, output
        assert "test_what_the_start_built_is_frozen" in output
    else:
        assert done.returncode == 0, output
        assert "2 passed" in output, output


def test_sessions_running_at_once_each_split_their_own_junit(tmp_path: Path) -> None:
    """Two sessions at the same time (a workshop's checks): each writes and splits its own
    JUnit file, so each host's verify-<host>.xml holds its own tests."""
    import threading

    from labtools.core.actions import ChecksCall, RunCommand
    from labtools.core.model import Command
    from labtools.core.results import Output
    from labtools.effects.checks import run_together

    def call(host: str) -> RunCommand:
        spec = ChecksCall(
            str(tmp_path), "t", ("c.py",), "inventory.yml", host, "{}",
            junit=str(tmp_path / f"verify-{host}.xml"),
        )  # fmt: skip
        return RunCommand(Command(("true",)), readonly=True, checks=spec)

    both = threading.Barrier(2)

    def run_one(action: RunCommand) -> Output:
        argv = action.command.argv
        hosts = argv[argv.index("--lab-hosts") + 1].split(",")
        junit = tmp_path / argv[argv.index("--junitxml") + 1]
        both.wait(timeout=10)  # both sessions are running now
        cases = "".join(
            f'<testcase name="t[{h}]"><properties><property name="lab_host" value="{h}"/>'
            f"</properties></testcase>"
            for h in hosts
        )
        junit.write_text(f'<testsuites><testsuite name="p" tests="{len(hosts)}">{cases}'
                         "</testsuite></testsuites>")  # fmt: skip
        both.wait(timeout=10)  # both files written before either is read
        return Output(rc=0)

    groups = [["a1", "a2"], ["b1", "b2"]]
    threads = [
        threading.Thread(target=run_together, args=({h: call(h) for h in g}, run_one))
        for g in groups
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    for host in ("a1", "a2", "b1", "b2"):
        cases = ElementTree.parse(tmp_path / f"verify-{host}.xml").getroot().iter("testcase")
        assert [c.get("name") for c in cases] == [f"t[{host}]"]
    assert sorted(p.name for p in tmp_path.glob("*.xml")) == [
        "verify-a1.xml", "verify-a2.xml", "verify-b1.xml", "verify-b2.xml"
    ]  # fmt: skip


def counting_kubectl(tmp_path: Path, rc: int = 0) -> Path:
    """A stand-in kubectl that appends a line per call to ``calls`` and prints a node."""
    script = tmp_path / "kubectl"
    body = json.dumps({"kind": "List", "items": [NODE]})
    script.write_text(
        f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\n'
        f"cat <<'EOF'\n{body}\nEOF\n"
        "echo 'error: the server could not be reached' >&2\n"
        f"exit {rc}\n"
    )
    script.chmod(0o755)
    return script


def calls_made(tmp_path: Path) -> int:
    path = tmp_path / "calls"
    return len(path.read_text().splitlines()) if path.exists() else 0


def wait_for_calls(tmp_path: Path, count: int) -> None:
    deadline = time.monotonic() + 10
    while calls_made(tmp_path) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_prefetched_snapshot_is_taken_once_by_the_same_call(tmp_path: Path) -> None:
    from labtools.verify import snapshot

    prefix = (str(counting_kubectl(tmp_path)), "--context", "c")
    snapshot.prefetch(prefix, "ns", {"KUBECONFIG": "/k"})
    wait_for_calls(tmp_path, 1)
    # another environment or namespace is another call: read now, the prefetch stays
    Snapshot.take(prefix, "ns", env={"KUBECONFIG": "/other"})
    Snapshot.take(prefix, "other-ns", env={"KUBECONFIG": "/k"})
    assert calls_made(tmp_path) == 3
    first = Snapshot.take(prefix, "ns", env={"KUBECONFIG": "/k"})  # the prefetched read
    assert calls_made(tmp_path) == 3
    assert first.node() == NODE
    Snapshot.take(prefix, "ns", env={"KUBECONFIG": "/k"})  # used once: a refresh reads again
    assert calls_made(tmp_path) == 4
    snapshot.discard()


def test_a_discarded_prefetch_is_read_again_and_errors_are_kept(tmp_path: Path) -> None:
    from labtools.verify import snapshot

    prefix = (str(counting_kubectl(tmp_path, rc=1)), "--context", "gone")
    snapshot.prefetch(prefix, "ns", {})
    wait_for_calls(tmp_path, 1)
    with pytest.raises(ClusterUnreachableError, match="could not be reached"):
        Snapshot.take(prefix, "ns")  # the prefetched read's own error
    assert calls_made(tmp_path) == 1
    snapshot.prefetch(prefix, "ns", {})
    wait_for_calls(tmp_path, 2)
    snapshot.discard()
    with pytest.raises(ClusterUnreachableError):
        Snapshot.take(prefix, "ns")
    assert calls_made(tmp_path) == 3  # read again after the discard


def fixture_of(module: str) -> Any:
    """What pytest_fixture_setup reads of a fixture definition: its function's module."""
    import types

    def func() -> None: ...

    func.__module__ = module
    return types.SimpleNamespace(func=func)


@pytest.mark.parametrize("first", ["a check", "a fixture of the checks", "nothing"])
def test_a_check_or_its_fixture_running_first_discards_the_prefetch(
    tmp_path: Path, first: str
) -> None:
    # what the first snapshot shows is the cluster when the checks started only when no check
    # code ran before it; labtools' and pytest's own fixtures keep the prefetch
    from labtools.verify import plugin, snapshot

    prefix = (str(counting_kubectl(tmp_path)), "--context", "c")
    snapshot.prefetch(prefix, "ns", {})
    wait_for_calls(tmp_path, 1)
    plugin.pytest_fixture_setup(fixture_of("_pytest.tmpdir"))  # pytest's tmp_path
    plugin.pytest_fixture_setup(fixture_of("labtools.verify.plugin"))  # lab_vars, kubectl...
    if first == "a check":
        plugin.pytest_runtest_call(None)  # type: ignore[arg-type]
    elif first == "a fixture of the checks":
        plugin.pytest_fixture_setup(fixture_of("test_basics"))
    Snapshot.take(prefix, "ns")
    assert calls_made(tmp_path) == (1 if first == "nothing" else 2)
    snapshot.discard()
