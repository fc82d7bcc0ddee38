"""The invoke tasks as a user runs them: --list, lab.plan of the 16 seed commands, lab.list,
config precedence (defaults < invoke.yaml < INVOKE_LAB_* < flags) and errors without tracebacks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import LabProject

# The seed's 16 commands (shared/seeds/README.md), as lab.plan renders them for the default host.
SEED_PATTERNS = [
    r"minikube version -p labtools-basics",
    r"minikube start .*-p labtools-basics",
    r"kubectl --context labtools-basics version$",
    r"kubectl --context labtools-basics cluster-info$",
    r"kubectl --context labtools-basics get nodes$",
    r"kubectl --context labtools-basics create deployment kubernetes-bootcamp "
    r"--image=gcr\.io/google-samples/kubernetes-bootcamp:v1$",
    r"kubectl --context labtools-basics get deployments$",
    r"kubectl --context labtools-basics proxy --port=8001$",
    r"curl -sS --fail http://localhost:8001/version$",
    r"kubectl --context labtools-basics get pods$",
    r"kubectl --context labtools-basics describe pods$",
    r"kubectl --context labtools-basics get pods -l app=kubernetes-bootcamp -o go-template "
    r"--template "
    r"'\{\{range \.items\}\}\{\{\.metadata\.name\}\}\{\{\"\\n\"\}\}\{\{end\}\}'$",
    r"kubectl --context labtools-basics logs '<POD_NAME\.stdout_lines\[0\]>'$",
    r"kubectl --context labtools-basics exec '<POD_NAME\.stdout_lines\[0\]>' -- env$",
    r"kubectl --context labtools-basics exec -ti '<POD_NAME\.stdout_lines\[0\]>' -- bash$",
    r"kubectl --context labtools-basics exec '<POD_NAME\.stdout_lines\[0\]>' -- curl -s "
    r"localhost:8080$",
]


def lab_phases(project: LabProject, lab: str) -> dict[str, list[object]]:
    """The phases of a lab's playbook (raw YAML)."""
    doc = yaml.safe_load((project.root / "playbooks" / lab / "playbook.yml").read_text())
    return {
        key: value for key, value in doc.items() if isinstance(value, list) and key != "secrets"
    }


def test_invoke_list_shows_the_lab_tasks_with_help(project: LabProject) -> None:
    out = project.invoke("--list")
    assert out.returncode == 0, out.stderr
    tasks = ("setup", "deploy", "explore", "verify", "teardown", "up", "down", "plan", "list")
    for name in (*tasks, "lint", "new"):
        assert re.search(rf"^\s+lab\.{name}\s+\S", out.stdout, re.MULTILINE), out.stdout


def test_plan_prints_the_16_seed_commands_in_order(project: LabProject) -> None:
    out = project.invoke("lab.plan")
    assert out.returncode == 0, out.stderr
    commands = [
        line.strip()[2:] for line in out.stdout.splitlines() if line.strip().startswith("$ ")
    ]
    positions = []
    for pattern in SEED_PATTERNS:
        found = [i for i, command in enumerate(commands) if re.search(pattern, command)]
        assert found, f"{pattern!r} not in plan:\n{out.stdout}"
        positions.append(found[0])
    assert positions == sorted(positions), out.stdout
    assert "FAKE cluster" in out.stderr  # provider auto without minikube says so, loudly


def test_plan_of_one_phase_with_set_and_limit(project: LabProject) -> None:
    out = project.invoke(
        "lab.plan", "--phase", "deploy", "--limit", "basics", "--set", "app_name=my app; rm -rf /"
    )
    assert out.returncode == 0, out.stderr
    assert "create deployment 'my app; rm -rf /' --image=" in out.stdout
    assert "explore:" not in out.stdout


def test_plan_shows_verify_as_a_short_command_without_variables(project: LabProject) -> None:
    out = project.invoke(
        "lab.plan", "--phase", "verify", "--set", "replicas=2", "--set", "token=s3cr3t-77"
    )
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if "labtools.verify.plugin" in line)
    command = line.strip().removeprefix("$ ")
    assert command.startswith(
        "pytest -p labtools.verify.plugin --lab basics --lab-inventory inventory.yml "
        "--lab-hosts basics --lab-set replicas=2 --lab-set token=s3cr3t-77 "
    )
    assert command.endswith(" playbooks/basics/checks/test_basics.py")
    assert "{" not in command  # no JSON of every variable
    assert "image" not in command


