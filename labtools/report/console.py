"""The console reporter (rich): a line per step and host, failures with their output, a recap."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from labtools.core.i18n import SOURCE_LANGUAGE, Translator, translator
from labtools.core.messages import Text, msg
from labtools.core.results import (
    Artifact,
    Event,
    HostRecap,
    Notice,
    PhaseStarted,
    RunEnded,
    RunStarted,
    ServiceStarted,
    ServiceStopped,
    StepEnded,
    StepOutput,
    StepProgress,
    StepResult,
    StepStarted,
)
from labtools.report.wrap import wrap

TAIL_LINES = 20
STDERR, STDOUT = "stderr", "stdout"  # i18n: not text (stream names, shown as they are)
SLOWEST = 5
STATUS_STYLE: Mapping[str, str] = {
    "ok": "green",  # i18n: not text (status -> rich style)
    "changed": "yellow",  # i18n: not text
    "failed": "bold red",  # i18n: not text
    "skipped": "cyan",  # i18n: not text
    "ignored": "magenta",  # i18n: not text
    "interrupted": "bold red",  # i18n: not text
}
IGNORED = "ignored"  # i18n: not text (the recap's key for an ignored failure)
INTERRUPTED = "interrupted"  # i18n: not text (the status key of a step Ctrl-C ended)
RECAP_COUNTS = ("ok", "changed", "failed", "skipped", "ignored")  # i18n: not text (HostRecap)
STATUS_WIDTH = 8  # terminal cells: a zh-TW status is three wide characters


def status_word(tr: Translator, status: str) -> str:
    """A status (``ok``, ``changed``, ``failed``, ``skipped``, ``ignored``) in the language."""
    words = {
        "ok": tr.pgettext("status", "ok"),
        "changed": tr.pgettext("status", "changed"),
        "failed": tr.pgettext("status", "failed"),
        "skipped": tr.pgettext("status", "skipped"),
        "ignored": tr.pgettext("status", "ignored"),
        "interrupted": tr.pgettext("status", "interrupted"),
    }
    return words.get(status, status)


def phase_name(tr: Translator, phase: str) -> str:
    """A phase (``setup``...) as the reader sees it: the task name, explained in zh-TW."""
    names = {
        "setup": tr.pgettext("phase", "setup"),
        "deploy": tr.pgettext("phase", "deploy"),
        "explore": tr.pgettext("phase", "explore"),
        "verify": tr.pgettext("phase", "verify"),
        "teardown": tr.pgettext("phase", "teardown"),
    }
    return names.get(phase, phase)


def fill_cells(text: str, width: int, fill: str = " ") -> str:
    """``text`` filled up to ``width`` terminal cells (CJK characters are two cells)."""
    from rich.cells import cell_len

    return text + fill * max(0, width - cell_len(text))


def use_color(file: IO[str]) -> bool:
    """Colour only on a terminal and when NO_COLOR is not set."""
    if os.getenv("NO_COLOR"):
        return False
    isatty = getattr(file, "isatty", None)
    return bool(isatty and isatty())


def format_duration(seconds: float) -> str:
    """``0.12s``, ``12.3s`` or ``2m05s``."""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def tail(text: str, lines: int | None = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text`` (all of them for None)."""
    kept = text.rstrip("\n").splitlines()
    return "\n".join(kept if lines is None else kept[-lines:])


