"""The interactive step (`kubectl exec -ti $POD_NAME -- bash`) in a real terminal (tmux).

The student gets the pod's shell, types `curl localhost:8080` and `exit`; the step returns the
shell's exit code and the run goes on with the remaining steps. No live display draws over the
student's prompt, and the terminal is usable afterwards.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

from tests.integration.helpers import LabProject
from tests.integration.tmux import Tmux

pytestmark = [pytest.mark.fake, pytest.mark.slow]

POD_PROMPT = r"root@kubernetes-bootcamp-[a-z0-9]+-[a-z0-9]+:[^\n]*# *$"
EXEC_STEP = "kubectl exec -ti $POD_NAME -- bash"
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


@pytest.fixture
def deployed(fake_project: LabProject) -> LabProject:
    """The Basics lab set up and deployed on the fake cluster."""
    for task in ("lab.setup", "lab.deploy"):
        done = fake_project.invoke(task)
        assert done.returncode == 0, done.stdout + done.stderr
    return fake_project


def step_end(project: LabProject, step: str) -> dict[str, object]:
    """The result of ``step`` in the newest run's journal."""
    for line in (project.latest_run() / "journal.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["kind"] == "step_end" and event["result"]["step"] == step:
            return dict(event["result"])
    raise AssertionError(f"no step_end for {step!r}")


def start_explore(tmux: Tmux, project: LabProject) -> str:
    """`invoke lab.explore` in a shell in tmux; its exit code is printed at the end."""
    python = shlex.quote(project.env["PATH"].split(":")[0] + "/python")
    line = f"{python} -m invoke lab.explore; echo EXIT=$?; echo MODES: $(stty -a)"
    return tmux.window("run", f"bash --norc --noprofile -c {shlex.quote(line)}", project.root)


def test_the_student_types_in_the_pod_and_the_run_goes_on(
    deployed: LabProject, terminal: Tmux
) -> None:
    pane = start_explore(terminal, deployed)
    screen = terminal.wait_for(pane, POD_PROMPT, timeout=90)
    prompt_line = screen.rstrip().splitlines()[-1]  # the pod shell's prompt, as drawn
    assert not any(glyph in prompt_line for glyph in SPINNER), prompt_line

    terminal.type(pane, "curl localhost:8080")
    screen = terminal.wait_for(pane, r"Hello Kubernetes bootcamp! \| Running on: kubernetes-")
    answer = re.search(r"Hello Kubernetes bootcamp! \| Running on: (\S+) \| v=1", screen)
    assert answer, screen
    terminal.type(pane, "exit")

    screen = terminal.wait_for(pane, r"EXIT=\d+", timeout=90)
    assert "EXIT=0" in screen, screen
    after = screen[screen.index("Hello Kubernetes bootcamp!") :]
    # the steps after the interactive one ran, then the recap
    for step in ("curl localhost:8080 inside the pod", "curl the app through the proxy", "RECAP"):
        assert step in after, after
    assert "Traceback" not in screen
    # the terminal got its modes back: echo and line editing on again
    modes = screen[screen.index("MODES:") :]
    assert re.search(r"[ ;]icanon ", modes), modes
    assert re.search(r"[ ;]echo ", modes), modes
    result = step_end(deployed, EXEC_STEP)
    assert (result["status"], result["rc"]) == ("ok", 0)
    assert step_end(deployed, "curl the app through the proxy")["status"] == "ok"


def test_the_shells_exit_code_is_the_steps(deployed: LabProject, terminal: Tmux) -> None:
    pane = start_explore(terminal, deployed)
    terminal.wait_for(pane, POD_PROMPT, timeout=90)
    terminal.type(pane, "exit 3")
    screen = terminal.wait_for(pane, r"EXIT=\d+", timeout=90)
    assert "EXIT=1" in screen, screen  # a step failed: the documented exit code 1
    assert "exit code: 3" in screen, screen
    result = step_end(deployed, EXEC_STEP)
    assert (result["status"], result["rc"]) == ("failed", 3)