def test_plan_and_check_mask_the_labs_secrets(project: LabProject) -> None:
    lab = project.root / "playbooks" / "basics" / "playbook.yml"
    text = lab.read_text().replace("hosts: all\n", "hosts: all\nsecrets: [app_name]\n", 1)
    lab.write_text(text)
    for args in (("lab.plan",), ("lab.up", "--check")):
        out = project.invoke(*args, "--set", "app_name=hunter2-app")
        assert out.returncode == 0, out.stderr
        assert "hunter2-app" not in out.stdout + out.stderr
        assert "create deployment ******** --image=" in out.stdout


def test_list_shows_labs_hosts_phases_tags(project: LabProject) -> None:
    out = project.invoke("lab.list")
    assert out.returncode == 0, out.stderr
    assert re.search(r"^  basics +Kubernetes Basics: .*\(selected\)$", out.stdout, re.MULTILINE)
    assert re.search(r"^  config +ConfigMaps and Secrets", out.stdout, re.MULTILINE)
    assert "extended" in out.stdout
    assert re.search(r"explore\s+\d+ step", out.stdout)


def test_config_precedence_invoke_yaml_env_flag(project: LabProject) -> None:
    (project.root / "invoke.yaml").write_text("lab:\n  name: from-yaml\n")
    by_yaml = project.invoke("lab.plan")
    assert by_yaml.returncode == 2
    assert "from-yaml" in by_yaml.stderr
    project.env["INVOKE_LAB_NAME"] = "from-env"
    by_env = project.invoke("lab.plan")
    assert "from-env" in by_env.stderr
    by_flag = project.invoke("lab.plan", "--lab", "basics")
    assert by_flag.returncode == 0, by_flag.stderr


@pytest.mark.parametrize(
    ("args", "expected", "code"),
    [
        (("lab.plan", "--lab", "basic"), "did you mean 'basics'", 2),
        (("lab.plan", "--limit", "basic"), "basics", 2),
        (("lab.plan", "--set", "novalue"), "novalue", 2),
        (("lab.plan", "--phase", "deplyo"), "deploy", 2),
        (("lab.plan", "--inventory", "missing.yml"), "missing.yml", 2),
        (("lab.up", "--forks", "zero"), "--forks", 2),
    ],
    ids=[
        "unknown-lab",
        "unknown-limit",
        "malformed-set",
        "unknown-phase",
        "missing-inventory",
        "bad-forks",
    ],
)
def test_errors_are_one_paragraph_without_traceback(
    project: LabProject, args: tuple[str, ...], expected: str, code: int
) -> None:
    out = project.invoke(*args)
    assert out.returncode == code, out.stdout + out.stderr
    assert expected in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert len(out.stderr.strip().splitlines()) <= 5


def test_debug_flag_shows_the_traceback(project: LabProject) -> None:
    out = project.invoke("lab.plan", "--lab", "basic", "--debug")
    assert out.returncode == 2
    assert "Traceback" in out.stderr


def test_ansible_short_flags(project: LabProject) -> None:
    out = project.invoke("lab.plan", "-l", "basics", "-t", "extended", "-e", "app_name=web")
    assert out.returncode == 0, out.stderr
    assert "expose deployment/web --type=NodePort" in out.stdout
    assert "create deployment" not in out.stdout  # -t extended: only the extended steps
    wrong = project.invoke("lab.plan", "-l", "nosuch")
    assert wrong.returncode == 2
    assert "nosuch" in wrong.stderr


