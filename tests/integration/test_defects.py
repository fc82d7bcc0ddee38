"""Issue 10's defects, through `invoke` as a new user meets them: each one a clear paragraph and
the documented exit code, never a traceback, and nothing started before the whole lab loads."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import (
    LabProject,
    copy_project,
    isolated_env,
    kill_processes_mentioning,
)

FAKE_INVENTORY = (
    "all:\n  vars: {provider: fake}\n  hosts:\n    basics: {profile: labtools-basics}\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[LabProject]:
    """A copy of the project on the fake provider (most tests here need no cluster)."""
    root = tmp_path / "project"
    root.mkdir()
    copy_project(root)
    (root / "inventory.yml").write_text(FAKE_INVENTORY)
    yield LabProject(root, isolated_env(tmp_path))
    kill_processes_mentioning(str(tmp_path))  # what a kill -9 of a run left behind


def write_lab(project: LabProject, name: str, text: str) -> None:
    """playbooks/NAME/playbook.yml (a lab is a folder)."""
    (project.root / "playbooks" / name).mkdir(exist_ok=True)
    (project.root / "playbooks" / name / "playbook.yml").write_text(text)


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
    out = project.invoke("lab.setup")
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
        out = project.invoke("lab.setup")
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


HUGE_ARGUMENT_LAB = """
name: huge
setup:
  - name: echo the note twice
    command: echo {{ note }}-{{ note }}
  - name: after it
    command: "true"
"""


def test_a_command_longer_than_exec_takes_is_a_failed_step_not_a_missing_binary(
    project: LabProject,
) -> None:
    # one --set value of 130,600 characters goes through; used twice in one argument, the
    # argument is past Linux's 128 KiB per string: it was "cannot run echo ... install echo"
    write_lab(project, "huge", HUGE_ARGUMENT_LAB)
    out = project.invoke("lab.setup", "--lab", "huge", "--set", "note=" + "n" * 130_600)
    no_traceback(out)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "its argument 1 has 261,201 bytes" in out.stdout
    assert "install `echo`" not in out.stdout
    assert "0/1 ready; basics failed at 'echo the note twice'" in out.stderr
    recap = [line for line in out.stdout.splitlines() if line.startswith("| basics")]
    assert recap[0].split("|")[4].strip() == "1"  # failed 1, and the run stopped there
    assert "after it" not in out.stdout


LONG_COMMAND_LAB = """
name: long
setup:
  - name: a long command line
    command: echo {{ words }} --flag='a value with spaces' {{ words }}
