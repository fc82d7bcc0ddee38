# ruff: noqa: RUF001  (the zh-TW texts use full-width punctuation)
"""Teaching pieces with real processes: the --step prompt in the runner, lab.test's gate, the
progress file, the lab shell's rc file in a real bash, keys from a pipe, the zh-TW strings."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from test_runner import StubProvider

from labtools.core.errors import ConfigError, Interrupted
from labtools.core.i18n import translator
from labtools.core.model import Host, HostPlan, Lab, Plan, Step
from labtools.core.playbook import parse_lab
from labtools.core.results import Event, StepChecked, StepEnded, StepResult
from labtools.core.yamlfile import parse_yaml
from labtools.effects.runner import Runner, run_plan
from labtools.providers.base import ClusterOp
from labtools.tutor.keys import EOF_KEY, TYPING, Keys
from labtools.tutor.labtest import LabTestGate
from labtools.tutor.shell import ShellLog, ShellSetup, export_line, write_shell_files
from labtools.tutor.state import load_progress, progress_path, reset_progress
from labtools.tutor.stepping import StepPrompt
from labtools.tutor.text import pick


class PlainProvider(StubProvider):
    """kubectl is `echo kubectl ...`; no environment, no shims, no cluster to start."""

    name = "plain"

    def shell_commands(self, host: Host) -> Mapping[str, tuple[str, ...]]:
        return {}

    def cluster(self, host: Host, op: str) -> ClusterOp:
        return ClusterOp(name=op)


class Events:
    """A reporter that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass

    def results(self) -> list[StepResult]:
        return [e.result for e in self.events if isinstance(e, StepEnded)]


def lab_of(text: str) -> Lab:
    return parse_lab(parse_yaml(text, "lab.yml"))


def plan_of(lab: Lab, hosts: Sequence[str], variables: Mapping[str, Any] | None = None) -> Plan:
    steps = tuple(step for phase in lab.phases.values() for step in phase)
    host_plans = tuple(
        HostPlan(Host(name, "plain", {}), {**(variables or {}), "inventory_hostname": name}, steps)
        for name in hosts
    )
    return Plan(lab, tuple(lab.phases), host_plans)


# --- --step ------------------------------------------------------------------------------------

STEPPED = """
name: demo
setup:
  - name: first
    command: echo one
    explain: {en: The first step., zh-TW: 第一步。}
  - name: second
    command: echo two
  - name: third
    command: echo three
  - name: fourth
    command: echo four
"""


def test_step_asks_once_per_step_for_all_hosts(tmp_path: Path) -> None:
    answers = io.StringIO("y\nwhat\nn\nc\n")  # run, (asked again), skip, continue
    shown = io.StringIO()
    prompt = StepPrompt(answers, shown, translator("en"), None)
    events = Events()
    lab = lab_of(STEPPED)
    run_plan(
        plan_of(lab, ["h1", "h2"]),
        {"plain": PlainProvider()},  # type: ignore[dict-item]
        reporters=[events],
        run_dir=tmp_path,
        templates_dir=None,
        gate=prompt,
    )
    text = shown.getvalue()
    assert text.count("Perform step 'first' (y/n/c)? ") == 1  # once, not once per host
    assert text.count("Perform step 'second' (y/n/c)? ") == 2  # "what" is asked again
    assert text.count("Perform step 'third' (y/n/c)? ") == 1
    assert "Perform step 'fourth'" not in text  # c: no more questions
    assert "  The first step.\n  [h1] $ echo one\n  [h2] $ echo one\n" in text
    assert "Answer y (run it), n (skip it) or c" in text
    status = {(r.host, r.step): (r.status, r.message) for r in events.results()}
    assert status[("h1", "first")][0] == status[("h2", "first")][0] == "changed"
    assert status[("h1", "second")] == ("skipped", "skipped at the --step prompt")
    assert status[("h2", "second")] == ("skipped", "skipped at the --step prompt")
    assert status[("h2", "third")][0] == status[("h2", "fourth")][0] == "changed"


def test_step_prompt_in_zh_tw_and_a_closed_input_ends_the_run(tmp_path: Path) -> None:
    shown = io.StringIO()
    prompt = StepPrompt(io.StringIO(""), shown, translator("zh-TW"), None)
    with pytest.raises(Interrupted, match="no answer"):
        run_plan(
            plan_of(lab_of(STEPPED), ["h1"]),
            {"plain": PlainProvider()},  # type: ignore[dict-item]
            reporters=[],
            run_dir=tmp_path,
            templates_dir=None,
            gate=prompt,
        )
    assert "第一步。" in shown.getvalue()
    assert "執行步驟「first」嗎 (y/n/c)？ " in shown.getvalue()


# --- lab.test's gate -----------------------------------------------------------------------------


def test_lab_test_gate_catches_a_check_that_cannot_fail(tmp_path: Path) -> None:
    lab = lab_of(
        f"""
name: t
setup:
  - name: good
    command: touch {tmp_path}/made
    check: {{command: test -e {tmp_path}/made}}
  - name: always true
    command: touch {tmp_path}/other
    check: {{command: "true"}}
  - name: never true
    command: "true"
    check: {{command: test -e {tmp_path}/nothing}}
  - name: read only
    kubectl: get pods
    check: history
  - name: wrong words
    kubectl: get pods
    check: {{history: kubectl get pod}}
  - name: unchecked
    command: "true"
"""
    )
    gate = LabTestGate()
    events = Events()
    runner = Runner(
        plan_of(lab, ["h1"]),
        {"plain": PlainProvider()},  # type: ignore[dict-item]
        reporters=[events],
        run_dir=tmp_path,
        templates_dir=None,
        gate=gate,
    )
    gate.runner = runner
    import labtools.tutor.labtest as labtest

    labtest.AFTER_TIMEOUT = 1.0  # "never true" is polled this long
    runner.run()
    problems = {test.step.name: test.problem for test in gate.problems()}
    assert set(problems) == {"always true", "never true", "wrong words"}
    assert "holds BEFORE the step ran" in problems["always true"]
    assert "does not hold AFTER the step ran" in problems["never true"]
    assert "does not hold AFTER" in problems["wrong words"]
    assert [step.name for step in gate.unchecked] == ["unchecked"]
    checked = [e for e in events.events if isinstance(e, StepChecked)]
    assert [(e.step, e.how, e.passed) for e in checked][:2] == [
        ("good", "before", False),
        ("good", "after", True),
    ]


