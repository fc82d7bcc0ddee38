"""Tutor mode: the student types each step's command in their own terminal; the tutor shows the
step (its explanation and the exact command, rendered for this participant), watches its check
with backoff, and passes the step when the check holds.

Keys while it waits: ``h`` a hint, ``s`` the solution (the tutor runs the step, as ``lab.up``
would), ``q`` quit (``lab.tutor`` resumes there), Enter checks now (and passes a step nothing can
observe). Everything runs in one run of the runner, so a service the tutor starts for the student
(``kubectl proxy``) lives until the tutor ends, and the journal records the session.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtools.core.actions import Action, RunCommand, StartService, Wait, build
from labtools.core.checks import Probe, Typed, automatic, build_probe, typed_for, typed_text
from labtools.core.errors import LabError
from labtools.core.i18n import Translator
from labtools.core.messages import msg
from labtools.core.model import HostPlan, Step
from labtools.core.plan import step_vars
from labtools.core.results import StepChecked, StepResult
from labtools.effects import process
from labtools.effects.runner import HostState, Runner
from labtools.providers.base import Provider
from labtools.tutor.keys import EOF_KEY, TYPING, Keys
from labtools.tutor.probe import NOT_RUN_YET, Verdict, judge
from labtools.tutor.shell import ShellLog, ShellSetup, export_line
from labtools.tutor.state import Progress, step_key
from labtools.tutor.view import TutorView

FIRST_POLL = 0.5  # seconds until a check is tried again; grows by BACKOFF up to LAST_POLL
BACKOFF = 1.6
LAST_POLL = 5.0
KEY_WAIT = 0.25  # the longest wait for a key before looking at the shell log again
OUTPUT_LINES = 15  # of a solution's output
COMMAND_KEYS = ("h", "s", "q")
TYPING_PAUSE = 1.5  # seconds after another letter during which h/s/q are typing too


@dataclass
class Exercise:
    """A step as the student gets it: the command to type and how it is checked."""

    step: Step
    number: int
    action: Action
    typed: Typed | None
    command: str | None  # what to type (None: the tutor does it itself)
    probe: Probe
    port: int | None = None  # a service's port, chosen when shown


@dataclass
class Outcome:
    """How the session ended: every step done, or the student quit."""

    done: int
    total: int
    quit: bool = False
    results: list[StepResult] = field(default_factory=list)


class Tutor:
    """One tutor session for one participant (one host)."""

    def __init__(
        self,
        runner: Runner,
        provider: Provider,
        setup: ShellSetup,
        progress: Progress,
        keys: Keys,
        view: TutorView,
        tr: Translator,
        templates_dir: Path | None,
    ) -> None:
        self.runner = runner
        self.state: HostState = runner.states[0]
        self.provider = provider
        self.setup = setup
        self.log = ShellLog(setup)
        self.progress = progress
        self.keys = keys
        self.view = view
        self.tr = tr
        self.templates_dir = templates_dir
        self.steps = list(self.state.plan.steps)
        self.state.registered.update(progress.registered)
        self._told = ""  # the last feedback given, not to repeat it
        self._typing_until = 0.0  # keys before this are someone typing into the tutor's window

    @property
    def host_plan(self) -> HostPlan:
        """The participant's plan."""
        return self.state.plan

    # --- the session ------------------------------------------------------------------------

    def run(self) -> Outcome:
        """Every step not done yet, in order; returns when all are done or the student quits."""
        total = len(self.steps)
        self.view.intro(
            self.host_plan, self.progress.count(self.steps), total, export_line(self.setup)
        )
        self._restart_services()
        phase = None
        for number, step in enumerate(self.steps, 1):
            if step_key(step) in self.progress.done:
                continue
            if step.phase != phase:
                phase = step.phase
                self.view.phase(phase)
            if not self._teach(step, number):
                return Outcome(self.progress.count(self.steps), total, quit=True)
        done = self.progress.count(self.steps)
        self.view.finished(done, total)
        return Outcome(done, total)

    def _restart_services(self) -> None:
        """Services the tutor ran for the student in an earlier session end with it: rerun."""
        for step in self.steps:
            if step.action == "service" and self.progress.done.get(step_key(step)) == "solution":
                self.view.restarting(step)
                self.runner.run_step(self.state, step)

    def _teach(self, step: Step, number: int) -> bool:
        """Show one step and wait until it is done; False when the student quits."""
        try:
            exercise = self._exercise(step, number)
        except LabError as exc:  # e.g. it needs a value an earlier step did not register
            self.view.cannot_show(step, number, len(self.steps), exc.format(self.tr))
            return self._wait_keys(Exercise(step, number, Wait(0), None, None, Probe("", "")))
        self.view.exercise(exercise, self.progress.count(self.steps), len(self.steps))
        if exercise.command is None:
            return self._automatic(exercise)
        return self._wait(exercise)

    def _exercise(self, step: Step, number: int) -> Exercise:
        """The step rendered for this participant, with its check."""
        variables = step_vars(self.host_plan, step, self.state.registered)
        # the port the student's command will use: one free now (the run's own choice is later)
        ctx = self.runner.context(self.state, tty=True, choose_port=process.choose_port)
        action = build(step, variables, ctx)
        port = action.port if isinstance(action, StartService) else None
        scope = {**variables, "port": port} if port is not None else variables
        if automatic(action) or not _applies(step, variables):
            probe = Probe("automatic", "")
            return Exercise(step, number, action, None, None, probe)
        typed = typed_for(action, self.setup.shims)
        command = typed_text(typed, self._stdin_file(step, typed)) if typed else None
        own = typed.argv if typed else ()
        codes = typed.ok_codes if typed else (0,)
        probe = build_probe(step, scope, ctx, own_command=own, ok_codes=codes)
        return Exercise(step, number, action, typed, command, probe, port)

    def _stdin_file(self, step: Step, typed: Typed) -> str | None:
        """A manifest (or other stdin) the student's command reads, written next to the log."""
        if typed.stdin is None:
            return None
        safe = "".join(c if c.isalnum() else "-" for c in step.name).strip("-")[:40]
        path = self.setup.directory / "files" / f"{step.phase}-{safe}.yaml"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # a Secret's manifest holds its values: readable by the student only
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(typed.stdin)
        os.chmod(path, 0o600)  # a file from an older session may have other bits
        return str(path)

    # --- waiting for the student ----------------------------------------------------------

    def _wait(self, exercise: Exercise) -> bool:
        """Poll the check with backoff and answer keys until the step is done."""
        since = self.log.size()
        interval = FIRST_POLL
        due = time.monotonic()  # a state check may hold already (done before a resume)
        last: Verdict | None = None
        seen_log = since
        while True:
            if time.monotonic() >= due:
                last = self._judge(exercise, since)
                if last.passed:
                    return self._passed(exercise, last)
                interval = min(interval * BACKOFF, LAST_POLL)
                due = time.monotonic() + interval
            size = self.log.size()
            if size != seen_log:  # the student ran something: look now, and soon again
                seen_log, interval, due = size, FIRST_POLL, time.monotonic()
                self._feedback(exercise, since)
                continue
            key = self.keys.read(min(KEY_WAIT, max(0.0, due - time.monotonic())))
            if key is None:
                continue
            handled = self._key(key, exercise, last)
            if handled is not None:
                return handled
            interval, due = FIRST_POLL, time.monotonic()

    def _judge(self, exercise: Exercise, since: int) -> Verdict:
        """The check once, against what the student ran since the step was shown."""
        logged = self.log.since(since) if exercise.probe.kind == "history" else ()
        return judge(exercise.probe, self.runner.registry, logged)

    def _feedback(self, exercise: Exercise, since: int) -> None:
        """A command of the step that failed gets a word at once (the check says why), once."""
        if exercise.probe.kind != "history":
            return
        verdict = self._judge(exercise, since)
        if verdict.passed or verdict.detail == NOT_RUN_YET or str(verdict.detail) == self._told:
            return
        self._told = str(verdict.detail)
        self.view.not_yet(verdict.detail)

    def _key(self, key: str, exercise: Exercise, last: Verdict | None) -> bool | None:
        """Act on a key: True/False ends the wait (done / quit), None goes on waiting."""
        key = key.lower()
        if key == TYPING or (key in COMMAND_KEYS and time.monotonic() < self._typing_until):
            # slow typing gets here one letter at a time: a command key right after other
            # letters is part of a word, not a request
            self._typing_until = time.monotonic() + TYPING_PAUSE
            self.view.typing_here()
            return None
        if key.isprintable() and key not in (*COMMAND_KEYS, " ", "?"):
            self._typing_until = time.monotonic() + TYPING_PAUSE
            return None
        if key == "h":
            self.view.hint(exercise.step)
        elif key == "s":
            return True if self._solve(exercise) else None
        elif key in ("q", EOF_KEY):
            self.view.quit(self.progress.count(self.steps), len(self.steps))
            return False
        elif key in ("\n", "\r", " "):
            if self._confirmable(exercise):
                return self._passed(exercise, Verdict(True, msg("confirmed")))
            if last is not None:
                self.view.not_yet(last.detail, exercise.probe)
        elif key == "?":
            self.view.keys_help()
        return None

    def _confirmable(self, exercise: Exercise) -> bool:
        """Enter passes a step nothing can see: confirm checks, and history ones without a
        lab shell open (the student runs commands in a shell the tutor cannot watch)."""
        kind = exercise.probe.kind
        return kind == "confirm" or (kind == "history" and not self.log.shell_open())

    # --- a step is done ---------------------------------------------------------------------

    def _passed(self, exercise: Exercise, verdict: Verdict) -> bool:
        """The student did it: register what later steps need, save, say so."""
        step = exercise.step
        if step.register:
            self._register(exercise, verdict)
        self._record(exercise, "student", verdict)
        self.view.passed(exercise, self.progress.count(self.steps), len(self.steps))
        return True

    def _register(self, exercise: Exercise, verdict: Verdict) -> None:
        """What ``register:`` would have kept had the tutor run the step."""
        step, action = exercise.step, exercise.action
        assert step.register is not None
        if isinstance(action, RunCommand) and action.readonly and not action.interactive:
            # reading it again is harmless, and gives exactly what the step registers
            with self.view.muted():
                result = self.runner.run_step(self.state, step)
            self.view.registered(step.register, result)
            return
        if isinstance(action, StartService) and exercise.port is not None:
            url = f"http://127.0.0.1:{exercise.port}"
            self.state.registered[step.register] = _service_value(exercise.port, url)
            return
        self.state.registered[step.register] = dict(verdict.registered)

    def _solve(self, exercise: Exercise) -> bool:
        """``s``: show the solution and run the step for the student."""
        self.view.solution(exercise)
        with self.keys.cooked():
            result = self.runner.run_step(self.state, exercise.step)
        self.state.stopped = False  # a failed solution does not end the tutor
        self.view.output(result, OUTPUT_LINES)
        if result.status == "failed":
            self.view.solution_failed()
            return False
        self._record(exercise, "solution", Verdict(True, result.message))
        self.view.passed(exercise, self.progress.count(self.steps), len(self.steps), how="solution")
        return True

    def _automatic(self, exercise: Exercise) -> bool:
        """A step the tutor does itself (a wait, the lab's checks, one that does not apply)."""
        with self.keys.cooked():
            result = self.runner.run_step(self.state, exercise.step)
        self.state.stopped = False
        self.view.output(result, OUTPUT_LINES)
        if result.status == "failed":
            self.view.solution_failed()
            return self._wait_keys(exercise)
        self._record(exercise, "automatic", Verdict(True, result.message))
        self.view.passed(
            exercise, self.progress.count(self.steps), len(self.steps), how="automatic"
        )
        return True

    def _wait_keys(self, exercise: Exercise) -> bool:
        """After a failed automatic step (or one that cannot be shown): ``s`` runs the step
        (again), ``q`` quits."""
        while True:
            key = self.keys.read(LAST_POLL)
            if key is None:
                continue
            if key.lower() == "s":
                return self._automatic(exercise)
            if key.lower() in ("q", EOF_KEY):
                self.view.quit(self.progress.count(self.steps), len(self.steps))
                return False
            if key.lower() == "h":
                self.view.hint(exercise.step)

    def _record(self, exercise: Exercise, how: str, verdict: Verdict) -> None:
        """Save the progress and put the check in the journal."""
        step = exercise.step
        self.progress.mark(step, how, self.state.registered)
        self.runner.emit(
            StepChecked(
                host=self.host_plan.host.name,
                phase=step.phase,
                step=step.name,
                check=exercise.probe.kind,
                passed=True,
                how=how,
                detail=verdict.detail,
            )
        )


def _service_value(port: int, url: str) -> dict[str, Any]:
    """What a service step registers when the student started the service."""
    return {
        "rc": 0,
        "stdout": "",
        "stdout_lines": [],
        "stderr": "",
        "changed": False,
        "failed": False,
        "skipped": False,
        "port": port,
        "url": url,
        "pid": None,
    }


def _applies(step: Step, variables: Mapping[str, Any]) -> bool:
    """The step's ``when:`` holds (a step that does not apply is skipped by the tutor)."""
    if step.when is None:
        return True
    from labtools.core.render import evaluate

    return bool(evaluate(step.when, variables, source=step.source))