"""


@pytest.mark.parametrize("how", [("lab.setup", "-v"), ("lab.setup", "--check"), ("lab.plan",)])
def test_a_long_command_is_one_copy_pasteable_line_in_a_pipe(
    project: LabProject, how: tuple[str, ...]
) -> None:
    import shlex

    write_lab(project, "long", LONG_COMMAND_LAB)
    words = " ".join(f"argument-number-{index:02d}" for index in range(12))
    out = project.invoke(*how, "--lab", "long", "--set", f"words={words}")
    assert out.returncode == 0, out.stdout + out.stderr
    (line,) = [line for line in out.stdout.splitlines() if "echo " in line and "--flag=" in line]
    assert len(line) > 200  # twice the width rich would wrap a pipe's output at
    argv = shlex.split(line[line.index("echo") :])
    assert argv == ["echo", words, "--flag=a value with spaces", words]


# --- exit codes (defect 4): 3 provider/preflight problems, 4 a failed background service ------


def test_missing_kubectl_in_lab_deploy_exits_3(project: LabProject) -> None:
    project.env["PATH"] = str(Path(sys.executable).parent)  # this Python, no kubectl
    out = project.invoke("lab.deploy")
    no_traceback(out)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "kubectl not found on PATH" in out.stderr
    assert not (project.root / "runs").exists()


def test_garbage_kubeconfig_is_named_by_preflight_and_exits_3(project: LabProject) -> None:
    kubeconfig = Path(project.env["HOME"]) / "garbage.yaml"
    kubeconfig.write_text("this: is: not: a kubeconfig\n")
    (project.root / "inventory.yml").write_text(
        "all:\n  hosts:\n    shared:\n      provider: context\n      kube_context: training\n"
        f"      kubeconfig: {kubeconfig}\n"
    )
    out = project.invoke("lab.up")
    no_traceback(out)
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"kubectl cannot load the kubeconfig {kubeconfig}" in out.stderr
    assert f'error loading config file "{kubeconfig}"' in out.stderr
    assert "minikube start" not in out.stdout + out.stderr  # caught before any step
    assert not (project.root / "runs").exists()


def test_a_lab_that_is_down_says_run_lab_up_first_and_exits_3(project: LabProject) -> None:
    out = project.invoke("lab.verify")
    no_traceback(out)
    assert out.returncode == 3, out.stdout + out.stderr
    assert 'context "labtools-basics" does not exist' in out.stderr
    assert "run `invoke lab.up` first" in out.stderr
    assert not (project.root / "runs").exists()


def test_an_unreachable_server_exits_3_naming_the_kubeconfig(
    project: LabProject, tmp_path: Path
) -> None:
    from labtools.testing.cluster import FakeCluster

    cluster = FakeCluster(tmp_path / "cluster", name="training").start()
    cluster.stop()  # the kubeconfig stays, the server is gone
    (project.root / "inventory.yml").write_text(
        "all:\n  hosts:\n    team-a:\n      provider: context\n"
        f"      kube_context: {cluster.context}\n      kubeconfig: {cluster.kubeconfig}\n"
    )
    out = project.invoke("lab.deploy")
    no_traceback(out)
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"kubeconfig {cluster.kubeconfig}) does not answer" in out.stderr
    assert "connection to the server 127.0.0.1" in out.stderr


def test_the_limit_message_names_the_kubeconfig(project: LabProject) -> None:
    (project.root / "inventory.yml").write_text(
        (Path(__file__).parents[2] / "examples" / "workshop-inventory.yml").read_text()
    )
    out = project.invoke("lab.setup", "--limit", "shared")
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"is not in the kubeconfig {project.env['KUBECONFIG']}" in out.stderr


SERVICE_LAB = """
name: svc
setup:
  - name: a service that dies at once
    service:
      name: broken-proxy
      command: >-
        sh -c 'echo "listen tcp 127.0.0.1:{{ port }}: bind: address already in use"; exit 1'
      port: 8001
      ready: {http: "http://127.0.0.1:{{ port }}/version"}
"""


def test_a_failed_background_service_exits_4(project: LabProject) -> None:
    write_lab(project, "svc", SERVICE_LAB)
    out = project.invoke("lab.setup", "--lab", "svc")
    no_traceback(out)
    assert out.returncode == 4, out.stdout + out.stderr
    assert "service 'broken-proxy' exited before it was ready" in out.stdout
    assert "0/1 ready; basics failed at 'a service that dies at once'" in out.stderr


BIG_OUTPUT_LAB = """
name: big
setup:
"""
for _index in range(8):
    BIG_OUTPUT_LAB += f"""  - name: print 20 KB ({_index})
    command: python3 -c 'print("x" * 20000)'
"""


def test_disk_full_in_the_run_directory_stops_the_run_with_whole_journal_lines(
    project: LabProject,
) -> None:
    import json

    write_lab(project, "big", BIG_OUTPUT_LAB)
    with tmpfs(project.root / "runs", "size=64k"):
        out = project.invoke("lab.setup", "--lab", "big")
        run_dir = (project.root / "runs" / "latest").resolve()
        journal = (run_dir / "journal.jsonl").read_bytes()
        junit = sorted(p.name for p in run_dir.iterdir())
    no_traceback(out)
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"no space left on the disk of {run_dir} while writing {run_dir}" in out.stderr
    assert "the run stopped there" in out.stderr
    assert (out.stdout + out.stderr).count("No space left on device") == 1  # said once
    assert journal.endswith(b"\n")
    records = [json.loads(line) for line in journal.decode().splitlines()]  # whole lines only
    assert records[0]["kind"] == "run_start"
    # the run stopped at the step whose record did not fit: the later steps never ran
    assert "print 20 KB (7)" not in out.stdout
    assert not [name for name in junit if name.endswith(".tmp")]  # no half-written JUnit


# --- one run per target (defect 5) ---------------------------------------------------------

SLOW_LAB = """
name: slow
vars: {nap: 30}
setup:
  - name: nap
    command: sleep {{ nap }}
"""


def wait_for_step(project: LabProject, step: str, timeout: float = 60) -> None:
    """Until the newest run's journal shows ``step`` started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = project.root / "runs" / "latest" / "journal.jsonl"
        if latest.exists() and f'"step": "{step}"' in latest.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"step {step!r} did not start")


