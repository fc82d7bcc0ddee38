"""The fault table's row "API server restarts mid-run" (docs/reliability.md): the run reports
the failed step clearly, and `--resume` finishes the lab once the server is back.

The lab runs through `invoke` as a subprocess (provider `context`, the real kubectl) against a
fake API server that keeps its objects (`--data`); the test restarts the server (the fake's
admin `restart`: killed and started again on the same port, as if it crashed) while the lab
waits (for a file the test writes once the server is down) before a step that changes state,
so that step meets a refused connection.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labtools.testing.cluster import FakeCluster
from tests.integration.helpers import LabProject, copy_project, isolated_env

pytestmark = [pytest.mark.fake, pytest.mark.slow]

RESTART_LAB = """
name: restart
description: a lab whose API server restarts under it
hosts: all
deploy:
  - name: kubectl get pods
    kubectl: get pods
  - name: until the server is down
    command: ["sh", "-c", "until [ -e MARKER ]; do sleep 0.1; done"]
    timeout: 60
  - name: kubectl create deployment
    kubectl: create deployment web --image=nginx:1.27
  - name: wait for the rollout
    kubectl: rollout status deployment/web --timeout=120s
"""
DOWNTIME = 10.0  # the create step starts once the server is down, well within this


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[LabProject, FakeCluster]]:
    """The restart lab on provider `context` against a fake server that keeps its objects."""
    work = tmp_path / "cluster"
    work.mkdir()
    cluster = FakeCluster(work, name="restart", pod_ready_delay=0.3, data_file=work / "data.json")
    with cluster:
        root = tmp_path / "project"
        root.mkdir()
        copy_project(root)
        (root / "playbooks" / "restart").mkdir()
        marker = tmp_path / "server-is-down"
        (root / "playbooks" / "restart" / "playbook.yml").write_text(
            RESTART_LAB.replace("MARKER", str(marker))
        )
        cluster.kubectl("create", "namespace", "lab-team-a", check=True)
        (root / "inventory.yml").write_text(
            "all:\n  vars:\n    provider: context\n"
            f"    kube_context: {cluster.context}\n    kubeconfig: {cluster.kubeconfig}\n"
            "    isolation: false\n"  # one trusted user: the fault, not a participant's rights
            "  hosts:\n    team-a:\n"
        )
        yield LabProject(root, isolated_env(tmp_path)), cluster


def answers(port: int) -> bool:
    """The fake API server accepts connections on ``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_a_server_restart_fails_the_step_it_meets_and_resume_finishes_the_lab(
    lab: tuple[LabProject, FakeCluster],
) -> None:
    project, cluster = lab
    restarted: list[float] = []
    marker = project.root.parent / "server-is-down"
    port = int(cluster.server.rsplit(":", 1)[1].strip("/"))

    def restart_while_the_lab_waits() -> None:
        deadline = time.monotonic() + 60
        journal = project.root / "runs" / "latest" / "journal.jsonl"
        while time.monotonic() < deadline:
            if journal.exists() and '"step": "until the server is down"' in journal.read_text():
                break
            time.sleep(0.05)
        began = time.monotonic()
        restart = threading.Thread(target=cluster.restart, kwargs={"downtime": DOWNTIME})
        restart.start()
        while time.monotonic() - began < DOWNTIME and answers(port):
            time.sleep(0.05)
        marker.touch()  # the server is down: the lab goes on to the step that changes state
        restart.join(timeout=60)
        restarted.append(time.monotonic() - began)

    thread = threading.Thread(target=restart_while_the_lab_waits, daemon=True)
    thread.start()
    first = project.invoke("lab.deploy", "--lab", "restart", timeout=300)
    thread.join(timeout=60)
    said = first.stdout + first.stderr
    assert restarted, "the server was not restarted while the lab waited"
    assert first.returncode == 1, said
    assert "Traceback" not in said
    assert "team-a failed at 'kubectl create deployment'" in first.stderr, said
    assert "refused" in first.stdout, said  # kubectl's own words: the server was down
    ends = {e["step"]: e["result"] for e in project.journal() if e["kind"] == "step_end"}
    assert ends["kubectl get pods"]["status"] == "ok"  # type: ignore[index]
    assert ends["kubectl create deployment"]["status"] == "failed"  # type: ignore[index]
    assert "wait for the rollout" not in ends

    resumed = project.invoke("lab.deploy", "--lab", "restart", "--resume", timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "1/1 ready" in resumed.stdout, resumed.stdout
    ran = [e["step"] for e in project.journal() if e["kind"] == "step_end"]
    assert ran == ["kubectl create deployment", "wait for the rollout"]  # from the failed step
    deployment = cluster.kubectl("-n", "lab-team-a", "get", "deployment", "web", "-o", "name")
    assert deployment.stdout.strip() == "deployment.apps/web"
