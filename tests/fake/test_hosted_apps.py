"""Emulated images served by the API server (``apphost.py``), seen from inside the pods."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labtools.testing import procs
from labtools.testing.apiserver.pods import detect_isolation
from labtools.testing.cluster import FakeCluster

pytestmark = pytest.mark.fake

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
isolated = pytest.mark.skipif(
    detect_isolation() != "netns", reason="needs per-pod network namespaces (root)"
)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with FakeCluster(tmp_path / "c", pod_ready_delay=0.2) as running:
        yield running


def descendants(root: int) -> list[str]:
    """Command lines of every live descendant of ``root``."""
    found = []
    for pid in procs.descendants(root):
        try:
            found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


@isolated
def test_a_bootcamp_pod_is_served_without_an_interpreter_of_its_own(cluster: FakeCluster) -> None:
    assert cluster.kubectl("run", "boot", f"--image={BOOTCAMP}").returncode == 0
    waited = cluster.kubectl("wait", "--for=condition=Ready", "pod/boot", "--timeout=30s")
    assert waited.returncode == 0, waited.stderr
    inside = cluster.kubectl("exec", "boot", "--", "curl", "-s", "localhost:8080")
    assert inside.stdout == "Hello Kubernetes bootcamp! | Running on: boot | v=1\n"
    hostname = cluster.kubectl("exec", "boot", "--", "hostname")
    assert hostname.stdout == "boot\n"
    logs = cluster.kubectl("logs", "boot").stdout.splitlines()
    assert logs[0].startswith("Kubernetes Bootcamp App Started At: ")
    assert logs[-1].startswith("Running On: boot | Total Requests: 1 | App Uptime: ")
    commands = descendants(cluster.pid or 0)
    assert not any("labtools.testing.apiserver.apps" in c for c in commands), commands
    assert sum(c.startswith("sleep infinity") for c in commands) == 2  # sandbox + container


@isolated
def test_two_servers_on_one_port_the_second_fails(cluster: FakeCluster) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "twice"},
        "spec": {
            "containers": [
                {"name": "a", "image": "nginx"},
                {"name": "b", "image": "nginx"},
            ]
        },
    }
    assert cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pod)).returncode == 0
    path = '{.status.containerStatuses[?(@.name=="b")].lastState.terminated.exitCode}'
    deadline = time.monotonic() + 30
    code = ""
    while time.monotonic() < deadline and not code:
        code = cluster.kubectl("get", "pod", "twice", "-o", f"jsonpath={path}").stdout
        time.sleep(0.2)
    assert code == "1"
    previous = cluster.kubectl("logs", "twice", "-c", "b", "--previous")
    assert "listen tcp :80: bind: Address already in use" in previous.stdout
    served = cluster.kubectl("exec", "twice", "-c", "a", "--", "curl", "-s", "localhost:80")
    assert "<title>Welcome to nginx!</title>" in served.stdout
