"""``lab.test`` for lab authors (Instruqt's ``track test``): every step's check must FAIL before
the step runs and PASS after it, so a check that cannot fail (``command: "true"``) is caught.

The lab is torn down first (a check can only fail on a lab that is not there yet), run with a
``StepGate`` that judges each check before and after its step on every host, and torn down again.
A ``history`` check is judged against an empty shell log before, and against the step's own
command (as the student would type it, exit 0) after: that proves its words match the command.
``confirm`` checks cannot be tested and are listed as such.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labtools.core.actions import Action, StartService, build
from labtools.core.checks import (
    LoggedCommand,
    Probe,
    build_probe,
    typed_for,
    typed_text,
)
from labtools.core.errors import LabError
from labtools.core.messages import Text, msg, msgp
from labtools.core.model import Step
from labtools.core.plan import step_vars
from labtools.core.results import StepChecked, StepResult
from labtools.effects import process
from labtools.effects.runner import HostState, Runner
from labtools.tutor.probe import Verdict, judge

AFTER_TIMEOUT = 30.0  # seconds a check may take to hold after its step (a pod becoming Ready)
FIRST_POLL, LAST_POLL = 0.2, 2.0


@dataclass
class CheckTest:
    """One check on one host: what it said before and after its step, and the problem."""

    host: str
    step: Step
    kind: str
    before: Verdict | None = None
    after: Verdict | None = None
    problem: Text = ""
    note: Text = ""  # not tested, and why

    def where(self) -> str:
        """``playbooks/x.yml:12: explore[3] 'kubectl get pods' [host]``."""
        source = self.step.check.source if self.step.check else self.step.source
        return f"{source}: step '{self.step.name}' [{self.host}]"


@dataclass
class LabTestGate:
    """Judges each step's check before (must fail) and after (must pass) it runs."""

    runner: Runner | None = None
    tests: list[CheckTest] = field(default_factory=list)
    unchecked: list[Step] = field(default_factory=list)
    templates_dir: Path | None = None
    shims: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # host -> shims
    _pending: dict[str, CheckTest] = field(default_factory=dict)

    @property
    def registry(self) -> process.ProcessRegistry:
        """The run's processes (a check's command is one of them)."""
        assert self.runner is not None
        return self.runner.registry

    def before(self, step: Step, hosts: Sequence[HostState]) -> str | None:
        """The check must not hold yet; the step always runs."""
        if step.check is None:
            self.unchecked.append(step)
            return None
        self._pending = {}
        for state in hosts:
            test = CheckTest(state.plan.host.name, step, step.check.kind)
            self.tests.append(test)
            self._pending[test.host] = test
            try:
                probe, _ = self._probe(state, step, after=False)
            except LabError as exc:
                test.before = Verdict(False, exc.text)  # cannot even render: it cannot hold
                continue
            if probe.kind == "confirm":
                test.note = msg("a confirm check cannot be tested (the student presses Enter)")
                continue
            test.before = judge(probe, self.registry, ())
            self._emit(state, step, probe, test.before, "before")
            if test.before.passed:
                test.problem = msg(
                    "the check holds BEFORE the step ran ({check}), so it cannot tell whether "
                    "the student did the step",
                    check=probe.text,
                )
        return None

    def after(self, step: Step, results: Sequence[StepResult]) -> None:
        """The check must hold once the step ran (given a moment to settle)."""
        if step.check is None:
            return
        states = {state.plan.host.name: state for state in self._states()}
        for result in results:
            test = self._pending.get(result.host)
            if test is None or test.note:
                continue
            if result.status in ("failed", "skipped"):
                test.note = msg(
                    "not tested after: the step was {status} ({reason})",
                    status=msgp("status", result.status),
                    reason=result.message,
                )
                continue
            state = states[result.host]
            try:
                probe, typed = self._probe(state, step, after=True)
            except LabError as exc:
                test.problem = msg(
                    "the check cannot be rendered after the step: {error}", error=exc.text
                )
                continue
            test.after = self._settle(probe, typed)
            self._emit(state, step, probe, test.after, "after")
            if not test.after.passed and not test.problem:
                test.problem = msg(
                    "the check does not hold AFTER the step ran ({check}): {detail}",
                    check=probe.text,
                    detail=test.after.detail or msg("the check is false"),
                )

    def _states(self) -> list[HostState]:
        assert self.runner is not None
        return self.runner.states

    def _probe(self, state: HostState, step: Step, *, after: bool) -> tuple[Probe, str | None]:
        """The check for this host now, and the command a student types for the step."""
        variables = step_vars(state.plan, step, state.registered)
        assert self.runner is not None
        ctx = self.runner.context(state, tty=True, choose_port=process.choose_port)
        action = build(step, variables, ctx)
        scope = {**variables, **_service_port(action, step, state, after)}
        typed = typed_for(action, self.shims.get(state.plan.host.name, {}))
        own = typed.argv if typed else ()
        codes = typed.ok_codes if typed else (0,)
        probe = build_probe(step, scope, ctx, own_command=own, ok_codes=codes)
        return probe, typed_text(typed, "FILE") if typed else None

    def _settle(self, probe: Probe, typed: str | None) -> Verdict:
        """The check after its step: history against the step's own command, else polled."""
        if probe.kind == "history":
            return judge(probe, self.registry, [LoggedCommand(0, typed or "")])
        deadline = time.monotonic() + AFTER_TIMEOUT
        interval = FIRST_POLL
        while True:
            verdict = judge(probe, self.registry, ())
            if verdict.passed or time.monotonic() >= deadline:
                return verdict
            if self.registry.interrupted.wait(interval):
                return verdict
            interval = min(interval * 2, LAST_POLL)

    def _emit(
        self, state: HostState, step: Step, probe: Probe, verdict: Verdict, when: str
    ) -> None:
        assert self.runner is not None
        self.runner.emit(
            StepChecked(
                host=state.plan.host.name,
                phase=step.phase,
                step=step.name,
                check=probe.kind,
                passed=verdict.passed,
                how=when,
                detail=verdict.detail,
            )
        )

    def problems(self) -> list[CheckTest]:
        """The checks that failed their test."""
        return [test for test in self.tests if test.problem]


