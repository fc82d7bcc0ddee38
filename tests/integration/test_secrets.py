"""No secret anywhere: a lab's secret from the inventory, a `--set` value for a no_log step and a
ServiceAccount token never reach the console or any file a run writes (runs/, the journal,
JUnit, report.html, the handouts), through lab.up, lab.verify, lab.report and lab.handout.
"""

from __future__ import annotations

import base64
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import (
    LabProject,
    copy_project,
    isolated_env,
    kill_processes_mentioning,
)

pytestmark = [pytest.mark.fake, pytest.mark.slow]

EXTRA_STEPS = """
  - name: a ServiceAccount token
    kubectl: create token default --duration=10m
    no_log: true
    register: sa_token
  - name: the token printed by a step that is not no_log
    command: printf 'token=%s\\n' {{ sa_token.stdout }}
  - name: an API key used by a no_log step
    command: printf 'key=%s\\n' {{ api_key }}
    no_log: true
"""
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{10,}\.")  # a JSON Web Token: base64 of '{"' and a dot


@pytest.fixture
def project(tmp_path: Path) -> Iterator[LabProject]:
    """The config lab with three more steps, its secret set in the inventory (provider fake)."""
    root = tmp_path / "project"
    root.mkdir()
    copy_project(root)
    playbook = root / "playbooks" / "config" / "playbook.yml"
    text = playbook.read_text()
    playbook.write_text(text.replace("\nverify:", EXTRA_STEPS + "\nverify:", 1))
    yield LabProject(root, isolated_env(tmp_path))
    kill_processes_mentioning(str(tmp_path))


def leaks(root: Path, needles: list[str]) -> list[str]:
    """Files under ``root`` holding a needle (or a token), the fake cluster's own storage aside."""
    found = []
    for path in root.rglob("*"):
        if ".labtools" in path.parts or not path.is_file() or path.is_symlink():
            continue  # .labtools/ is the cluster's etcd: a Secret is stored there, as on minikube
        if path == root / "inventory.yml":
            continue  # where the user wrote the secret
        data = path.read_bytes()
        if JWT.search(data) or any(needle.encode() in data for needle in needles):
            found.append(str(path.relative_to(root)))
    return found


def test_no_secret_in_any_output_or_file_after_a_config_lab_run(project: LabProject) -> None:
    password = f"inv-{secrets.token_hex(6)}"  # the lab's `secrets: [db_password]`, in the inventory
    api_key = f"KEY-{secrets.token_hex(6)}"  # --set, used only by a no_log step
    (project.root / "inventory.yml").write_text(
        "all:\n  vars: {provider: fake}\n  hosts:\n    basics:\n"
        f"      profile: labtools-basics\n      db_password: {password}\n"
    )
    needles = [password, api_key]
    needles += [base64.b64encode(value.encode()).decode() for value in (password, api_key)]
    key = ("--set", f"api_key={api_key}")
    outputs: list[subprocess.CompletedProcess[str]] = []
    try:
        for args in (
            ("lab.up", "--lab", "config", "-vv", *key),
            ("lab.verify", "--lab", "config", "-vvv", *key),  # a run without the no_log step
            ("lab.report",),
            ("lab.handout", "--lab", "config"),
        ):
            out = project.invoke(*args)
            assert out.returncode == 0, out.stdout + out.stderr
            outputs.append(out)
        up_run = sorted((project.root / "runs").glob("*-config-up"))[0].name
        out = project.invoke("lab.handout", "--lab", "config", "--run", up_run)
        assert out.returncode == 0, out.stdout + out.stderr
        outputs.append(out)
    finally:
        project.invoke("lab.down", "--lab", "config")

    console = "".join(out.stdout + out.stderr for out in outputs)
    assert "token=********" in console  # the token was printed, and masked
    assert all(needle not in console for needle in needles)
    assert not JWT.search(console.encode())
    assert len(list((project.root / "runs").rglob("handouts/*.html"))) == 2
    assert list((project.root / "runs").rglob("verify-basics.xml"))
    assert leaks(project.root, needles) == []
    assert leaks(Path(project.env["HOME"]), needles) == []