class ConsoleReporter:
    """Human output; plain (no escape codes at all) when not a terminal or NO_COLOR is set."""

    def __init__(
        self,
        file: IO[str] | None = None,
        *,
        verbosity: int = 0,
        lang: str = SOURCE_LANGUAGE,
        color: bool | None = None,
    ) -> None:
        from rich.console import Console

        self.file = file if file is not None else sys.stdout
        self.color = use_color(self.file) if color is None else color
        self.verbosity = int(verbosity)
        self.verbose = self.verbosity >= 2  # live output lines
        self.lang = lang
        self.tr = translator(lang)
        self.console = Console(
            file=self.file,
            color_system="auto" if self.color else None,
            force_terminal=self.color,
            no_color=not self.color,
            highlight=False,
            emoji=False,
        )
        self.running: dict[tuple[str, str], float] = {}
        self.interactive: set[tuple[str, str]] = set()
        self.notes: dict[tuple[str, str], Text] = {}  # (host, step) -> "attempt 7/30"
        self.results: list[StepResult] = []
        self.recaps: Mapping[str, HostRecap] = {}
        self.artifacts: list[Artifact] = []
        self.hosts: tuple[str, ...] = ()
        self.run_dir = ""
        self._status: Any = None
        self._progress: Any = None
        self._progress_task: Any = None
        self._last_header: tuple[str | None, str | None] | None = None
        self._started = time.monotonic()

    # --- output helpers -------------------------------------------------------------------

    def _print(self, text: str, *, style: str | None = None) -> None:
        """One line, never interpreted as markup, never wrapped (commands stay copy-pasteable)."""
        self.console.print(text, style=style if self.color else None, markup=False, soft_wrap=True)

    def _text(self, text: Text | None) -> str:
        """A message (or plain text) in the run's language."""
        return self.tr.render(text)

    def _prose(self, text: Text, indent: str, *, style: str | None = None) -> None:
        """Explanations, reasons, hints: wrapped to the terminal, every line indented."""
        width = max(20, self.console.width)
        for line in wrap(self._text(text), width, indent):
            self._print(line, style=style)

    def _status_word(self, word: str) -> str:
        """A status padded to a column, coloured on a terminal."""
        padded = fill_cells(status_word(self.tr, word), STATUS_WIDTH)
        if not self.color:
            return padded
        from rich.markup import escape

        return f"[{STATUS_STYLE.get(word, 'white')}]{escape(padded)}[/]"

    # --- events ---------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Show one event."""
        match event:
            case RunStarted():
                self._run_started(event)
            case PhaseStarted():
                self._print("")
                header = self.tr.gettext("PHASE {phase}", phase=phase_name(self.tr, event.phase))
                self._print(fill_cells(header + " ", 60, "*"), style="bold")
            case StepStarted():
                self._step_started(event)
            case StepOutput():
                if self.verbose:
                    self._print(f"  [{event.host}] | {event.line}", style="dim")
            case StepProgress():
                self._show_progress(event)
            case StepEnded():
                self._step_ended(event)
            case ServiceStarted():
                port = self.tr.gettext("port {port}", port=event.port) if event.port else ""
                text = self.tr.gettext(
                    "service {name} started (pid {pid}) {where}",
                    name=event.name,
                    pid=event.pid,
                    where=event.url or port,
                )
                self._print(f"  {text}".rstrip())
            case ServiceStopped():
                self._print("  " + self.tr.gettext("service {name} stopped", name=event.name))
            case Notice():
                warning = self.tr.gettext("WARNING: {message}", message=self._text(event.message))
                self._prose(warning, "", style="yellow")
            case Artifact():
                self.artifacts.append(event)
            case RunEnded():
                self._run_ended(event)

    def _run_started(self, event: RunStarted) -> None:
        self.hosts = event.hosts
        self.run_dir = event.run_dir
        for banner in event.banners:
            self.banner(banner)
        line = self.tr.gettext(
            "LAB {lab} [{phases}] on {hosts}",
            lab=event.lab,
            phases=", ".join(event.phases),
            hosts=", ".join(event.hosts),
        )
        self._print(line)
        if self.verbosity >= 3:
            self._print(
                "  " + self.tr.gettext("run directory: {path}", path=event.run_dir), style="dim"
            )
            for host, provider in event.providers.items():
                text = self.tr.gettext(
                    "host {host}: provider {provider}", host=host, provider=provider
                )
                self._print(f"  {text}", style="dim")

    def _step_started(self, event: StepStarted) -> None:
        self.running[(event.host, event.step)] = time.monotonic()
        if event.interactive:
            # the step owns the terminal: no live display may draw over the user's prompt
            self.interactive.add((event.host, event.step))
            self._stop_progress()
            self._stop_spinner()
        if self.verbosity >= 1 and self._last_header != (event.phase, event.step):
            self._last_header = (event.phase, event.step)
            self._print(self.tr.gettext("STEP {step}", step=event.step), style="bold")
            text = event.explain.get(self.lang) or event.explain.get(SOURCE_LANGUAGE)
            if text:
                self._prose(text.strip(), "  ", style="dim")
        if self.verbosity >= 1 and event.display:
            self._print(f"  [{event.host}] $ {event.display}", style="dim")
        self._update_spinner()

    def _update_spinner(self) -> None:
        """A spinner naming the running steps (terminal only, never over an interactive step)."""
        if not self.color or self.interactive:
            return
        if not self.running:
            self._stop_spinner()
            return
        from rich.markup import escape

        shown = list(self.running)[:3]
        names = ", ".join(
            f"{step} [{host}]"
            + (f" {self._text(self.notes[(host, step)])}" if (host, step) in self.notes else "")
            for host, step in shown
        )
        if len(self.running) > len(shown):
            names += f", +{len(self.running) - len(shown)}"
        names = escape(names)  # `[host]` is text, not rich markup
        if self._status is None:
            self._status = self.console.status(names)
            self._status.start()
        else:
            self._status.update(names)

    def _show_progress(self, event: StepProgress) -> None:
        """A retry (``attempt 7/30``) or a fraction (minikube start) as it happens."""
        if event.fraction is None:
            if self.color:
                self.notes[(event.host, event.step)] = event.message
                self._update_spinner()
            else:
                self._print(
                    f"  [{event.host}] {event.step}: {self._text(event.message)}", style="dim"
                )
            return
        if not self.color:
            self._print(f"  [{event.host}] {event.fraction:4.0%} {self._text(event.message)}")
            return
        if self.interactive:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        if self._progress is None:
            self._stop_spinner()
            self._progress = Progress(
                TextColumn("{task.description}"),  # i18n: not text (rich's field)
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),  # i18n: not text
                TimeElapsedColumn(),
                console=self.console,
            )
            self._progress.start()
            self._progress_task = self._progress.add_task(event.step, total=1.0)
        self._progress.update(
            self._progress_task,
            completed=event.fraction,
            description=f"{event.step}: {self._text(event.message)}",
        )

    def _stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _step_ended(self, event: StepEnded) -> None:
        result = event.result
        key = (result.host, result.step)
        self.running.pop(key, None)
        self.interactive.discard(key)
        self.notes.pop(key, None)
        self._stop_progress()
        self._stop_spinner()
        self.results.append(result)
        self._print_result(result)
        self._update_spinner()

    def _print_result(self, result: StepResult) -> None:
        """The status line, then the reason / failure details / output (-v)."""
        word = INTERRUPTED if result.interrupted else IGNORED if result.ignored else result.status
        line = f"{result.step} [{result.host}] {format_duration(result.duration)}"
        if result.attempts > 1:
            attempts = self.tr.ngettext("{n} attempt", "{n} attempts", result.attempts)
            line += f" ({attempts})"
        if self.color:
            from rich.markup import escape

            self.console.print(f"{self._status_word(word)} {escape(line)}", highlight=False)
        else:
            self._print(f"{self._status_word(word)} {line}")
        if result.status == "skipped" and result.message:
            self._prose(result.message, " " * (STATUS_WIDTH + 1), style="dim")
        if result.status == "failed":
            self._print_failure(result)
        elif self.verbosity == 1 and result.stdout.strip():
            # -v: what the step printed, once it is done (-vv streams it live instead)
            for text in tail(result.stdout).splitlines():
                self._print(f"  [{result.host}] | {text}", style="dim")
        if self.verbosity >= 3:
            attempts = self.tr.ngettext("{n} attempt", "{n} attempts", result.attempts)
            details = self.tr.gettext("rc {rc}, {attempts}", rc=result.rc, attempts=attempts)
            self._print(" " * (STATUS_WIDTH + 1) + details, style="dim")

    def _print_failure(self, result: StepResult) -> None:
        """Command line, exit code and output tails of a failed step."""
        import shlex

        style = "red"  # i18n: not text (a rich style)
        if result.argv:
            command = self.tr.gettext("command: {command}", command=shlex.join(result.argv))
            self._print(f"  {command}", style=style)
        if result.rc is not None:
            self._print("  " + self.tr.gettext("exit code: {rc}", rc=result.rc), style=style)
        if result.message and result.message != msg("exit code {rc}", rc=result.rc):
            self._prose(result.message, "  ", style=style)
        lines = None if self.verbosity >= 3 else TAIL_LINES
        for stream, text in ((STDERR, result.stderr), (STDOUT, result.stdout)):
            if text.strip():
                self._print("  " + self._stream_header(stream, lines), style=style)
                for line in tail(text, lines).splitlines():
                    self._print(f"  {line}")

    def _stream_header(self, stream: str, lines: int | None) -> str:
        """``--- stderr (last 20 lines) ---``."""
        if lines is None:
            return self.tr.gettext("--- {stream} (all lines) ---", stream=stream)
        return self.tr.ngettext(
            "--- {stream} (last {n} line) ---",
            "--- {stream} (last {n} lines) ---",
            lines,
            stream=stream,
        )

    def banner(self, text: Text) -> None:
        """A loud notice before the run (e.g. provider auto fell back to the fake cluster)."""
        self._prose(text, "", style="bold black on yellow")

    def _run_ended(self, event: RunEnded) -> None:
        self._stop_progress()
        self._stop_spinner()
        self.recaps = event.recaps
        self._print_recap()
        self._print_slowest()
        self._print_artifacts()
        self._print_outcome(event)
        # an interrupted run says so once: the error tasks.py prints, naming what was stopped
        if event.run_dir:
            self._print(self.tr.gettext("run directory: {path}", path=event.run_dir))

    def final_line(self, text: Text) -> None:
        """The run's last line (where its report is)."""
        self._print(self._text(text))

    # --- recap ----------------------------------------------------------------------------

    def _print_recap(self) -> None:
        """A PLAY RECAP-like table per host."""
        from rich import box
        from rich.table import Table

        self._print("")
        table = Table(
            title=self.tr.gettext("RECAP"),
            box=box.SIMPLE if self.color else box.ASCII,
            title_justify="left",
        )
        table.add_column(self.tr.pgettext("recap", "host"), justify="left")
        for column in RECAP_COUNTS:
            table.add_column(status_word(self.tr, column), justify="right")
        table.add_column(self.tr.pgettext("recap", "time"), justify="right")
        for host, recap in self.recaps.items():
            table.add_row(
                host,
                *(str(getattr(recap, key)) for key in RECAP_COUNTS),
                format_duration(recap.duration),
            )
        self.console.print(table)

    def _print_slowest(self) -> None:
        """Every step's time, in run order (the slowest host's when several ran it)."""
        times: dict[tuple[str, str], list[float]] = {}
        for result in self.results:
            if result.status != "skipped":
                times.setdefault((result.phase, result.step), []).append(result.duration)
        if not times:
            return
        self._print(self.tr.gettext("STEP TIMES"))
        for (phase, step), durations in times.items():
            hosts = ""
            if len(durations) > 1:
                slowest = self.tr.gettext("slowest of {n} hosts", n=len(durations))
                hosts = f"  ({slowest})"
            self._print(f"  {format_duration(max(durations)):>8}  {phase}: {step}{hosts}")

    def _print_artifacts(self) -> None:
        """Where the files made for people are: kubeconfigs (one line per folder), diagnostics."""
        folders: dict[str, int] = {}
        for artifact in self.artifacts:
            if artifact.what == "kubeconfig":
                folder = os.path.dirname(artifact.path)
                folders[folder] = folders.get(folder, 0) + 1
        for folder, count in folders.items():
            linked = os.path.join(self.run_dir, "participants")  # i18n: not text (a folder name)
            if self.run_dir and os.path.realpath(linked) == os.path.realpath(folder):
                folder = linked  # runs/<run>/participants -> runs/participants
            line = self.tr.gettext(
                "participant kubeconfigs (mode 0600, {n} written): {folder}",
                n=count,
                folder=folder + os.sep,
            )
            self._print(line)
        for artifact in self.artifacts:
            if artifact.what == "diagnostics":
                if artifact.note:
                    line = self.tr.gettext(
                        "diagnostics of {host} ({reason}): {path}",
                        host=artifact.host,
                        reason=self._text(artifact.note),
                        path=artifact.path,
                    )
                else:
                    line = self.tr.gettext(
                        "diagnostics of {host}: {path}", host=artifact.host, path=artifact.path
                    )
                self._print(line, style="yellow")

    def _print_outcome(self, event: RunEnded) -> None:
        """The recap's last line: ``28/30 ready; lab-07 failed at '...' (ImagePullBackOff)``."""
        from labtools.report.outcome import outcome_line

        hosts = self.hosts or tuple(event.recaps)
        line = self._text(outcome_line(hosts, event.failures, event.unfinished))
        bad = event.failures or event.unfinished
        self._print(line, style="bold red" if bad else "bold green")

    def close(self) -> None:
        """Stop live displays."""
        self._stop_progress()
        self._stop_spinner()