def _service_port(action: Action, step: Step, state: HostState, after: bool) -> dict[str, int]:
    """``port`` for a service step's check: after, the port the service got; before, a port
    nothing listens on (the service's preferred one may be another run's by then, and a check
    must fail while the service is not running)."""
    if not isinstance(action, StartService) or action.port is None:
        return {}
    if after and step.register:
        registered = state.registered.get(step.register) or {}
        if isinstance(registered, dict) and registered.get("port"):
            return {"port": int(registered["port"])}
    return {"port": action.port if after else process.free_port()}


def every_step_tags(playbooks_dir: Path, lab: str) -> str:
    """``--tags`` that select every step of a lab: ``all`` plus the tags of ``never`` steps."""
    from labtools.core.playbook import load_lab
    from labtools.core.project import lab_path

    steps = [
        step for phase in load_lab(lab_path(playbooks_dir, lab)).phases.values() for step in phase
    ]
    hidden = sorted({tag for s in steps if "never" in s.tags for tag in s.tags} - {"never"})
    return ",".join(["all", *hidden])


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m labtools.tutor.labtest --all-steps DIR``: ``LAB TAGS`` per lab (.ci/run)."""
    import sys

    from labtools.core.playbook import list_labs

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "--all-steps":
        raise SystemExit("usage: python -m labtools.tutor.labtest --all-steps PLAYBOOKS_DIR")
    directory = Path(args[1])
    for lab in list_labs(directory):
        print(lab, every_step_tags(directory, lab))


if __name__ == "__main__":
    main()
