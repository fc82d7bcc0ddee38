"""What the tutor prints: the intro (how the student's kubectl reaches the lab), each exercise,
hints, solutions, progress; and the reporter that shows the runs the tutor makes itself."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from labtools.core.i18n import Translator
from labtools.core.messages import Text
from labtools.core.model import HostPlan, Step
from labtools.core.results import (
    Event,
    Notice,
    PhaseStarted,
    RunEnded,
    RunStarted,
    StepChecked,
    StepResult,
)
from labtools.report.console import ConsoleReporter, fill_cells, phase_name, tail
from labtools.tutor.text import pick

if TYPE_CHECKING:
    from labtools.core.checks import Probe
    from labtools.tutor.session import Exercise

INDENT = "  "


class TutorReporter:
    """The console reporter for the steps the tutor runs (solutions, automatic steps), quiet
    about what the tutor says itself (run start and recap, phases) and mutable while it reads a
    value the student already produced."""

    def __init__(self, console: ConsoleReporter) -> None:
        self.console = console
        self.muted = False

    def handle(self, event: Event) -> None:
        """Pass step events on; banners and warnings always."""
        match event:
            case RunStarted():
                for banner in event.banners:
                    self.console.banner(banner)
            case Notice():
                self.console.handle(event)
            case PhaseStarted() | RunEnded() | StepChecked():
                pass
            case _:
                if not self.muted:
                    self.console.handle(event)

    def close(self) -> None:
        """Stop live displays."""
        self.console.close()


class TutorView:
    """The tutor's own lines, in the student's language."""

    def __init__(
        self, out: IO[str], tr: Translator, reporter: TutorReporter, shell_task: str
    ) -> None:
        self.out = out
        self.tr = tr
        self.reporter = reporter
        self.shell_task = shell_task
        self._console = reporter.console

    def _line(self, text: str = "", style: str | None = None) -> None:
        self._console._print(text, style=style)

    def _indented(self, text: Text, style: str | None = None) -> None:
        """Prose (explanations, hints), wrapped to the terminal with its indent kept."""
        for paragraph in self.tr.render(text).strip().splitlines():
            self._console._prose(paragraph.rstrip(), INDENT, style=style)

    # --- the session ------------------------------------------------------------------------

    def intro(self, host_plan: HostPlan, done: int, total: int, export: str | None) -> None:
        """Who is taught what, how their kubectl reaches the lab, and the keys."""
        _ = self.tr.gettext
        host = host_plan.host
        lab = host_plan.vars.get("lab_name", "")  # i18n: not text (a variable's name)
        provider = host_plan.vars.get("provider", host.provider)  # i18n: not text (as above)
        self._line(
            _(
                "TUTOR {lab} on host {host} (provider {provider}): {done}/{total} done",
                lab=lab,
                host=host.name,
                provider=provider,
                done=done,
                total=total,
            ),
            style="bold",
        )
        if export:
            self._line(_("Your kubectl reaches the lab once this line ran in your terminal:"))
            self._line(f"{INDENT}{export}")
        else:
            self._line(_("Your kubectl reaches the lab as it is (it runs with --context)."))
        self._line(_("Or open a shell with everything set, where the tutor sees what you run:"))
        self._line(f"{INDENT}{self.shell_task}")
        self.keys_help()

    def keys_help(self) -> None:
        """The keys the tutor answers."""
        self._line(
            self.tr.gettext(
                "Keys: h hint, s solve it for me, q quit (resume later), Enter check now"
            ),
            style="dim",
        )

    def phase(self, phase: str) -> None:
        """A phase begins."""
        self._line("")
        header = self.tr.gettext("PHASE {phase}", phase=phase_name(self.tr, phase))
        self._line(fill_cells(header + " ", 60, "*"), style="bold")

    def exercise(self, exercise: Exercise, done: int, total: int) -> None:
        """The step: number, name, explanation, the command to type, how it is checked."""
        _ = self.tr.gettext
        step = exercise.step
        self._line("")
        self._line(f"[{exercise.number}/{total}] {step.name}", style="bold")
        explanation = pick(step.explain, self.tr.lang)
        if explanation:
            self._indented(explanation)
        if exercise.command is None:
            self._line(INDENT + _("The tutor does this step itself."), style="dim")
            return
        self._line(f"{INDENT}$ {exercise.command}", style="bold cyan")
        if exercise.typed is not None and exercise.typed.keeps_running:
            self._line(
                INDENT
                + _(
                    "It keeps running: start it in a second terminal (`{shell}`) and leave it.",
                    shell=self.shell_task,
                ),
                style="yellow",
            )
        self._line(f"{INDENT}{self._checked_by(exercise.probe)}", style="dim")

    def _checked_by(self, probe: Probe) -> str:
        _ = self.tr.gettext
        if probe.kind == "history":
            return _(
                "Checked: you run it in `{shell}` (or press Enter when done).",
                shell=self.shell_task,
            )
        if probe.kind == "confirm":
            return _("Press Enter when it is done.")
        return _("Checked: {what}", what=probe.text)

    def passed(
        self,
        exercise: Exercise,
        done: int,
        total: int,
        how: str = "student",  # i18n: not text (who did it: student, solution, automatic)
    ) -> None:
        """The step is done."""
        _ = self.tr.gettext
        if how == "solution":
            text = _("Done by the tutor ({done}/{total} done).", done=done, total=total)
        elif how == "automatic":
            text = _("Done ({done}/{total} done).", done=done, total=total)
        else:
            text = _("Passed ({done}/{total} done).", done=done, total=total)
        self._line(f"{INDENT}✔ {text}", style="green")

    def not_yet(self, detail: Text, probe: Probe | None = None) -> None:
        """Why the check does not hold yet."""
        _ = self.tr.gettext
        if probe is not None and probe.kind == "history" and detail == "not run yet":
            self._line(
                INDENT
                + _(
                    "Not seen yet: run it in `{shell}`, or press s and the tutor runs it.",
                    shell=self.shell_task,
                ),
                style="yellow",
            )
            return
        lines = self.tr.render(detail).splitlines()
        self._line(
            INDENT + _("Not yet: {detail}", detail=lines[0] if lines else ""), style="yellow"
        )
        for line in lines[1:]:
            self._line(f"{INDENT}  {line}", style="yellow")

    def typing_here(self) -> None:
        """Someone typed a command into the tutor's window."""
        self._line(
            INDENT
            + self.tr.gettext(
                "This window is the tutor: type the commands in your own terminal or in `{shell}`.",
                shell=self.shell_task,
            ),
            style="yellow",
        )

    def hint(self, step: Step) -> None:
        """``h``: the step's hint in the student's language."""
        text = pick(step.hint, self.tr.lang)
        _ = self.tr.gettext
        if text:
            self._indented(_("Hint: {text}", text=text), style="magenta")
        else:
            self._line(INDENT + _("No hint for this step: press s and the tutor does it."))

    def solution(self, exercise: Exercise) -> None:
        """``s``: the solution text, then the tutor runs the step."""
        _ = self.tr.gettext
        text = pick(exercise.step.solution, self.tr.lang)
        if text:
            self._indented(_("Solution: {text}", text=text), style="magenta")
        self._line(INDENT + _("The tutor runs it for you:"), style="dim")

    def output(self, result: StepResult, lines: int) -> None:
        """The last lines a step the tutor ran printed (its status line came from the console)."""
        if result.status != "failed" and result.stdout.strip():
            for line in tail(result.stdout, lines).splitlines():
                self._line(f"{INDENT}| {line}", style="dim")

    def solution_failed(self) -> None:
        """The tutor's own run of the step failed."""
        self._line(
            INDENT
            + self.tr.gettext(
                "That did not work (see above): fix it and run it yourself, s tries again."
            ),
            style="red",
        )

    def registered(self, name: str, result: StepResult) -> None:
        """The value a step the student ran registered (``POD_NAME = ...``)."""
        value = result.stdout.strip().splitlines()
        shown = value[0] if len(value) == 1 else f"{value[0]} (+{len(value) - 1})" if value else ""
        self._line(f"{INDENT}{name} = {shown}", style="dim")

    def restarting(self, step: Step) -> None:
        """A service the tutor started in an earlier session starts again."""
        self._line(
            self.tr.gettext(
                "The tutor starts '{step}' again (it ran it for you before).", step=step.name
            ),
            style="dim",
        )

    def quit(self, done: int, total: int) -> None:
        """The student quits: where to resume."""
        self._line("")
        self._line(
            self.tr.gettext(
                "Progress saved: {done}/{total} done. `invoke lab.tutor` goes on from here "
                "(--reset starts over).",
                done=done,
                total=total,
            ),
            style="bold",
        )

    def finished(self, done: int, total: int) -> None:
        """Every step is done."""
        self._line("")
        self._line(
            self.tr.gettext(
                "All {total} steps done. `invoke lab.verify` checks the whole lab; "
                "`invoke lab.down` removes it.",
                total=total,
            ),
            style="bold green",
        )

    def cannot_show(self, step: Step, number: int, total: int, error: str) -> None:
        """A step that cannot be rendered for this participant (s tries to run it, q quits)."""
        self._line("")
        self._line(f"[{number}/{total}] {step.name}", style="bold")
        self._indented(
            self.tr.gettext("This step cannot be shown yet: {error}", error=error), style="red"
        )
        self.keys_help()

    @contextlib.contextmanager
    def muted(self) -> Iterator[None]:
        """The runs the tutor makes to read a value the student produced are not shown."""
        self.reporter.muted = True
        try:
            yield
        finally:
            self.reporter.muted = False
