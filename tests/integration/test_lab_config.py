"""The second lab (`config`): ConfigMap and Secret in env and volumes, kubectl diff, a config change
rolled out, checks proving it arrived; the Secret passed with --set never shows anywhere.

Through `invoke` as a subprocess, with the fake minikube on PATH and the real kubectl.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.integration.helpers import LabProject

pytestmark = [pytest.mark.fake, pytest.mark.slow]

APP = "config-demo"


def files_containing(root: Path, *needles: str) -> list[str]:
    """Files under ``root`` whose bytes contain any of ``needles``."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(needle.encode() in data for needle in needles):
                found.append(str(path))
    return found


def kubectl(project: LabProject, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl against the lab's fake minikube profile (its kubeconfig in the isolated HOME)."""
    return subprocess.run(
        ["kubectl", "--context", "labtools-basics", *args],
        env=project.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def junit_results(path: Path) -> dict[str, str]:
    """{test name: passed | failed | skipped} of a JUnit file."""
    results = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        state = "failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags else ""
        results[case.get("name", "")] = state or "passed"
    return results


def test_config_lab_up_verify_down_keeps_the_secret_out_of_everything(
    minikube_project: LabProject,
) -> None:
    project = minikube_project
    password = f"pw-{secrets.token_hex(8)}"
    encoded = base64.b64encode(password.encode()).decode()

    up = project.invoke("lab.up", "--lab", "config", "-vv", "--set", f"db_password={password}")
    assert up.returncode == 0, up.stdout + up.stderr
    run = project.latest_run()
    journal = project.journal()
    ends = {e["step"]: e for e in journal if e["kind"] == "step_end"}

    # the declarative part: manifests from templates/, applied; the Secret server-side
    starts = {e["step"]: e for e in journal if e["kind"] == "step_start"}
    assert starts["apply the Secret"]["display"].endswith(
        "apply --server-side -f - < templates/config/secret.yaml.j2"
    )
    assert ends["apply the ConfigMap"]["result"]["status"] == "changed"
    # kubectl diff before the change: exit 1 (differences) is ok, and it changes nothing
    diff = ends["kubectl diff the ConfigMap"]["result"]
    assert (diff["status"], diff["rc"]) == ("ok", 1)
    assert "+  greeting: Hello again, the config changed" in diff["stdout"]
    # the change rolled out new Pods that read the new value
    assert ends["the new GREETING reached the new Pods"]["result"]["status"] == "ok"
    assert junit_results(run / "verify-basics.xml") == {
        f"{name}[basics]": "passed"
        for name in (
            "test_the_configmap_holds_the_changed_greeting",
            "test_the_rollout_of_the_change_finished",
            "test_every_pod_has_the_configmap_in_its_environment",
            "test_every_pod_has_the_configmap_as_files",
            "test_every_pod_has_the_secret_in_its_environment_and_files",
            "test_the_secret_files_are_readable_by_their_owner_only",
            "test_the_page_shows_the_greeting",
        )
    }
    # the cluster has the password given with --set ...
    stored = json.loads(
        kubectl(project, "get", "secret", f"{APP}-credentials", "-o", "json").stdout
    )
    assert stored["data"]["password"] == encoded
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (
        stored["metadata"].get("annotations") or {}
    )

    verify = project.invoke(
        "lab.verify", "--lab", "config", "-vvv", "--set", f"db_password={password}"
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    plan = project.invoke("lab.plan", "--lab", "config", "--set", f"db_password={password}")
    assert plan.returncode == 0, plan.stderr

    # ... and it is nowhere else: not on the console, not in any file under runs/
    console = "".join(out.stdout + out.stderr for out in (up, verify, plan))
    assert password not in console
    assert encoded not in console
    assert files_containing(project.root / "runs", password, encoded) == []

    down = project.invoke("lab.down", "--lab", "config")
    assert down.returncode == 0, down.stdout + down.stderr


def test_config_checks_fail_on_stale_config_without_printing_the_secret(
    minikube_project: LabProject,
) -> None:
    project = minikube_project
    up = project.invoke("lab.up", "--lab", "config")
    assert up.returncode == 0, up.stdout + up.stderr

    # behind the lab's back: a new password and the old greeting, and no rollout
    other = f"other-{secrets.token_hex(8)}"
    patched = kubectl(
        project,
        "patch",
        "secret",
        f"{APP}-credentials",
        "-p",
        json.dumps({"stringData": {"password": other}}),
    )
    assert patched.returncode == 0, patched.stderr
    reverted = kubectl(
        project, "patch", "configmap", f"{APP}-config", "-p", '{"data": {"greeting": "stale"}}'
    )
    assert reverted.returncode == 0, reverted.stderr

    verify = project.invoke("lab.verify", "--lab", "config")
    assert verify.returncode == 1, verify.stdout + verify.stderr
    results = junit_results(project.latest_run() / "verify-basics.xml")
    assert results["test_the_configmap_holds_the_changed_greeting[basics]"] == "failed"
    assert results["test_every_pod_has_the_secret_in_its_environment_and_files[basics]"] == "failed"
    report = (project.latest_run() / "verify-basics.xml").read_text()
    assert "DB_PASSWORD in config-demo-" in report  # says which value differs ...
    assert other not in report  # ... never what it is
    assert "39528$vdg7Jb" not in report
    assert files_containing(project.root / "runs", other, "39528$vdg7Jb") == []
    assert project.invoke("lab.down", "--lab", "config").returncode == 0
