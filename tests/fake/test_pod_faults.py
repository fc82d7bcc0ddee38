"""Pod-level faults of the fake cluster, seen through the real kubectl.

Sources of the texts and timings: ``pkg/kubelet/images/image_manager.go`` (v1.32, with PR
#127918's back-off message), ``pkg/kubelet/kuberuntime/kuberuntime_container.go`` and
``kuberuntime_manager.go`` (doBackOff), ``pkg/kubelet/kubelet.go`` (10 s base, 300 s cap),
``pkg/controller/nodelifecycle/node_lifecycle_controller.go`` and
``pkg/controller/util/node/controller_utils.go``. The server runs with ``--backoff-scale 0.1``:
every back-off wait is a tenth of the real one, the texts keep the real durations.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labtools.testing.cluster import FakeCluster

pytestmark = pytest.mark.fake

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
SCALE = 0.1
NOT_FOUND = (
    "Error response from daemon: manifest for nginx:9.9 not found: manifest unknown: "
    "manifest unknown"
)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    """A fresh server per test (faults are server-wide), back-offs a tenth of the real ones."""
    extra = ["--backoff-scale", str(SCALE)]
    with FakeCluster(tmp_path / "c", pod_ready_delay=0.2, extra_args=extra) as running:
        yield running


def jsonpath(cluster: FakeCluster, what: str, path: str) -> str:
    result = cluster.kubectl("get", what, "-o", f"jsonpath={path}")
    assert result.returncode == 0, result.stderr
    return result.stdout


def _epoch(stamp: str) -> float:
    return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))


def until(cluster: FakeCluster, what: str, path: str, wanted: str, timeout: float = 20) -> str:
    """Poll a jsonpath until it contains ``wanted``; the last value."""
    deadline = time.monotonic() + timeout
    value = ""
    while time.monotonic() < deadline:
        value = jsonpath(cluster, what, path)
        if wanted in value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} {path}: {wanted!r} never came; last {value!r}")


def events(cluster: FakeCluster, name: str) -> list[tuple[str, str, str, int]]:
    """(type, reason, message, count) of the events about ``name``."""
    out = cluster.kubectl("get", "events", "--field-selector", f"involvedObject.name={name}",
                          "-o", "json")  # fmt: skip
    return [
        (e["type"], e["reason"], e["message"], int(e.get("count") or 1))
        for e in json.loads(out.stdout)["items"]
    ]


WAITING = "{.status.containerStatuses[0].state.waiting.reason}"
MESSAGE = "{.status.containerStatuses[0].state.waiting.message}"


# ---- image pulls --------------------------------------------------------------------------
def test_image_pull_fault_err_image_pull_then_back_off(cluster: FakeCluster) -> None:
    cluster.inject("image-pull", image="nginx:9*")
    assert cluster.kubectl("run", "bad", "--image=nginx:9.9").returncode == 0
    assert cluster.kubectl("run", "good", "--image=nginx:1.27").returncode == 0
    until(cluster, "pod/bad", WAITING, "ImagePullBackOff")
    assert jsonpath(cluster, "pod/bad", MESSAGE) == (
        f'Back-off pulling image "nginx:9.9": ErrImagePull: {NOT_FOUND}'
    )
    seen = {(t, r, m) for t, r, m, _ in events(cluster, "bad")}
    assert {
        ("Normal", "Pulling", 'Pulling image "nginx:9.9"'),
        ("Warning", "Failed", f'Failed to pull image "nginx:9.9": {NOT_FOUND}'),
        ("Warning", "Failed", "Error: ErrImagePull"),
        ("Normal", "BackOff", 'Back-off pulling image "nginx:9.9"'),
        ("Warning", "Failed", "Error: ImagePullBackOff"),
    } <= seen
    good = cluster.kubectl("wait", "--for=condition=Ready", "pod/good", "--timeout=20s")
    assert good.returncode == 0, good.stderr
    waited = cluster.kubectl("wait", "--for=condition=Ready", "pod/bad", "--timeout=1s")
    assert waited.returncode == 1
    assert "timed out waiting for the condition on pods/bad" in waited.stderr


def test_image_pull_fault_for_one_namespace_only(cluster: FakeCluster) -> None:
    # a workshop: every participant runs the same image; one of them cannot pull it
    cluster.inject("image-pull", image=BOOTCAMP, namespace="lab-07")
    for ns in ("lab-06", "lab-07"):
        assert cluster.kubectl("create", "namespace", ns).returncode == 0
        made = cluster.kubectl("-n", ns, "create", "deployment", "web", f"--image={BOOTCAMP}")
        assert made.returncode == 0
    ok = cluster.kubectl("-n", "lab-06", "rollout", "status", "deploy/web", "--timeout=30s")
    assert ok.returncode == 0, ok.stderr
    stuck = "{.items[0].status.containerStatuses[0].state.waiting.reason}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = cluster.kubectl("-n", "lab-07", "get", "pods", "-o", f"jsonpath={stuck}").stdout
        if got == "ImagePullBackOff":
            break
        time.sleep(0.1)
    assert got == "ImagePullBackOff"


def test_err_image_pull_shows_the_runtimes_message(cluster: FakeCluster) -> None:
    cluster.inject("image-pull", image="ghcr.io/acme/*", reason="denied")
    assert cluster.kubectl("run", "priv", "--image=ghcr.io/acme/app:1").returncode == 0
    message = until(cluster, "pod/priv", f"{WAITING} {MESSAGE}", "pull access denied", timeout=10)
    assert message.endswith(
        "Error response from daemon: pull access denied for ghcr.io/acme/app, repository does "
        "not exist or may require 'docker login': denied: requested access to the resource "
        "is denied"
    )


def test_pull_attempts_back_off_doubling(cluster: FakeCluster) -> None:
    fault = cluster.inject("image-pull", image="nginx:9.9", count=3)
    assert cluster.kubectl("run", "bad", "--image=nginx:9.9").returncode == 0
    attempts: list[float] = []
    hits = 0
    deadline = time.monotonic() + 20
    while len(attempts) < 3 and time.monotonic() < deadline:
        listed = [f for f in cluster.admin.list() if f["id"] == fault["id"]]
        now_hits = listed[0]["hits"] if listed else 3
        if now_hits > hits:
            attempts += [time.monotonic()] * (now_hits - hits)
            hits = now_hits
        time.sleep(0.05)
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    # 10 s then 20 s, scaled: the retry comes at the first sync after each back-off
    assert 10 * SCALE * 0.9 <= gaps[0] < 10 * SCALE + 1.5, gaps
    assert 20 * SCALE * 0.9 <= gaps[1] < 20 * SCALE + 1.5, gaps
    # the fourth pull succeeds: the fault was for three
    until(cluster, "pod/bad", "{.status.phase}", "Running", timeout=15)
    assert jsonpath(cluster, "pod/bad", "{.status.containerStatuses[0].ready}") == "true"


def test_tutorials_missing_tag_fails_without_a_fault(cluster: FakeCluster) -> None:
    image = "gcr.io/google-samples/kubernetes-bootcamp:v10"
    assert cluster.kubectl("run", "v10", f"--image={image}").returncode == 0
    until(cluster, "pod/v10", MESSAGE, f"manifest for {image} not found")


def test_invalid_image_name(cluster: FakeCluster) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "upper"},
        "spec": {"containers": [{"name": "c", "image": "Nginx"}]},
    }
    assert cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pod)).returncode == 0
    until(cluster, "pod/upper", WAITING, "InvalidImageName")
    message = (
        'Failed to apply default image tag "Nginx": couldn\'t parse image name "Nginx": '
        "invalid reference format: repository name (library/Nginx) must be lowercase"
    )
    assert jsonpath(cluster, "pod/upper", MESSAGE) == message
    seen = {(r, m) for _, r, m, _ in events(cluster, "upper")}
    assert ("InspectFailed", message) in seen
    assert ("Failed", "Error: InvalidImageName") in seen


# ---- crashes ------------------------------------------------------------------------------
def test_crash_loop_back_off_with_restarts_and_previous_logs(cluster: FakeCluster) -> None:
    cluster.inject("crash", pod="crashy", exitCode=3, after=0.3, lines=["panic: boom", "exit"])
    assert cluster.kubectl("run", "crashy", f"--image={BOOTCAMP}").returncode == 0
    uid = until(cluster, "pod/crashy", "{.metadata.uid}", "-")
    # the first exit restarts at once; the next ones wait 10 s, then 20 s (scaled)
    until(cluster, "pod/crashy", MESSAGE, "back-off 10s restarting failed container=crashy")
    assert jsonpath(cluster, "pod/crashy", MESSAGE) == (
        f"back-off 10s restarting failed container=crashy pod=crashy_default({uid})"
    )
    until(cluster, "pod/crashy", MESSAGE, "back-off 20s", timeout=20)
    last = json.loads(
        jsonpath(cluster, "pod/crashy", "{.status.containerStatuses[0].lastState.terminated}")
    )
    assert (last["exitCode"], last["reason"]) == (3, "Error")
    assert int(jsonpath(cluster, "pod/crashy", "{.status.containerStatuses[0].restartCount}")) >= 2
    table = cluster.kubectl("get", "pod", "crashy", "--no-headers").stdout
    assert "CrashLoopBackOff" in table
    previous = cluster.kubectl("logs", "crashy", "--previous")
    lines = previous.stdout.splitlines()
    assert lines[0].startswith("Kubernetes Bootcamp App Started At: ")
    assert lines[-2:] == ["panic: boom", "exit"]
    message = f"Back-off restarting failed container crashy in pod crashy_default({uid})"
    assert ("Warning", "BackOff", message) in {
        (t, r, m) for t, r, m, _ in events(cluster, "crashy")
    }


def test_crash_count_then_the_container_stays_up(cluster: FakeCluster) -> None:
    cluster.inject("crash", pod="web-*", count=2, after=0.2)
    created = cluster.kubectl("create", "deployment", "web", f"--image={BOOTCAMP}")
    assert created.returncode == 0
    restarts = "{.items[*].status.containerStatuses[0].restartCount}"
    until(cluster, "pods", restarts, "2")
    waited = cluster.kubectl("wait", "--for=condition=Available", "deploy/web", "--timeout=30s")
    assert waited.returncode == 0, waited.stderr
    time.sleep(1.0)  # longer than the crash's `after`: no third crash
    assert jsonpath(cluster, "pods", restarts) == "2"
    assert jsonpath(cluster, "pods", "{.items[*].status.phase}") == "Running"
    assert cluster.admin.list() == []


def test_previous_logs_of_a_container_that_never_restarted(cluster: FakeCluster) -> None:
    assert cluster.kubectl("run", "calm", f"--image={BOOTCAMP}").returncode == 0
    assert (
        cluster.kubectl("wait", "--for=condition=Ready", "pod/calm", "--timeout=20s").returncode
        == 0
    )
    previous = cluster.kubectl("logs", "calm", "--previous")
    assert previous.returncode == 1
    assert previous.stderr == (
        'Error from server (BadRequest): previous terminated container "calm" in pod "calm" '
        "not found\n"
    )


# ---- readiness ----------------------------------------------------------------------------
def test_readiness_delay_holds_ready_then_waits_succeed(cluster: FakeCluster) -> None:
    cluster.inject("readiness-delay", pod="slow-*", delay=2)
    assert cluster.kubectl("create", "deployment", "slow", f"--image={BOOTCAMP}").returncode == 0
    until(cluster, "pods", "{.items[0].status.phase}", "Running")
    assert jsonpath(cluster, "pods", "{.items[0].status.containerStatuses[0].ready}") == "false"
    ready = jsonpath(cluster, "pods", '{.items[0].status.conditions[?(@.type=="Ready")]}')
    assert json.loads(ready)["reason"] == "ContainersNotReady"
    rolled = cluster.kubectl("rollout", "status", "deployment/slow", "--timeout=30s")
    assert rolled.returncode == 0, rolled.stderr
    assert 'deployment "slow" successfully rolled out' in rolled.stdout
    # Ready came `delay` after the container started (the pod's own times, not this loaded
    # machine's wall clock: RFC 3339 seconds, so a 2 s delay is a difference of 2)
    started = jsonpath(
        cluster, "pods", "{.items[0].status.containerStatuses[0].state.running.startedAt}"
    )
    became = jsonpath(
        cluster, "pods", '{.items[0].status.conditions[?(@.type=="Ready")].lastTransitionTime}'
    )
    assert _epoch(became) - _epoch(started) >= 2


# ---- the node -----------------------------------------------------------------------------
NODE_READY = '{.status.conditions[?(@.type=="Ready")]}'


def test_node_not_ready_and_back(cluster: FakeCluster) -> None:
    node = cluster.node_name
    assert cluster.kubectl("run", "before", f"--image={BOOTCAMP}").returncode == 0
    assert (
        cluster.kubectl("wait", "--for=condition=Ready", "pod/before", "--timeout=20s").returncode
        == 0
    )
    fault = cluster.inject("node-not-ready")
    cond = json.loads(until(cluster, f"node/{node}", NODE_READY, "Unknown"))
    assert (cond["reason"], cond["message"]) == (
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    )
    assert f"{node}   NotReady" in cluster.kubectl("get", "nodes", "--no-headers").stdout
    taints = json.loads(jsonpath(cluster, f"node/{node}", "{.spec.taints}"))
    assert [(t["key"], t["effect"]) for t in taints] == [
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    ]
    waited = cluster.kubectl("wait", "--for=condition=Ready", f"node/{node}", "--timeout=1s")
    assert waited.returncode == 1
    assert f"timed out waiting for the condition on nodes/{node}" in waited.stderr
    assert (
        jsonpath(cluster, "pod/before", '{.status.conditions[?(@.type=="Ready")].status}')
        == "False"
    )
    assert ("Warning", "NodeNotReady", "Node is not ready") in {
        (t, r, m) for t, r, m, _ in events(cluster, "before")
    }
    assert cluster.kubectl("run", "after", f"--image={BOOTCAMP}").returncode == 0
    scheduled = until(
        cluster, "pod/after", '{.status.conditions[?(@.type=="PodScheduled")]}', "Unschedulable"
    )
    assert json.loads(scheduled)["message"] == (
        "0/1 nodes are available: 1 node(s) had untolerated taint "
        "{node.kubernetes.io/unreachable: }. preemption: 0/1 nodes are available: 1 "
        "Preemption is not helpful for scheduling."
    )
    cluster.clear_faults(fault["id"])
    until(cluster, f"node/{node}", NODE_READY, "KubeletReady")
    assert jsonpath(cluster, f"node/{node}", "{.spec.taints}") == ""
    for pod in ("before", "after"):
        waited = cluster.kubectl("wait", "--for=condition=Ready", f"pod/{pod}", "--timeout=20s")
        assert waited.returncode == 0, waited.stderr


def test_unreachable_node_evicts_after_the_toleration(cluster: FakeCluster) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "short"},
        "spec": {
            "containers": [{"name": "c", "image": BOOTCAMP}],
            "tolerations": [
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 1,
                },
            ],
        },
    }
    assert cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pod)).returncode == 0
    assert (
        cluster.kubectl("wait", "--for=condition=Ready", "pod/short", "--timeout=20s").returncode
        == 0
    )
    cluster.inject("node-not-ready", seconds=4)
    until(cluster, "pod/short", "{.metadata.deletionTimestamp}", "T", timeout=10)
    assert ("Normal", "TaintManagerEviction", "Marking for deletion Pod default/short") in {
        (t, r, m) for t, r, m, _ in events(cluster, "short")
    }
    # the kubelet is gone: the pod stays Terminating until the node is back
    assert "Terminating" in cluster.kubectl("get", "pod", "short", "--no-headers").stdout
    gone = cluster.kubectl("wait", "--for=delete", "pod/short", "--timeout=20s")
    assert gone.returncode == 0, gone.stderr
