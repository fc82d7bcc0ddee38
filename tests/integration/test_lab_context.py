"""Provider `context`: an existing cluster (a fake API server started on its own), one namespace per
host, no minikube; up, verify, down leave the cluster as it was."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import LabProject, wait_until_gone
from tests.integration.test_lab_e2e import junit_counts, recap_row, step_ends

pytestmark = [pytest.mark.fake, pytest.mark.slow]


def namespaces(cluster: Any) -> set[str]:
    out = cluster.kubectl("get", "namespaces", "-o", "name", check=True)
    return {line.removeprefix("namespace/") for line in out.stdout.split()}


def test_up_verify_down_on_an_existing_cluster(
    context_project: tuple[LabProject, Any], tmp_path: Path
) -> None:
    project, cluster = context_project
    before = namespaces(cluster)
    up = project.invoke("lab.up")
    assert up.returncode == 0, up.stdout + up.stderr
    for host in ("team-a", "team-b"):
        assert recap_row(up.stdout, host)["failed"] == 0
    assert {"lab-team-a", "lab-team-b"} <= namespaces(cluster)
    # Each team's app runs in its own namespace; minikube steps are skipped with the reason.
    pods = cluster.kubectl("get", "pods", "-n", "lab-team-a", "-o", "name", check=True)
    assert pods.stdout.startswith("pod/kubernetes-bootcamp-")
    skipped = [
        e
        for e in step_ends(project.journal())
        if e["step"] == "minikube version" and e["host"] == "team-a"
    ]
    assert skipped[0]["result"]["status"] == "skipped"
    assert "no minikube" in skipped[0]["result"]["message"]
    for host in ("team-a", "team-b"):
        assert junit_counts(project.latest_run() / f"verify-{host}.xml") == (7, 0, 0)
    # one pytest session checked both teams: each team's output is the session's, 2 x 7 tests
    checks = [e for e in step_ends(project.journal()) if e["step"].startswith("run the lab's")]
    assert sorted(e["host"] for e in checks) == ["team-a", "team-b"]
    assert all("14 passed in" in e["result"]["stdout"] for e in checks), checks

    # a failure on one team fails that team's step only, and its JUnit file only
    scaled = cluster.kubectl(
        "scale", "deployment/kubernetes-bootcamp", "--replicas=0", "-n", "lab-team-a", check=True
    )
    assert scaled.returncode == 0
    verify = project.invoke("lab.verify")
    assert verify.returncode != 0
    assert recap_row(verify.stdout, "team-a")["failed"] == 1, verify.stdout
    assert recap_row(verify.stdout, "team-b")["failed"] == 0, verify.stdout
    tests_a, failures_a, errors_a = junit_counts(project.latest_run() / "verify-team-a.xml")
    assert tests_a == 7
    assert failures_a + errors_a > 0
    assert junit_counts(project.latest_run() / "verify-team-b.xml") == (7, 0, 0)
    cluster.kubectl(
        "scale", "deployment/kubernetes-bootcamp", "--replicas=1", "-n", "lab-team-a", check=True
    )

    again = project.invoke("lab.up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert recap_row(again.stdout, "team-a")["changed"] == 0

    down = project.invoke("lab.down")
    assert down.returncode == 0, down.stdout + down.stderr
    second = project.invoke("lab.down")
    assert second.returncode == 0, second.stdout + second.stderr
    assert namespaces(cluster) == before
    # The user's current context of the shared cluster's kubeconfig was never switched.
    current = subprocess.run(
        ["kubectl", "config", "current-context", "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert current.stdout.strip() == cluster.context
    assert [p for p in wait_until_gone(str(tmp_path / "project")) if " proxy " in p[1]] == []
