# ruff: noqa: RUF001  (the zh-TW texts use full-width punctuation)
"""Tutor mode in a real terminal (tmux): a student plays the Basics lab on the fake cluster.

The tutor runs in one tmux window, the student's `invoke lab.shell` in another (and the proxy
in a third, as the tutor tells them). For each step the student reads the command the tutor
shows and types it; the step passes when its check holds. Along the way they ask for a hint,
let the tutor solve one step, quit, and resume; once in English and once in zh-TW (where the
tutor solves the interactive `exec -ti ... bash` step in its own terminal and the student types
in the pod's shell there).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from labtools.effects.process import free_port
from tests.integration.helpers import LabProject
from tests.integration.tmux import Tmux

pytestmark = [pytest.mark.fake, pytest.mark.slow]

TOTAL = 19
HEADER = re.compile(r"^\[(\d+)/(\d+)\] (.*)$", re.MULTILINE)
POD_PROMPT = r"root@kubernetes-bootcamp-[a-z0-9]+-[a-z0-9]+:[^\n]*# *$"
HELLO = r"Hello Kubernetes bootcamp! \| Running on: kubernetes-bootcamp-\S+ \| v=1"


@dataclass(frozen=True)
class Words:
    """What the tutor says, per language."""

    hint_of_kubectl_version: str
    passed: str
    solved: str
    saved: str
    finished: str


WORDS = {
    "en": Words(
        hint_of_kubectl_version="Hint: kubectl needs `--context`",
        passed="Passed (",
        solved="Done by the tutor (",
        saved="Progress saved: 12/19 done.",
        finished="All 19 steps done.",
    ),
    "zh-TW": Words(
        hint_of_kubectl_version="提示：kubectl 需要 `--context`",
        passed="通過（已完成 ",
        solved="由導師完成（已完成 ",
        saved="進度已儲存：已完成 12/19。",
        finished="全部 19 個步驟都完成了。",
    ),
}


def line_start(screen: str) -> int:
    """Where the last line of a screen begins: what a command prints from now on is after it
    (a program that redraws the current line, as a shell's prompt does, starts there too)."""
    return screen.rstrip().rfind("\n") + 1


class Student:
    """Reads the tutor's window, types in the lab shell's."""

    def __init__(self, tmux: Tmux, project: LabProject, lang: str) -> None:
        self.tmux = tmux
        self.project = project
        self.lang = lang
        self.words = WORDS[lang]
        self.tutor = tmux.window("tutor", "bash --norc --noprofile", project.root)
        self.shell = self.open_shell("shell")
        self.session_start = 0  # where the current tutor session begins on the tutor's screen
        self.port = free_port()

    def open_shell(self, name: str) -> str:
        pane = self.tmux.window(name, "bash --norc --noprofile", self.project.root)
        self.tmux.type(pane, f"invoke lab.shell --lang {self.lang}")
        self.tmux.wait_for(pane, r"^\(lab basics\) ")
        return pane

    def start_tutor(self, *flags: str) -> None:
        self.session_start = len(self.tmux.screen(self.tutor).rstrip())
        # a port of its own for the proxy: on a shared machine another run may hold 8001 (the
        # tutor would show another port then, but one can take 8001 between show and start)
        words = ["invoke", "lab.tutor", "--lang", self.lang, "-e", f"proxy_port={self.port}"]
        self.tmux.type(self.tutor, " ".join([*words, *flags]))

    def exercise(self, number: int) -> str:
        """The tutor's text from step ``number``'s header on, once it is shown."""
        pattern = rf"^\[{number}/{TOTAL}\] "
        screen = self.tmux.wait_for(self.tutor, pattern, timeout=120, after=self.session_start)
        match = re.compile(pattern, re.MULTILINE).search(screen, self.session_start)
        assert match is not None
        return screen[match.start() :]

    def command(self, number: int) -> str:
        block = self.exercise(number)
        found = re.search(r"^  \$ (.*)$", block, re.MULTILINE)
        assert found, block
        return found.group(1)

    def wait_passed(self, number: int, marker: str | None = None) -> str:
        """Step ``number`` is passed (the tutor says so right after its exercise)."""
        marker = marker or self.words.passed
        pattern = rf"^\[{number}/{TOTAL}\] (?:(?!^\[\d+/).)*?{re.escape(marker)}{number}/{TOTAL}"
        screen = self.tmux.wait_for(
            self.tutor, pattern, timeout=120, after=self.session_start, flags=re.DOTALL
        )
        return screen

    def do(self, number: int) -> str:
        """Type step ``number``'s command where it belongs and wait until it passes."""
        block = self.exercise(number)
        command = self.command(number)
        pane = self.shell
        if "keeps running" in block or "持續執行" in block:
            pane = self.open_shell("proxy")
        before = line_start(self.tmux.screen(pane))  # the pod's shell may redraw the prompt line
        self.tmux.type(pane, command)
        if " -ti " in command:
            self.in_the_pod(pane, before)
        self.wait_passed(number)
        return command

    def in_the_pod(self, pane: str, before: int) -> None:
        """The pod's shell: `curl localhost:8080`, the app answers, `exit`."""
        self.tmux.wait_for(pane, POD_PROMPT, timeout=60, after=before)
        self.tmux.type(pane, "curl localhost:8080")
        self.tmux.wait_for(pane, HELLO, timeout=30, after=before)
        self.tmux.type(pane, "exit")


def tutor_dir(project: LabProject) -> Path:
    return project.root / ".labtools" / "tutor" / "basics" / "basics"


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_a_student_plays_the_basics_lab(
    fake_project: LabProject, terminal: Tmux, lang: str
) -> None:
    tmux = terminal
    student = Student(tmux, fake_project, lang)
    student.start_tutor()
    intro = student.exercise(1)
    screen = tmux.screen(student.tutor)
    # the one line that makes kubectl reach the fake cluster, which lives under .labtools/
    kubeconfig = fake_project.root / ".labtools" / "fake-minikube" / "kubeconfig"
    assert f"export KUBECONFIG={kubeconfig}" in screen
    # the shell that reaches this lab, in the student's language (two labs ship: --lab says which)
    shell = "invoke lab.shell --lab basics" + (" --lang zh-TW" if lang == "zh-TW" else "")
    assert re.search(rf"^  {re.escape(shell)}$", screen, re.MULTILINE), screen
    assert "$ minikube version -p labtools-basics" in intro

    for number in (1, 2):
        student.do(number)
    # a hint, in the student's language, then the step as usual
    student.exercise(3)
    tmux.key(student.tutor, "h")
    tmux.wait_for(student.tutor, re.escape(student.words.hint_of_kubectl_version))
    for number in range(3, 9):
        student.do(number)
    if lang == "en":
        # the tutor solves one step for the student
        student.exercise(9)
        tmux.key(student.tutor, "s")
        student.wait_passed(9, student.words.solved)
    else:
        student.do(9)
    for number in range(10, 13):
        student.do(number)

    # quit, and resume where the student stopped
    student.exercise(13)
    tmux.key(student.tutor, "q")
    tmux.wait_for(student.tutor, re.escape(student.words.saved))
    progress = json.loads((tutor_dir(fake_project) / "progress.json").read_text())
    assert len(progress["done"]) == 12
    student.start_tutor()
    tmux.wait_for(student.tutor, r"12/19", after=student.session_start)
    assert "[12/19]" not in tmux.screen(student.tutor)[student.session_start :]

    for number in range(13, 17):
        command = student.do(number)
    pod = progress_pod(fake_project)
    assert pod in command  # the real POD_NAME, filled in for this participant
    if lang == "zh-TW":
        # the tutor solves the interactive step: it hands its own terminal to the pod's shell
        student.exercise(17)
        before = line_start(tmux.screen(student.tutor))
        tmux.key(student.tutor, "s")
        student.in_the_pod(student.tutor, before)
        student.wait_passed(17, student.words.solved)
    else:
        student.do(17)
    for number in (18, 19):
        student.do(number)
    tmux.wait_for(student.tutor, re.escape(student.words.finished), after=student.session_start)

    progress = json.loads((tutor_dir(fake_project) / "progress.json").read_text())
    assert len(progress["done"]) == TOTAL
    solved = {key for key, value in progress["done"].items() if value == "solution"}
    if lang == "en":
        assert solved == {"deploy/kubectl get deployments"}
    else:
        assert solved == {"explore/kubectl exec -ti $POD_NAME -- bash"}
    checks = journal_checks(fake_project)
    assert {c["step"] for c in checks} >= {"minikube start", "kubectl proxy", "POD_NAME"}
    assert "Traceback" not in tmux.screen(student.tutor)


def progress_pod(project: LabProject) -> str:
    """The pod name the tutor registered as POD_NAME."""
    progress = json.loads((tutor_dir(project) / "progress.json").read_text())
    return str(progress["registered"]["POD_NAME"]["stdout_lines"][0])


def journal_checks(project: LabProject) -> list[dict[str, object]]:
    """The step_check records of every tutor run's journal."""
    records = []
    for journal in sorted((project.root / "runs").glob("*-basics-tutor/journal.jsonl")):
        for line in journal.read_text().splitlines():
            record = json.loads(line)
            if record["kind"] == "step_check":
                records.append(record)
    return records
