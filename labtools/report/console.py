"""The console reporter (rich): a line per step and host, failures with their output, a recap."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from labtools.core.results import Event, StepResult

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


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


class ConsoleReporter:
    """Human output; plain (no escape codes at all) when not a terminal or NO_COLOR is set."""

    def __init__(
        self,
        file: IO[str] | None = None,
        *,
        verbose: bool = False,
        lang: str = "en",
        color: bool | None = None,
    ) -> None:
        from rich.console import Console

        self.file = file if file is not None else sys.stdout
        self.color = use_color(self.file) if color is None else color
        self.verbose = verbose
        self.lang = lang
        self.console = Console(
            file=self.file,
            color_system="auto" if self.color else None,
            force_terminal=self.color,
            no_color=not self.color,
            highlight=False,
            emoji=False,
            width=None if self.color else 100,
        )
        self.running: dict[tuple[str | None, str | None], float] = {}
        self.results: list[StepResult] = []
        self.recaps: Mapping[str, Any] = {}
        self._status: Any = None
        self._progress: Any = None
        self._progress_task: Any = None
        self._last_header: tuple[str | None, str | None] | None = None
        self._started = time.monotonic()

    # --- output helpers -------------------------------------------------------------------

    def _print(self, text: str, style: str | None = None) -> None:
        """One line, never interpreted as markup."""
        self.console.print(text, style=style if self.color else None, markup=False)

    def _status_word(self, word: str) -> str:
        """A status padded to a column, coloured on a terminal."""
        padded = f"{word:<8}"
        if not self.color:
            return padded
        from rich.markup import escape

        return f"[{STATUS_STYLE.get(word, 'white')}]{escape(padded)}[/]"

    # --- events ---------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Dispatch on the event kind."""
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event)

    def _on_run_start(self, event: Event) -> None:
        data = event.data
        hosts = ", ".join(data.get("hosts", []))
        mode = " (check mode: nothing runs)" if data.get("check") else ""
        self._print(f"LAB {data.get('lab')} [{', '.join(data.get('phases', []))}] on {hosts}{mode}")

    def _on_phase_start(self, event: Event) -> None:
        self._print("")
        self._print(f"PHASE {event.phase} ".ljust(60, "*"), "bold")

    def _on_step_start(self, event: Event) -> None:
        self.running[(event.host, event.step)] = time.monotonic()
        if self.verbose and self._last_header != (event.phase, event.step):
            self._last_header = (event.phase, event.step)
            self._print(f"STEP {event.step}", "bold")
            explain = event.data.get("explain") or {}
            text = explain.get(self.lang) or explain.get("en")
            if text:
                self._print(f"  {text.strip()}", "dim")
        if self.verbose and event.data.get("display"):
            self._print(f"  [{event.host}] $ {event.data['display']}", "dim")
        self._update_spinner()

    def _update_spinner(self) -> None:
        """A spinner naming the running steps (terminal only)."""
        if not self.color:
            return
        if not self.running:
            if self._status is not None:
                self._status.stop()
                self._status = None
            return
        names = ", ".join(f"{step} [{host}]" for host, step in list(self.running)[:3])
        if self._status is None:
            self._status = self.console.status(names)
            self._status.start()
        else:
            self._status.update(names)

    def _on_step_output(self, event: Event) -> None:
        data = event.data
        if "progress" in data:
            self._show_progress(float(data["progress"]), str(data.get("message", "")), event)
        elif self.verbose and "line" in data:
            self._print(f"  [{event.host}] | {data['line']}", "dim")

    def _show_progress(self, fraction: float, message: str, event: Event) -> None:
        """A progress bar with elapsed time (terminal) or a percentage line (plain)."""
        if not self.color:
            self._print(f"  [{event.host}] {fraction:4.0%} {message}")
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
            self._progress_task = self._progress.add_task(str(event.step), total=1.0)
        self._progress.update(
            self._progress_task, completed=fraction, description=f"{event.step}: {message}"
        )

    def _stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _on_step_end(self, event: Event) -> None:
        result = event.result
        if result is None:
            return
        self.running.pop((event.host, event.step), None)
        self._stop_progress()
        self._stop_spinner()
        self.results.append(result)
        self._print_result(result)
        self._update_spinner()

    def _print_result(self, result: StepResult) -> None:
        """The status line, then the reason / failure details."""
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
        for name, text in (("stderr", result.stderr), ("stdout", result.stdout)):
            if text.strip():
                self._print(f"  --- {name} (last {TAIL_LINES} lines) ---", style)
                for line in tail(text).splitlines():
                    self._print(f"  {line}")

    def _on_service_start(self, event: Event) -> None:
        data = event.data
        where = data.get("url") or (f"port {data['port']}" if data.get("port") else "")
        self._print(
            f"  service {data.get('name')} started (pid {data.get('pid')}) {where}".rstrip()
        )

    def _on_service_stop(self, event: Event) -> None:
        self._print(f"  service {event.data.get('name')} stopped")

    def banner(self, text: str) -> None:
        """A loud notice before the run (e.g. provider auto fell back to the fake cluster)."""
        self._print(text, "bold black on yellow")

    def _on_warning(self, event: Event) -> None:
        self._print(f"WARNING: {event.data.get('message', '')}", "yellow")

    def _on_run_end(self, event: Event) -> None:
        self._stop_progress()
        self._stop_spinner()
        self.recaps = event.data.get("recaps", {})
        self._print_recap()
        self._print_slowest()
        if event.data.get("interrupted"):
            self._print("INTERRUPTED: every process the run started was stopped", "bold red")

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
                *(str(recap.get(key, 0)) for key in ("ok", "changed", "failed", "skipped")),
                str(recap.get("ignored", 0)),
                format_duration(float(recap.get("duration", 0.0))),
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