@pytest.mark.parametrize(("lab", "tags"), [("basics", "all,extended"), ("config", "all")])
def test_check_prints_the_plan_and_writes_nothing(project: LabProject, lab: str, tags: str) -> None:
    # every step of the lab: --tags also selects the ones tagged `never` (basics' modules 4-6)
    selected = ("--lab", lab, "--tags", tags)
    planned = project.invoke("lab.plan", *selected, "--phase", "setup,deploy,explore,verify")
    checked = project.invoke("lab.up", *selected, "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # one preview: --check shows exactly what lab.plan shows, for every step of the lab
    assert checked.stdout == planned.stdout
    steps = [line for line in checked.stdout.splitlines() if line.strip().startswith("$ ")]
    assert len(steps) == sum(len(p) for k, p in lab_phases(project, lab).items() if k != "teardown")
    down_planned = project.invoke("lab.plan", *selected, "--phase", "teardown")
    down_checked = project.invoke("lab.down", *selected, "--check")
    assert down_checked.returncode == 0, down_checked.stderr
    assert down_checked.stdout == down_planned.stdout
    assert not (project.root / "runs").exists()
    assert not (project.root / ".labtools").exists()


@pytest.mark.parametrize(
    ("args", "present", "absent"),
    [
        (
            ("--list-tasks",),
            ["setup:", "minikube version\tTAGS: []", "POD_NAME\tTAGS: [always]"],
            ["expose the deployment"],
        ),
        (("--list-tasks", "--tags", "all,extended"), ["expose the deployment as a NodePort"], []),
        (("--list-tags",), ["TASK TAGS: [always]"], ["setup:"]),
        (("--list-tags", "--tags", "all,extended"), ["TASK TAGS: [always, extended, never]"], []),
    ],
    ids=["tasks", "tasks-extended", "tags", "tags-extended"],
)
def test_list_tasks_and_tags(
    project: LabProject, args: tuple[str, ...], present: list[str], absent: list[str]
) -> None:
    out = project.invoke("lab.up", *args)
    assert out.returncode == 0, out.stdout + out.stderr
    for text in present:
        assert text in out.stdout, out.stdout
    for text in absent:
        assert text not in out.stdout, out.stdout
    assert not (project.root / "runs").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("lab.plan", "--tags", "extnded"), "did you mean 'extended'?"),
        (("lab.up", "--skip-tags", "nosuch"), "unknown tag 'nosuch'"),
        (("lab.plan", "--lang", "fr"), "known languages: en, zh-TW"),
    ],
    ids=["tag-typo", "unknown-skip-tag", "unknown-lang"],
)
def test_unknown_tags_and_languages_stop_before_anything_runs(
    project: LabProject, args: tuple[str, ...], expected: str
) -> None:
    out = project.invoke(*args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert expected in out.stderr
    assert not (project.root / "runs").exists()


def test_unknown_config_key_is_an_error(project: LabProject) -> None:
    (project.root / "invoke.yaml").write_text("lab:\n  langg: zh-TW\n")
    out = project.invoke("lab.plan")
    assert out.returncode == 2
    assert "unknown key 'langg'" in out.stderr
    assert "did you mean 'lang'?" in out.stderr


def test_unknown_tag_names_the_flag_once(project: LabProject) -> None:
    out = project.invoke("lab.plan", "--tags", "nope")
    assert out.returncode == 2
    assert out.stderr.count("--tags") == 1, out.stderr


def test_labtools_modules_are_cached_as_bytecode_but_not_tasks_py(
    project: LabProject, tmp_path: Path
) -> None:
    # invoke turns bytecode writing off before it imports tasks.py; tasks.py turns it back on
    # for labtools (as Python was started), so a run does not compile the package again
    cache = tmp_path / "pycache"
    env = {k: v for k, v in project.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run(
        [sys.executable, "-m", "invoke", "lab.plan"],
        cwd=project.root,
        env={**env, "PYTHONPYCACHEPREFIX": str(cache)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    cached = {p.name.split(".")[0] for p in cache.rglob("labtools/**/*.pyc")}
    assert {"app", "playbook", "render", "plan"} <= cached, sorted(cached)
    # invoke's own choice for the tasks file (and nothing else of the project is a module)
    assert not list((cache / str(project.root).lstrip("/")).rglob("*.pyc"))
    assert not (project.root / "__pycache__").exists()
    # -B / PYTHONDONTWRITEBYTECODE still turn the cache off
    again = tmp_path / "pycache-off"
    out = subprocess.run(
        [sys.executable, "-m", "invoke", "lab.plan"],
        cwd=project.root,
        env={**env, "PYTHONPYCACHEPREFIX": str(again), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert not list(again.rglob("*.pyc"))
