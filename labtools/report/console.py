"""The console reporter (rich): a line per step and host, failures with their output, a recap."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from labtools.core.results import (
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

TAIL_LINES = 20
SLOWEST = 5
STATUS_STYLE: Mapping[str, str] = {
    "ok": "green",
    "changed": "yellow",
    "failed": "bold red",
    "skipped": "cyan",
    "ignored": "magenta",
}


def use_color(file: IO[str]) -> bool:
    """Colour only on a terminal and when NO_COLOR is not set."""
    if os.environ.get("NO_COLOR"):
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
        lang: str = "en",
        color: bool | None = None,
    ) -> None:
        from rich.console import Console

        self.file = file if file is not None else sys.stdout
        self.color = use_color(self.file) if color is None else color
        self.verbosity = int(verbosity)
        self.verbose = self.verbosity >= 2  # live output lines
        self.lang = lang
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
        self.results: list[StepResult] = []
        self.recaps: Mapping[str, HostRecap] = {}
        self._status: Any = None
        self._progress: Any = None
        self._progress_task: Any = None
        self._last_header: tuple[str | None, str | None] | None = None
        self._started = time.monotonic()

    # --- output helpers -------------------------------------------------------------------

    def _print(self, text: str, style: str | None = None) -> None:
        """One line, never interpreted as markup, never wrapped (commands stay copy-pasteable)."""
        self.console.print(text, style=style if self.color else None, markup=False, soft_wrap=True)

    def _status_word(self, word: str) -> str:
        """A status padded to a column, coloured on a terminal."""
        padded = f"{word:<8}"
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
                self._print(f"PHASE {event.phase} ".ljust(60, "*"), "bold")
            case StepStarted():
                self._step_started(event)
            case StepOutput():
                if self.verbose:
                    self._print(f"  [{event.host}] | {event.line}", "dim")
            case StepProgress():
                self._show_progress(event)
            case StepEnded():
                self._step_ended(event)
            case ServiceStarted():
                where = event.url or (f"port {event.port}" if event.port else "")
                text = f"  service {event.name} started (pid {event.pid}) {where}"
                self._print(text.rstrip())
            case ServiceStopped():
                self._print(f"  service {event.name} stopped")
            case Notice():
                self._print(f"WARNING: {event.message}", "yellow")
            case RunEnded():
                self._run_ended(event)

    def _run_started(self, event: RunStarted) -> None:
        for banner in event.banners:
            self.banner(banner)
        hosts = ", ".join(event.hosts)
        self._print(f"LAB {event.lab} [{', '.join(event.phases)}] on {hosts}")
        if self.verbosity >= 3:
            self._print(f"  run directory: {event.run_dir}", "dim")
            for host, provider in event.providers.items():
                self._print(f"  host {host}: provider {provider}", "dim")

    def _step_started(self, event: StepStarted) -> None:
        self.running[(event.host, event.step)] = time.monotonic()
        if event.interactive:
            # the step owns the terminal: no live display may draw over the user's prompt
            self.interactive.add((event.host, event.step))
            self._stop_progress()
            self._stop_spinner()
        if self.verbosity >= 1 and self._last_header != (event.phase, event.step):
            self._last_header = (event.phase, event.step)
            self._print(f"STEP {event.step}", "bold")
            text = event.explain.get(self.lang) or event.explain.get("en")
            if text:
                self._print(f"  {text.strip()}", "dim")
        if self.verbosity >= 1 and event.display:
            self._print(f"  [{event.host}] $ {event.display}", "dim")
        self._update_spinner()

    def _update_spinner(self, note: str = "") -> None:
        """A spinner naming the running steps (terminal only, never over an interactive step)."""
        if not self.color or self.interactive:
            return
        if not self.running:
            self._stop_spinner()
            return
        names = ", ".join(f"{step} [{host}]" for host, step in list(self.running)[:3])
        names += f" ({note})" if note else ""
        if self._status is None:
            self._status = self.console.status(names)
            self._status.start()
        else:
            self._status.update(names)

    def _show_progress(self, event: StepProgress) -> None:
        """A retry (``attempt 7/30``) or a fraction (minikube start) as it happens."""
        if event.fraction is None:
            if self.color:
                self._update_spinner(event.message)
            else:
                self._print(f"  [{event.host}] {event.step}: {event.message}", "dim")
            return
        if not self.color:
            self._print(f"  [{event.host}] {event.fraction:4.0%} {event.message}")
            return
        if self.interactive:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        if self._progress is None:
            self._stop_spinner()
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self._progress.start()
            self._progress_task = self._progress.add_task(event.step, total=1.0)
        self._progress.update(
            self._progress_task,
            completed=event.fraction,
            description=f"{event.step}: {event.message}",
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
        self._stop_progress()
        self._stop_spinner()
        self.results.append(result)
        self._print_result(result)
        self._update_spinner()

    def _print_result(self, result: StepResult) -> None:
        """The status line, then the reason / failure details / output (-v)."""
        word = "ignored" if result.ignored else result.status
        line = f"{result.step} [{result.host}] {format_duration(result.duration)}"
        if result.attempts > 1:
            line += f" ({result.attempts} attempts)"
        if self.color:
            from rich.markup import escape

            self.console.print(f"{self._status_word(word)} {escape(line)}", highlight=False)
        else:
            self._print(f"{self._status_word(word)} {line}")
        if result.status == "skipped" and result.message:
            self._print(f"         {result.message}", "dim")
        if result.status == "failed":
            self._print_failure(result)
        elif self.verbosity == 1 and result.stdout.strip():
            # -v: what the step printed, once it is done (-vv streams it live instead)
            for text in tail(result.stdout).splitlines():
                self._print(f"  [{result.host}] | {text}", "dim")
        if self.verbosity >= 3:
            self._print(f"         rc {result.rc}, {result.attempts} attempt(s)", "dim")

    def _print_failure(self, result: StepResult) -> None:
        """Command line, exit code and output tails of a failed step."""
        import shlex

        style = "red"
        if result.argv:
            self._print(f"  command: {shlex.join(result.argv)}", style)
        if result.rc is not None:
            self._print(f"  exit code: {result.rc}", style)
        if result.message and result.message != f"exit code {result.rc}":
            for line in result.message.splitlines():
                self._print(f"  {line}", style)
        lines = None if self.verbosity >= 3 else TAIL_LINES
        for name, text in (("stderr", result.stderr), ("stdout", result.stdout)):
            if text.strip():
                what = "all lines" if lines is None else f"last {lines} lines"
                self._print(f"  --- {name} ({what}) ---", style)
                for line in tail(text, lines).splitlines():
                    self._print(f"  {line}")

    def banner(self, text: str) -> None:
        """A loud notice before the run (e.g. provider auto fell back to the fake cluster)."""
        self._print(text, "bold black on yellow")

    def _run_ended(self, event: RunEnded) -> None:
        self._stop_progress()
        self._stop_spinner()
        self.recaps = event.recaps
        self._print_recap()
        self._print_slowest()
        if event.interrupted:
            self._print("INTERRUPTED: every process the run started was stopped", "bold red")
        if event.run_dir:
            self._print(f"run directory: {event.run_dir}")

    # --- recap ----------------------------------------------------------------------------

    def _print_recap(self) -> None:
        """A PLAY RECAP-like table per host."""
        from rich import box
        from rich.table import Table

        self._print("")
        table = Table(
            title="RECAP", box=box.SIMPLE if self.color else box.ASCII, title_justify="left"
        )
        for column in ("host", "ok", "changed", "failed", "skipped", "ignored", "time"):
            table.add_column(column, justify="left" if column == "host" else "right")
        for host, recap in self.recaps.items():
            table.add_row(
                host,
                *(str(getattr(recap, key)) for key in ("ok", "changed", "failed", "skipped")),
                str(recap.ignored),
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
        self._print("STEP TIMES")
        for (phase, step), durations in times.items():
            hosts = f"  (slowest of {len(durations)} hosts)" if len(durations) > 1 else ""
            self._print(f"  {format_duration(max(durations)):>8}  {phase}: {step}{hosts}")

    def close(self) -> None:
        """Stop live displays."""
        self._stop_progress()
        self._stop_spinner()
