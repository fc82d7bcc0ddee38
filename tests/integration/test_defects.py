"""Issue 10's defects, through `invoke` as a new user meets them: each one a clear paragraph and
the documented exit code, never a traceback, and nothing started before the whole lab loads."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import LabProject, copy_project, isolated_env

FAKE_INVENTORY = (
    "all:\n  vars: {provider: fake}\n  hosts:\n    basics: {profile: labtools-basics}\n"
)


@pytest.fixture
def project(tmp_path: Path) -> LabProject:
    """A copy of the project on the fake provider (nothing here needs a cluster)."""
    root = tmp_path / "project"
    root.mkdir()
    copy_project(root)
    (root / "inventory.yml").write_text(FAKE_INVENTORY)
    return LabProject(root, isolated_env(tmp_path))


def no_traceback(out: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in out.stdout + out.stderr, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("lab: [basics\n", "invoke.yaml:2: YAML syntax error"),
        ("- lab\n- basics\n", "invoke.yaml:1: invoke's configuration must be a mapping"),
        ("lab: basics\n", "invoke.yaml:1: lab: `lab` must be a mapping of options, got a string"),
        ("lab:\n  langg: zh-TW\n", "invoke.yaml:2: lab.langg: unknown key 'langg'"),
    ],
    ids=["not-yaml", "list", "lab-not-mapping", "unknown-key"],
)
@pytest.mark.parametrize("task", ["lab.plan", "--list"])
def test_a_bad_invoke_yaml_is_an_error_with_file_and_line(
    project: LabProject, text: str, says: str, task: str
) -> None:
    (project.root / "invoke.yaml").write_text(text)
    out = project.invoke(task)
    no_traceback(out)
    assert out.returncode == 2, out.stderr
    assert says in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 3


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "lab:\n  lang: zh-TW\n"])
def test_an_empty_or_good_invoke_yaml_is_fine(project: LabProject, text: str) -> None:
    (project.root / "invoke.yaml").write_text(text)
    out = project.invoke("lab.plan", "--phase", "setup")
    assert out.returncode == 0, out.stderr


def test_runs_being_a_file_is_an_error_before_anything_starts(project: LabProject) -> None:
    (project.root / "runs").write_text("not a directory\n")
    out = project.invoke("lab.deploy")
    no_traceback(out)
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"{project.root / 'runs'} is a file, not a directory" in out.stderr
    assert "hint: move" in out.stderr
    assert not (project.root / ".labtools").exists()  # no cluster was started


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` (root only), unmounted afterwards."""
    path.mkdir(exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_runs_not_writable_is_an_error_before_anything_starts(project: LabProject) -> None:
    with tmpfs(project.root / "runs", "size=64k,ro"):
        out = project.invoke("lab.deploy")
    no_traceback(out)
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"cannot write the run directory under {project.root / 'runs'}" in out.stderr
    assert "Read-only file system" in out.stderr


def test_a_host_name_outside_the_rule_stops_at_load(project: LabProject) -> None:
    inventory = "all:\n  vars: {provider: fake}\n  hosts:\n    Lab_01:\n"
    (project.root / "inventory.yml").write_text(inventory)
    out = project.invoke("lab.up")
    no_traceback(out)
    assert out.returncode == 2
    assert "inventory.yml:4: all.hosts.Lab_01: bad host name 'Lab_01'" in out.stderr
    assert "lowercase letters a-z, digits 0-9 and '-'" in out.stderr
    assert "hint: rename it, e.g. 'lab-01'" in out.stderr
    assert not (project.root / "runs").exists()


def test_set_values_stay_text_unless_the_schema_says_otherwise(project: LabProject) -> None:
    out = project.invoke(
        "lab.plan", "--phase", "deploy", "--set", "app_name=web: v2", "--set", "image=nginx:1.30"
    )
    assert out.returncode == 0, out.stderr
    assert "create deployment 'web: v2' --image=nginx:1.30" in out.stdout
    bad = project.invoke("lab.plan", "--set", "replicas=two")
    assert bad.returncode == 2
    assert "--set replicas=two: replicas is an integer" in bad.stderr