# --- progress --------------------------------------------------------------------------------


def test_progress_is_saved_resumed_and_reset(tmp_path: Path) -> None:
    path = progress_path(tmp_path / "t")
    step = Step("a", "setup", "command", "true", source=None)  # type: ignore[arg-type]
    progress = load_progress(path, "basics", "h1")
    progress.mark(step, "student", {"POD_NAME": {"stdout": "p-1"}, "odd": object()})
    assert os.stat(path).st_mode & 0o777 == 0o600
    again = load_progress(path, "basics", "h1")
    assert again.done == {"setup/a": "student"}
    assert again.registered == {"POD_NAME": {"stdout": "p-1"}}  # what JSON cannot keep is left out
    reset_progress(path)
    assert load_progress(path, "basics", "h1").done == {}


def test_a_damaged_progress_file_says_how_to_start_over(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError) as caught:
        load_progress(path, "basics", "h1")
    assert str(path) in caught.value.message
    assert "--reset" in (caught.value.hint or "")


# --- the lab shell ------------------------------------------------------------------------------


def test_the_lab_shell_logs_each_command_with_its_exit_code(tmp_path: Path) -> None:
    setup = ShellSetup(
        "basics",
        "h1",
        tmp_path / "tutor",
        {"KUBECONFIG": str(tmp_path / "a dir" / "kubeconfig")},
        {"minikube": ("echo", "fake-minikube")},
    )
    write_shell_files(setup)
    home = tmp_path / "student-home"
    home.mkdir()
    (home / ".bash_history").write_text("old command\n")
    script = 'true\nfalse\necho "$KUBECONFIG"\nminikube version\n\nexit\n'
    done = subprocess.run(
        ["bash", "--rcfile", str(setup.rcfile), "-i"],
        input=script,
        capture_output=True,
        text=True,
        env={"HOME": str(home), "PATH": os.environ["PATH"]},
        timeout=30,
        check=False,
    )
    assert stat.S_IMODE(setup.directory.stat().st_mode) == 0o700  # what they type is theirs
    assert f"{tmp_path}/a dir/kubeconfig\n" in done.stdout
    assert "fake-minikube version\n" in done.stdout  # the shim is first on PATH
    logged = ShellLog(setup).since(0)
    assert [(e.rc, e.text) for e in logged] == [
        (0, "true"),
        (1, "false"),
        (0, 'echo "$KUBECONFIG"'),
        (0, "minikube version"),
    ]  # the empty line logged nothing again, and the user's old history is not a command
    assert (home / ".bash_history").read_text() == "old command\n"  # never written
    assert not ShellLog(setup).shell_open()  # that bash has exited


def test_export_line_puts_kubeconfig_first_and_quotes() -> None:
    setup = ShellSetup(
        "l", "h", Path("/p/t"), {"MINIKUBE_HOME": "/p/m", "KUBECONFIG": "/p/a b"}, {"x": ("y",)}
    )
    assert (
        export_line(setup)
        == "export KUBECONFIG='/p/a b' MINIKUBE_HOME=/p/m PATH=/p/t/bin:\"$PATH\""
    )
    assert export_line(ShellSetup("l", "h", Path("/p"), {}, {})) is None


# --- keys ------------------------------------------------------------------------------------


def test_keys_from_a_pipe_are_first_letters_of_lines() -> None:
    read, write = os.pipe()
    os.write(write, b"h\n\nsolve\n")
    os.close(write)
    with os.fdopen(read) as stream, Keys(stream) as keys:
        assert [keys.read(1.0) for _ in range(4)] == ["h", "\n", "s", EOF_KEY]


def test_keys_on_a_terminal_are_single_presses_and_typing_is_not(tmp_path: Path) -> None:
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, closefd=False) as stream, Keys(stream) as keys:
            os.write(master, b"h")
            assert keys.read(1.0) == "h"  # cbreak: no Enter needed
            os.write(master, b"kubectl get pods\r")  # a command typed into the tutor's window
            assert keys.read(1.0) == TYPING
            assert keys.read(0.2) is None  # all of it was swallowed, its "s" is not a key
            os.write(master, b"\r")
            assert keys.read(1.0) == "\n"
    finally:
        os.close(master)
        os.close(slave)


def test_keys_time_out() -> None:
    read, write = os.pipe()
    try:
        with os.fdopen(read) as stream, Keys(stream) as keys:
            assert keys.read(0.05) is None
    finally:
        os.close(write)


# --- strings ----------------------------------------------------------------------------------


def test_a_labs_own_texts_in_the_readers_language() -> None:
    texts = {"en": " Look at STATUS. ", "zh-TW": "看 STATUS 欄位。"}
    assert pick(texts, "zh-TW") == "看 STATUS 欄位。"
    assert pick({"en": "only English"}, "zh-TW") == "only English"
    assert pick(texts, "en") == "Look at STATUS."
