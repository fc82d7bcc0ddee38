"""`invoke lab.up`, `lab.verify`, `lab.down` end to end: fake minikube on PATH and the real kubectl.

Asserts the recap, the journal, the JUnit files, the zero-change second run, and that afterwards
no process the run started is alive and no profile or kubeconfig entry is left.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.integration.helpers import LabProject, processes_mentioning, wait_until_gone

pytestmark = [pytest.mark.fake, pytest.mark.slow]

SEED_STEPS = [
    "minikube version",
    "minikube start",
    "kubectl version",
    "kubectl cluster-info",
    "kubectl get nodes",
    "kubectl create deployment",
    "kubectl get deployments",
    "kubectl proxy",
    "curl the API version through the proxy",
    "kubectl get pods",
    "kubectl describe pods",
    "POD_NAME",
    "kubectl logs $POD_NAME",
    "kubectl exec $POD_NAME -- env",
    "kubectl exec -ti $POD_NAME -- bash",
    "curl localhost:8080 inside the pod",
]


def recap_row(output: str, host: str) -> dict[str, int]:
    """The RECAP counters of ``host`` from plain console output."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == host and len(cells) >= 6 and cells[1].isdigit():
            keys = ("ok", "changed", "failed", "skipped", "ignored")
            return {key: int(value) for key, value in zip(keys, cells[1:6], strict=True)}
    raise AssertionError(f"no RECAP row for {host} in:\n{output}")


def step_ends(journal: list[dict[str, object]]) -> list[dict[str, object]]:
    return [e for e in journal if e["kind"] == "step_end"]


