"""The Basics lab against a REAL minikube. Skipped, with the reason, where minikube is absent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_lab_e2e import recap_row

ROOT = Path(__file__).resolve().parents[2]
MINIKUBE = shutil.which("minikube")

pytestmark = [
    pytest.mark.minikube,
    pytest.mark.skipif(
        MINIKUBE is None or "labtools" in Path(MINIKUBE).read_text(errors="ignore")[:2000],
        reason="real minikube is not installed here (no `minikube` binary on PATH, or it is the "
        "labtools fake); these tests run on a runner with minikube and Docker "
        "(.github/workflows/minikube.yml)",
    ),
]


def invoke(*args: str, inventory: Path) -> subprocess.CompletedProcess[str]:
    """Run `invoke lab.<task>` in the project as a user would."""
    argv = [sys.executable, "-m", "invoke", *args, "--inventory", str(inventory)]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inv") / "inventory.yml"
    path.write_text(
        "all:\n  hosts:\n    ci:\n      provider: minikube\n      profile: labtools-ci\n"
        "      cpus: 2\n      memory: 2200\n"
    )
    return path


def test_up_verify_down_on_real_minikube(inventory: Path) -> None:
    up = invoke("lab.up", inventory=inventory)
    assert up.returncode == 0, up.stdout + up.stderr
    assert recap_row(up.stdout, "ci")["failed"] == 0
    again = invoke("lab.up", inventory=inventory)
    assert again.returncode == 0, again.stdout + again.stderr
    assert recap_row(again.stdout, "ci")["changed"] == 0, again.stdout
    down = invoke("lab.down", inventory=inventory)
    assert down.returncode == 0, down.stdout + down.stderr
    profiles = subprocess.run(
        ["minikube", "profile", "list", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    names = [p["Name"] for p in json.loads(profiles.stdout or "{}").get("valid", [])]
    assert "labtools-ci" not in names
