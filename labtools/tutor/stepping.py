"""``--step`` for live demos, as ``ansible-playbook --step``: before each step, its explanation and
the exact command on each host, then ``Perform step 'kubectl get pods' (y/n/c)?``.

``y`` runs it, ``n`` skips it (on every host, recorded as skipped with the reason), ``c`` runs it
and every later step without asking. The runner asks once per step, in its main thread, while
no step runs: no spinner or progress bar is live while the question waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO

from labtools.core.errors import Interrupted, LabError
from labtools.core.i18n import Translator
from labtools.core.messages import Text, msg
from labtools.core.model import Step
from labtools.core.plan import step_vars
from labtools.core.preview import preview_step
from labtools.core.results import StepResult
from labtools.effects.runner import HostState
from labtools.tutor.text import pick

MAX_HOSTS_SHOWN = 5
SKIPPED = msg("skipped at the --step prompt")
# the answers, in every language (as ansible-playbook --step): i18n: not text
YES, NO, CONTINUE = ("y", "yes"), ("n", "no"), ("c", "continue")  # i18n: not text (answers)


class StepPrompt:
    """The runner's ``StepGate`` for ``--step``."""

    def __init__(
        self, inp: IO[str], out: IO[str], tr: Translator, templates_dir: Path | None
    ) -> None:
        self.inp = inp
        self.out = out
        self.tr = tr
        self.templates_dir = templates_dir
        self.asking = True

    def before(self, step: Step, hosts: Sequence[HostState]) -> Text | None:
        """Ask; None runs the step, a reason skips it."""
        if not self.asking:
            return None
        self._show(step, hosts)
        while True:
            answer = self._ask(step)
            if answer in YES:
                return None
            if answer in CONTINUE:
                self.asking = False
                return None
            if answer in NO:
                return SKIPPED
            self._write(
                self.tr.gettext(
                    "Answer y (run it), n (skip it) or c (run it and every step after it "
                    "without asking)."
                )
                + "\n"
            )

    def after(self, step: Step, results: Sequence[StepResult]) -> None:
        """Nothing to do after a step."""

    def _show(self, step: Step, hosts: Sequence[HostState]) -> None:
        """The step's name, explanation and command on each host (a few of them)."""
        lines = ["", self.tr.gettext("STEP {step}", step=step.name)]
        explanation = pick(step.explain, self.tr.lang)
        lines += [f"  {line}" for line in explanation.splitlines()]
        for state in hosts[:MAX_HOSTS_SHOWN]:
            lines.append(f"  [{state.plan.host.name}] $ {self._display(step, state)}")
        if len(hosts) > MAX_HOSTS_SHOWN:
            more = len(hosts) - MAX_HOSTS_SHOWN
            lines.append("  " + self.tr.gettext("...and {count} more hosts", count=more))
        self._write("\n".join(lines) + "\n")

    def _display(self, step: Step, state: HostState) -> str:
        """The command as it will run on this host, with what earlier steps registered."""
        variables = step_vars(state.plan, step, state.registered)
        try:
            planned = preview_step(
                step, variables, state.plan.host, state.provider, templates_dir=self.templates_dir
            )
        except LabError as exc:  # it fails the same way when it runs
            return f"({self.tr.render(exc.text)})"
        return planned.display

    def _ask(self, step: Step) -> str:
        """One answer, lower case; the input closing ends the run."""
        self._write(self.tr.gettext("Perform step '{step}' (y/n/c)? ", step=step.name))
        line = self.inp.readline()
        if not line:
            raise Interrupted(msg("--step: no answer (the input was closed)"))
        return line.strip().lower()

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