def test_a_second_run_on_the_same_profile_is_refused_and_a_killed_runs_lock_taken_over(
    project: LabProject,
) -> None:
    write_lab(project, "slow", SLOW_LAB)
    first = project.popen("lab.setup", "--lab", "slow")
    try:
        wait_for_step(project, "nap")
        started = time.monotonic()
        second = project.invoke("lab.setup", "--lab", "slow", "--set", "nap=0")
        assert time.monotonic() - started < 15  # refused at once, not after the first one
        no_traceback(second)
        assert second.returncode == 3, second.stdout + second.stderr
        assert "fake profile labtools-basics (" in second.stderr
        assert f"is in use by another run: pid {first.pid} (invoke lab.setup" in second.stderr
        assert "started 20" in second.stderr
        os.killpg(first.pid, signal.SIGKILL)  # killed: no chance to release its lock
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
    locks = Path(project.env["LABTOOLS_LOCK_DIR"])
    assert len(list(locks.glob("*.lock"))) == 1  # the killed run's record is still there
    third = project.invoke("lab.setup", "--lab", "slow", "--set", "nap=0")
    assert third.returncode == 0, third.stdout + third.stderr
    said = " ".join(third.stdout.split())  # a banner is prose: wrapped to the terminal
    assert "took over the lock of a run that ended without releasing it" in said
    assert f"pid {first.pid}" in said
    assert not list(locks.glob("*.lock"))  # released: nothing left


def test_runs_on_different_profiles_do_not_wait_for_each_other(project: LabProject) -> None:
    write_lab(project, "slow", SLOW_LAB)
    (project.root / "inventory.yml").write_text(
        "all:\n  vars: {provider: fake}\n  hosts:\n    one: {}\n    two: {}\n"
    )
    first = project.popen("lab.setup", "--lab", "slow", "--limit", "one")
    try:
        wait_for_step(project, "nap")
        other = project.invoke("lab.setup", "--lab", "slow", "--limit", "two", "--set", "nap=0")
        assert other.returncode == 0, other.stdout + other.stderr
        same = project.invoke("lab.setup", "--lab", "slow", "--set", "nap=0")  # one and two
        assert same.returncode == 3
        assert "fake profile one (" in same.stderr
    finally:
        os.killpg(first.pid, signal.SIGINT)
        first.communicate(timeout=30)
    assert first.returncode == 130


# --- nothing left behind (defect 8) ----------------------------------------------------------


def test_lab_down_leaves_no_labtools_directory_and_gitignore_names_it(project: LabProject) -> None:
    setup = project.invoke("lab.setup")
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert (project.root / ".labtools" / "fake-minikube" / ".minikube" / "ca.key").exists()
    down = project.invoke("lab.down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not (project.root / ".labtools").exists()
    again = project.invoke("lab.down")  # safe to repeat, and still nothing left
    assert again.returncode == 0, again.stdout + again.stderr
    assert not (project.root / ".labtools").exists()
    ignored = (Path(__file__).parents[2] / ".gitignore").read_text().splitlines()
    assert ".labtools/" in ignored


def test_lab_down_of_one_host_keeps_the_state_the_others_use(project: LabProject) -> None:
    (project.root / "inventory.yml").write_text(
        "all:\n  vars: {provider: fake}\n  hosts:\n    one: {}\n    two: {}\n"
    )
    assert project.invoke("lab.setup").returncode == 0
    assert project.invoke("lab.down", "--limit", "one").returncode == 0
    assert (project.root / ".labtools" / "fake-minikube" / ".minikube" / "ca.key").exists()
    assert project.invoke("lab.down", "--limit", "two").returncode == 0
    assert not (project.root / ".labtools").exists()


GUARD_TEST = """
from pathlib import Path

def test_writes_into_home():
    (Path.home() / ".kube" / "cache").mkdir(parents=True)
    (Path.home() / ".kube" / "cache" / "discovery.json").write_text("{}")
"""


def test_the_suite_fails_when_a_test_writes_into_home(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text((Path(__file__).parents[1] / "conftest.py").read_text())
    (suite / "test_home.py").write_text(GUARD_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
         "--rootdir", str(suite), "--basetemp", str(tmp_path / "base"), str(suite)],
        capture_output=True, text=True, env=env, timeout=120, cwd=suite,
    )  # fmt: skip
    assert "1 passed" in out.stdout, out.stdout + out.stderr
    assert out.returncode == 1, out.stdout
    assert "the suite wrote into HOME" in out.stdout
    assert "~/.kube/cache/discovery.json" in out.stdout
