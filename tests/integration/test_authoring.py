"""Authoring a lab through `invoke`: `lab.new` scaffolds one that lints and runs, `lab.lint` says
every problem on one line, and bad input stops `lab.up` before any cluster command."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import LabProject

# file:line: key: message (a problem of an option has no line: file: key: message)
LINE = re.compile(r"^(?P<file>[\w./-]+)(:(?P<line>\d+))?: (?P<key>\S+): (?P<message>.+)$")


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) with ``new`` in a file."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def problem_lines(stderr: str) -> list[dict[str, str]]:
    """The `file:line: key: message` lines lab.lint printed (the summary line excluded)."""
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("lab.lint:")]
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), f"not one clear line per problem:\n{stderr}"
    return [match.groupdict() for match in parsed if match]


def test_the_shipped_labs_lint_clean(project: LabProject) -> None:
    out = project.invoke("lab.lint")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "lab.lint: 2 labs checked, no problems: basics, config" in out.stdout


@pytest.mark.fake
@pytest.mark.slow
def test_new_lab_lints_and_runs_as_it_is(minikube_project: LabProject) -> None:
    project = minikube_project
    new = project.invoke("lab.new", "demo")
    assert new.returncode == 0, new.stderr
    for path in (
        "playbooks/demo/playbook.yml",
        "playbooks/demo/README.md",
        "playbooks/demo/checks/test_demo.py",
        "templates/demo/deployment.yaml.j2",
    ):
        assert f"created {path}" in new.stdout
        assert (project.root / path).is_file()
    lint = project.invoke("lab.lint", "--lab", "demo")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    listed = project.invoke("lab.list")
    assert re.search(r"^  demo +demo: a Deployment of nginx", listed.stdout, re.MULTILINE)
    up = project.invoke("lab.up", "--lab", "demo")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "verify: run the lab's checks" in up.stdout
    junit = (project.latest_run() / "verify-basics.xml").read_text()
    assert 'failures="0"' in junit
    assert "test_each_pod_knows_its_name" in junit
    # node readiness is a watch (`kubectl wait`), one call: no until-loop over `kubectl get nodes`
    results: list[Any] = [e["result"] for e in project.journal() if e["kind"] == "step_end"]
    node_calls = [
        (r["argv"][r["argv"].index("--context") + 2 :], r["attempts"])
        for r in results
        if "nodes" in r["argv"]
    ]
    assert node_calls == [
        (["wait", "--for=condition=Ready", "nodes", "--all", "--timeout=300s"], 1),
        (["get", "nodes"], 1),
    ]
    assert project.invoke("lab.down", "--lab", "demo").returncode == 0


def test_new_refuses_to_overwrite_or_a_bad_name(project: LabProject) -> None:
    again = project.invoke("lab.new", "config")
    assert again.returncode == 2
    assert "lab 'config' exists already" in again.stderr
    bad = project.invoke("lab.new", "My_Lab")
    assert bad.returncode == 2
    assert "'My_Lab' cannot name a lab" in bad.stderr
    assert not (project.root / "playbooks" / "My_Lab").exists()


def test_lint_says_every_problem_on_one_line(project: LabProject) -> None:
    playbook = project.root / "playbooks" / "config" / "playbook.yml"
    edit(
        playbook,
        "    manifest: config/configmap.yaml.j2\n",
        "    manifest: config/configmap.yml.j2\n",
    )
    edit(playbook, "    verify: config\n", "    verify: confg\n")
    edit(
        playbook,
        "describe configmap {{ app_name }}-config",
        "describe configmap {{ app_nam }}-config",
    )
    edit(playbook, "      zh-TW: 列出 ConfigMaps。DATA 欄位是鍵的數量。\n", "")
    out = project.invoke("lab.lint")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    problems = problem_lines(out.stderr)
    assert [(p["file"], p["key"]) for p in problems] == [
        ("playbooks/config/playbook.yml", "deploy[1].manifest"),
        ("playbooks/config/playbook.yml", "explore[0].explain"),
        ("playbooks/config/playbook.yml", "explore[1].kubectl"),
        ("playbooks/config/playbook.yml", "verify[1].verify"),
    ]
    messages = [p["message"] for p in problems]
    assert "'config/configmap.yml.j2' not found" in messages[0]
    assert "did you mean 'config/configmap.yaml.j2'?" in messages[0]
    assert "explain has no zh-TW text" in messages[1]
    assert "undefined variable: 'app_nam' is undefined (did you mean 'app_name'?)" in messages[2]
    assert "config/checks/test_confg.py does not exist (did you mean 'config'?)" in messages[3]
    text = playbook.read_text().splitlines()
    assert "describe configmap {{ app_nam }}" in text[int(problems[2]["line"]) - 1]
    assert "verify: confg" in text[int(problems[3]["line"]) - 1]
    assert out.stderr.strip().splitlines()[-1] == (
        "lab.lint: 4 problems in config (2 labs checked)"
    )
    # lab.lint --lab basics checks that lab only; the run stops on the same problems, all at once
    assert project.invoke("lab.lint", "--lab", "basics").returncode == 0
    up = project.invoke("lab.up", "--lab", "config")
    assert up.returncode == 2
    assert "3 problems:" in up.stderr  # the explain text is a lint rule: it does not stop a run
    assert not (project.root / "runs").exists()


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (  # a result used before the step that registers it
            (
                "  - name: POD_NAME\n",
                "  - name: early\n    kubectl: logs {{ POD_NAME.stdout }}\n"
                "    explain: {en: e, zh-TW: e}\n    check: history\n"
                "    hint: {en: h, zh-TW: h}\n    solution: {en: s, zh-TW: s}\n\n"
                "  - name: POD_NAME\n",
            ),
            "explore[3].kubectl",
            "'POD_NAME' is used before it is registered: step 'POD_NAME' (explore[4], line",
        ),
        (  # a check file that does not compile
            ("CHECKS", "def test_broken(:\n"),
            "",
            "checks test_config.py do not compile: invalid syntax",
        ),
        (  # a template of templates/ that does not render with the lab's defaults
            ("  replicas: {{ replicas }}\n", "  replicas: {{ replica_count }}\n"),
            "deploy[2].manifest",
            "undefined variable: 'replica_count' is undefined",
        ),
    ],
    ids=["registered-too-late", "check-syntax", "template-variable"],
)
def test_lint_finds_what_a_run_would_meet_late(
    project: LabProject, change: tuple[str, str], key: str, message: str
) -> None:
    old, new = change
    if old == "CHECKS":
        (project.root / "playbooks/config/checks/test_config.py").write_text(new)
    elif "replicas" in old:
        edit(project.root / "templates/config/deployment.yaml.j2", old, new)
    else:
        edit(project.root / "playbooks/config/playbook.yml", old, new)
    out = project.invoke("lab.lint", "--lab", "config")
    assert out.returncode == 2, out.stdout + out.stderr
    problems = problem_lines(out.stderr)
    assert len(problems) == 1, out.stderr
    assert message in problems[0]["message"], out.stderr
    if key:
        assert problems[0]["key"] == key


def test_lint_unknown_tag(project: LabProject) -> None:
    out = project.invoke("lab.lint", "--lab", "basics", "--tags", "extnded")
    assert out.returncode == 2
    [problem] = problem_lines(out.stderr)
    assert problem["key"] == "--tags"
    assert "unknown tag 'extnded' (did you mean 'extended'?" in problem["message"]


@pytest.mark.fake
def test_a_template_error_in_deploy_stops_up_before_any_cluster_command(
    minikube_project: LabProject,
) -> None:
    project = minikube_project
    edit(
        project.root / "templates/config/deployment.yaml.j2",
        "          image: {{ image }}\n",
        "          image: {{ imgae }}\n",
    )
    up = project.invoke("lab.up", "--lab", "config")
    assert up.returncode == 2, up.stdout + up.stderr
    line = up.stderr.strip().splitlines()[0]
    assert re.match(r"^\S+/templates/config/deployment\.yaml\.j2:\d+: .*'imgae' is undefined", line)
    assert "did you mean 'image'?" in up.stderr
    assert "Traceback" not in up.stderr
    assert up.stdout == ""  # nothing started: no step, no banner of a run, no recap
    assert not (project.root / "runs").exists()  # no run directory, so no journal of anything
    minikube_home = Path(project.env["MINIKUBE_HOME"])
    assert not minikube_home.exists()  # the fake minikube never ran: no profile, no cluster
    assert project.kubeconfig_contexts() == []
