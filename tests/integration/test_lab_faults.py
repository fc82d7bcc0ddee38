"""Faults injected into the fake cluster, and what labtools does with them (docs/reliability.md).

Each test runs a small lab through `invoke` as a subprocess (provider `context`, the real kubectl)
against one fake API server, injects a fault through its admin endpoint, and checks what the
user sees: the console, the exit code, the journal, and how many API calls it took.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labtools.testing.cluster import FakeCluster
from tests.integration.helpers import LabProject, copy_project, isolated_env

pytestmark = [pytest.mark.fake, pytest.mark.slow]

FAULTS_LAB = """
name: faults
description: a lab to meet the cluster's faults
hosts: all
vars: {app: web, image: "nginx:1.27", pause: 0}
setup:
  - name: wait for the nodes to be Ready
    kubectl: wait --for=condition=Ready nodes --all --timeout=120s
    ignore_errors: true
  - name: wait for the node
    kubectl: get nodes
    until: "' Ready ' in result.stdout"
    retries: 3
    delay: 1
deploy:
  - name: kubectl get pods
    kubectl: get pods
  - name: kubectl create deployment
    kubectl: create deployment {{ app }} --image={{ image }}
  - name: wait for the rollout
    kubectl: rollout status deployment/{{ app }} --timeout=120s
  - name: a pause
    wait: 3
    when: pause | int > 0
  - name: wait for the pods to be Ready
    kubectl: wait --for=condition=Ready pod -l app={{ app }} --timeout=120s
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeCluster]:
    """One fake API server for the module (a test clears the faults it injected)."""
    with FakeCluster(tmp_path_factory.mktemp("cluster"), name="faults", pod_ready_delay=0.3) as c:
        yield c


@pytest.fixture
def lab(cluster: FakeCluster, tmp_path: Path) -> Iterator[LabProject]:
    """A project with the faults lab on provider `context` against the module's cluster."""
    root = tmp_path / "project"
    root.mkdir()
    copy_project(root)
    namespace = tmp_path.name.lower().replace("_", "-")[-40:].strip("-")
    cluster.kubectl("create", "namespace", namespace, check=True)
    (root / "playbooks" / "faults").mkdir()
    (root / "playbooks" / "faults" / "playbook.yml").write_text(FAULTS_LAB)
    (root / "inventory.yml").write_text(
        "all:\n  vars:\n    provider: context\n"
        f"    kube_context: {cluster.context}\n    kubeconfig: {cluster.kubeconfig}\n"
        f"    namespace: {namespace}\n"
        "    isolation: false\n"  # one trusted user: the faults, not a participant's rights
        "  hosts:\n    team-a:\n"
    )
    yield LabProject(root, isolated_env(tmp_path))
    cluster.clear_faults()


def deploy(lab: LabProject, *sets: str, timeout: float = 300) -> Any:
    """`invoke lab.deploy --lab faults` with ``--set`` values; (result, seconds)."""
    args = [arg for value in sets for arg in ("--set", value)]
    began = time.monotonic()
    out = lab.invoke("lab.deploy", "--lab", "faults", *args, timeout=timeout)
    return out, time.monotonic() - began


def step_ends(lab: LabProject) -> dict[str, dict[str, Any]]:
    """{step name: its result} of the newest run."""
    return {
        str(e["step"]): e["result"]  # type: ignore[misc]
        for e in lab.journal()
        if e["kind"] == "step_end"
    }


def progress(lab: LabProject, step: str) -> list[str]:
    """The progress messages of one step in the newest run's journal."""
    return [
        str(e.get("message"))
        for e in lab.journal()
        if e["kind"] == "step_progress" and e["step"] == step
    ]


def no_traceback(out: Any) -> None:
    assert "Traceback" not in out.stdout + out.stderr, out.stdout + out.stderr


# --- API answers 500/503 for the next N requests; 429 with Retry-After ---------------------------


def test_a_passing_server_error_is_retried_on_read_only_steps(
    lab: LabProject, cluster: FakeCluster
) -> None:
    cluster.inject("error", code=500, verb="list", count=2)
    out, _ = deploy(lab)
    no_traceback(out)
    assert out.returncode == 0, out.stdout + out.stderr
    assert progress(lab, "kubectl get pods") == [
        "InternalError (500): running it again in 1s (1/3)",
        "InternalError (500): running it again in 2s (2/3)",
    ]
    assert step_ends(lab)["kubectl get pods"]["status"] == "ok"


def test_a_server_error_that_lasts_fails_clearly_after_the_bounded_retries(
    lab: LabProject, cluster: FakeCluster
) -> None:
    cluster.inject("error", code=503, verb="list", count=100)
    out, seconds = deploy(lab)
    no_traceback(out)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "exit code 1 after 3 more runs (ServiceUnavailable (503))" in out.stdout
    assert "Error from server (ServiceUnavailable): fault injected" in out.stdout
    assert "team-a failed at 'kubectl get pods'" in out.stderr
    assert 7 <= seconds < 60  # 1 + 2 + 4 s of waiting, not more


