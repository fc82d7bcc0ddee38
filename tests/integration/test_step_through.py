"""`--step` for live demos in a real terminal (tmux): asked once per step for all hosts, with
the explanation and the command; y runs, n skips (recorded), c runs the rest without asking;
no spinner draws over the question. Without a terminal, --step is refused before anything runs."""

from __future__ import annotations

import json

import pytest

from tests.integration.helpers import LabProject
from tests.integration.tmux import Tmux

pytestmark = [pytest.mark.fake, pytest.mark.slow]

DEMO = """\
name: demo
setup:
  - name: slow one
    command: sleep 1.5
    explain: {en: Takes a moment., zh-TW: 需要一點時間。}
  - name: skip me
    command: touch {{ project_root }}/skipped-{{ inventory_hostname }}
  - name: third
    command: echo three
  - name: fourth
    command: echo four
"""
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


@pytest.fixture
def demo(fake_project: LabProject) -> LabProject:
    (fake_project.root / "playbooks" / "demo").mkdir()
    (fake_project.root / "playbooks" / "demo" / "playbook.yml").write_text(DEMO)
    (fake_project.root / "inventory.yml").write_text(
        "all:\n  vars:\n    provider: fake\n  hosts:\n    h1:\n    h2:\n"
    )
    return fake_project


def test_step_asks_before_each_step_in_a_terminal(demo: LabProject, terminal: Tmux) -> None:
    pane = terminal.window("demo", "bash --norc --noprofile", demo.root)
    terminal.type(pane, "invoke lab.setup --lab demo --step; echo EXIT=$?")
    screen = terminal.wait_for(pane, r"Perform step 'slow one' \(y/n/c\)\? $")
    assert "Takes a moment." in screen
    assert "[h1] $ sleep 1.5" in screen
    assert "[h2] $ sleep 1.5" in screen
    terminal.type(pane, "y")
    screen = terminal.wait_for(pane, r"Perform step 'skip me' \(y/n/c\)\? $", timeout=30)
    question = screen.rstrip().splitlines()[-1]
    assert not any(glyph in question for glyph in SPINNER), question  # the spinner paused
    assert screen.count("Perform step 'slow one'") == 1  # once, not once per host
    terminal.type(pane, "n")
    terminal.wait_for(pane, r"Perform step 'third' \(y/n/c\)\? $", timeout=30)
    terminal.type(pane, "c")
    screen = terminal.wait_for(pane, r"EXIT=\d+", timeout=60)
    assert "EXIT=0" in screen, screen
    assert "Perform step 'fourth'" not in screen
    assert not list(demo.root.glob("skipped-*"))
    ends = [
        json.loads(line)
        for line in (demo.latest_run() / "journal.jsonl").read_text().splitlines()
        if '"step_end"' in line
    ]
    status = {(e["host"], e["step"]): e["result"]["status"] for e in ends}
    assert status[("h1", "skip me")] == status[("h2", "skip me")] == "skipped"
    assert status[("h1", "fourth")] == status[("h2", "fourth")] == "changed"


def test_step_without_a_terminal_is_refused_before_anything_runs(demo: LabProject) -> None:
    done = demo.invoke("lab.setup", "--lab", "demo", "--step")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--step asks before each step and needs a terminal" in done.stderr
    assert not (demo.root / "runs").exists()