def junit_counts(path: Path) -> tuple[int, int, int]:
    """(tests, failures, errors) of a JUnit XML file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failures = sum(int(s.get("failures", 0)) for s in suites)
    errors = sum(int(s.get("errors", 0)) for s in suites)
    return tests, failures, errors


def test_up_verify_down_with_fake_minikube(minikube_project: LabProject, tmp_path: Path) -> None:
    project = minikube_project
    up = project.invoke("lab.up")
    assert up.returncode == 0, up.stdout + up.stderr
    first = recap_row(up.stdout, "basics")
    assert first["failed"] == 0
    assert first["changed"] >= 2  # the cluster started, the deployment was created
    assert "RECAP" in up.stdout

    # Every seed step ran (or was skipped with its reason), in order, and was journaled.
    journal = project.journal()
    names = [e["step"] for e in step_ends(journal)]
    positions = [names.index(step) for step in SEED_STEPS]
    assert positions == sorted(positions)
    interactive = next(e for e in step_ends(journal) if e["step"] == SEED_STEPS[14])
    assert interactive["result"]["status"] == "skipped"  # type: ignore[index]
    assert "terminal" in interactive["result"]["message"]  # type: ignore[index]
    hello = next(e for e in step_ends(journal) if e["step"] == SEED_STEPS[15])
    assert re.search(
        r"Hello Kubernetes bootcamp! \| Running on: kubernetes-bootcamp-\w+-\w{5} \| v=1",
        hello["result"]["stdout"],  # type: ignore[index]
    )
    run_dir = project.latest_run()
    tests, failures, errors = junit_counts(run_dir / "verify-basics.xml")
    assert tests >= 5
    assert failures == 0
    assert errors == 0

    # A second lab.up on the running lab changes nothing.
    again = project.invoke("lab.up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert recap_row(again.stdout, "basics")["changed"] == 0, again.stdout

    verify = project.invoke("lab.verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert junit_counts(project.latest_run() / "verify-basics.xml")[1:] == (0, 0)

    down = project.invoke("lab.down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert recap_row(down.stdout, "basics")["changed"] >= 1
    down_again = project.invoke("lab.down")
    assert down_again.returncode == 0, down_again.stdout + down_again.stderr
    assert recap_row(down_again.stdout, "basics")["changed"] == 0

    profiles = subprocess.run(
        ["minikube", "profile", "list", "-o", "json"],
        env=project.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(profiles.stdout)["valid"] == []
    assert "labtools-basics" not in project.kubeconfig_contexts()
    assert wait_until_gone(str(tmp_path)) == []


def test_lab_verify_reads_each_cluster_once_while_pytest_starts(
    minikube_project: LabProject, tmp_path: Path
) -> None:
    # the checks process started with the run reads the host's snapshot when the checks start
    # (beside pytest's own start, before any check: no check in PYTEST_CURRENT_TEST), and the
    # checks use that read: one `get -o json`, not two
    import dataclasses
    import shutil

    project = minikube_project
    assert project.invoke("lab.up").returncode == 0
    real = shutil.which("kubectl", path=project.env["PATH"])
    shims, log = tmp_path / "shims", tmp_path / "calls.log"
    shims.mkdir()
    (shims / "kubectl").write_text(
        f'#!/bin/sh\necho "$PYTEST_CURRENT_TEST|$*" >> "{log}"\nexec "{real}" "$@"\n'
    )
    (shims / "kubectl").chmod(0o755)
    counted = dataclasses.replace(
        project, env={**project.env, "PATH": f"{shims}:{project.env['PATH']}"}
    )
    verify = counted.invoke("lab.verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    calls = log.read_text().splitlines()
    snapshots = [c for c in calls if " get nodes,deployments," in f" {c}"]
    assert len(snapshots) == 1, calls
    running = snapshots[0].split("|")[0]  # (this test's own id, where pytest runs this test)
    assert "checks/test_basics.py" not in running, calls  # read before the first check
    assert junit_counts(project.latest_run() / "verify-basics.xml")[1:] == (0, 0)
    assert project.invoke("lab.down").returncode == 0
    assert wait_until_gone(str(tmp_path)) == []


def test_a_first_start_does_not_ask_minikube_for_a_profile_it_has_not_made(
    minikube_project: LabProject, tmp_path: Path
) -> None:
    # no profile config yet: `minikube status` could only say "Profile not found"; once the
    # cluster is up, the status says so and the start step is ok without starting again
    import dataclasses
    import shutil

    real = shutil.which("minikube", path=minikube_project.env["PATH"])
    logged, log = tmp_path / "logged", tmp_path / "minikube.log"
    logged.mkdir()
    (logged / "minikube").write_text(f'#!/bin/sh\necho "$1" >> "{log}"\nexec "{real}" "$@"\n')
    (logged / "minikube").chmod(0o755)
    project = dataclasses.replace(
        minikube_project,
        env={**minikube_project.env, "PATH": f"{logged}:{minikube_project.env['PATH']}"},
    )
    first = project.invoke("lab.setup")
    assert first.returncode == 0, first.stdout + first.stderr
    assert log.read_text().split() == ["version", "version", "start"]  # preflight, step, start
    log.write_text("")
    again = project.invoke("lab.setup")
    assert again.returncode == 0, again.stdout + again.stderr
    assert log.read_text().split() == ["version", "version", "status"]
    assert recap_row(again.stdout, "basics")["changed"] == 0, again.stdout
    assert project.invoke("lab.down").returncode == 0
    assert wait_until_gone(str(tmp_path)) == []


def test_verify_fails_when_the_app_is_gone(minikube_project: LabProject, tmp_path: Path) -> None:
    project = minikube_project
    up = project.invoke("lab.up", "--skip-tags", "never")
    assert up.returncode == 0, up.stdout + up.stderr
    scale = subprocess.run(
        [
            "kubectl",
            "--context",
            "labtools-basics",
            "scale",
            "deployment/kubernetes-bootcamp",
            "--replicas=0",
        ],
        env=project.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert scale.returncode == 0, scale.stderr
    verify = project.invoke("lab.verify")
    assert verify.returncode != 0
    _, failures, errors = junit_counts(project.latest_run() / "verify-basics.xml")
    assert failures + errors >= 1
    assert project.invoke("lab.down").returncode == 0
    assert wait_until_gone(str(tmp_path)) == []


def test_sigint_during_explore_leaves_no_proxy(
    minikube_project: LabProject, tmp_path: Path
) -> None:
    project = minikube_project
    proc = project.popen("lab.up")
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if "service kubectl-proxy started" in line:
            break
    assert any("service kubectl-proxy started" in line for line in seen), "".join(seen)
    time.sleep(0.5)  # now in the middle of explore
    import os

    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen) + rest
    proxies = [p for p in processes_mentioning(str(tmp_path)) if " proxy " in p[1]]
    assert proxies == []
    down = project.invoke("lab.down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert wait_until_gone(str(tmp_path)) == []