def test_a_step_that_changes_state_is_never_run_again_behind_the_labs_back(
    lab: LabProject, cluster: FakeCluster
) -> None:
    cluster.inject("error", code=500, verb="create", count=1)
    out, _ = deploy(lab)
    assert out.returncode == 1, out.stdout + out.stderr
    assert progress(lab, "kubectl create deployment") == []
    assert "error: failed to create deployment: Internal error occurred" in out.stdout


def test_too_many_requests_with_retry_after_is_kubectls_own_retry(
    lab: LabProject, cluster: FakeCluster
) -> None:
    cluster.inject("error", code=429, verb="list", count=2, retryAfter=1)
    out, _ = deploy(lab)
    assert out.returncode == 0, out.stdout + out.stderr
    assert progress(lab, "kubectl get pods") == []  # client-go honoured Retry-After itself


# --- API accepts connections but never answers --------------------------------------------------


def test_a_server_that_never_answers_ends_each_command_at_its_timeout_naming_it(
    lab: LabProject, cluster: FakeCluster
) -> None:
    cluster.inject("hang", verb="list")
    out, seconds = deploy(lab, "command_timeout=4")
    no_traceback(out)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"timed out after 4s: the API server {cluster.server} did not answer" in out.stdout
    assert seconds < 40  # one command's timeout (+ start-up), not one per retry
    assert progress(lab, "kubectl get pods") == []  # a timeout is not retried


def test_a_server_that_answers_nothing_at_all_is_caught_by_preflight(
    lab: LabProject, cluster: FakeCluster
) -> None:
    cluster.inject("hang")
    out, seconds = deploy(lab)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "does not answer: Unable to connect to the server" in out.stderr
    assert seconds < 40
    assert not (lab.root / "runs").exists()


# --- image pull fails; container crashes; node NotReady; slow readiness --------------------------


def test_an_image_that_does_not_pull_fails_the_wait_fast_naming_the_image(
    lab: LabProject, cluster: FakeCluster
) -> None:
    out, seconds = deploy(lab, "app=nopull", "image=nginx:does-not-exist")
    no_traceback(out)
    assert out.returncode == 1, out.stdout + out.stderr
    message = step_ends(lab)["wait for the rollout"]["message"]
    assert "container nginx cannot start: ImagePullBackOff" in message
    assert 'Back-off pulling image "nginx:does-not-exist"' in message
    assert "(image nginx:does-not-exist)" in message
    assert seconds < 60  # not the wait's 120 s


def test_a_crashing_container_fails_the_wait_fast_with_its_last_log_lines(
    lab: LabProject, cluster: FakeCluster
) -> None:
    cluster.inject("crash", pod="crash-*", after=0.5, lines=["boom: cannot read /etc/app.conf"])
    out, seconds = deploy(lab, "app=crash", "pause=1")
    no_traceback(out)
    assert out.returncode == 1, out.stdout + out.stderr
    result = step_ends(lab)["wait for the pods to be Ready"]
    assert "keeps crashing: CrashLoopBackOff" in result["message"]
    assert "last exit code 1" in result["message"]
    assert "boom: cannot read /etc/app.conf" in result["stderr"]
    assert "boom: cannot read /etc/app.conf" in out.stdout
    assert seconds < 60


def test_a_node_that_is_not_ready_fails_the_node_wait_with_its_condition(
    lab: LabProject, cluster: FakeCluster
) -> None:
    cluster.inject("node-not-ready", seconds=60)
    ready = '{.items[0].status.conditions[?(@.type=="Ready")].status}'
    deadline = time.monotonic() + 30
    while cluster.kubectl("get", "nodes", "-o", f"jsonpath={ready}").stdout != "Unknown":
        assert time.monotonic() < deadline, "the fault never took the node down"
        time.sleep(0.2)
    began = time.monotonic()
    out = lab.invoke("lab.setup", "--lab", "faults")
    no_traceback(out)
    assert out.returncode == 1, out.stdout + out.stderr
    condition = (
        "node minikube is not Ready (Unknown): NodeStatusUnknown: Kubelet stopped posting node "
        "status."
    )
    ends = step_ends(lab)
    # the watch: kubectl wait ended at once, not after its 120 s
    assert ends["wait for the nodes to be Ready"]["message"] == condition
    assert ends["wait for the nodes to be Ready"]["ignored"]
    # the until-loop over kubectl get nodes: its retries, then the condition
    assert "still false after" in ends["wait for the node"]["message"]
    assert condition in ends["wait for the node"]["message"]
    assert time.monotonic() - began < 90


def test_slow_readiness_waits_succeed_with_progress_and_no_polling_storm(
    lab: LabProject, cluster: FakeCluster
) -> None:
    cluster.inject("readiness-delay", pod="slow-*", delay=20)
    before = cluster.admin.info()["requests"]["list"]
    out, seconds = deploy(lab, "app=slow")
    after = cluster.admin.info()["requests"]["list"]
    assert out.returncode == 0, out.stdout + out.stderr
    assert seconds >= 20
    shown = progress(lab, "wait for the rollout")
    assert shown
    assert all("pod" in line and "Ready" in line for line in shown)
    assert shown[0] in out.stdout
    # lists: the steps' own few and the watch's (after 2, 3, 5 s, then every 10 s: 5 in 20 s);
    # polling every 0.2 s would make a hundred
    assert after - before <= 12, after - before
