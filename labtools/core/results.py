"""What running produces: step results and the events reporters consume. Plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "changed", "failed", "skipped"]
STATUSES: tuple[Status, ...] = ("ok", "changed", "failed", "skipped")


@dataclass(frozen=True)
class StepResult:
    """The outcome of one step on one host."""

    host: str
    phase: str
    step: str
    status: Status
    duration: float = 0.0
    argv: tuple[str, ...] = ()  # masked when the step is no_log
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    attempts: int = 1
    message: str = ""  # why skipped / failed, in one line
    ignored: bool = False  # failed, but ignore_errors let the run go on
    registered: Mapping[str, Any] = field(default_factory=dict)
    no_log: bool = False


@dataclass(frozen=True)
class Event:
    """One thing that happened during a run; every reporter sees the same stream.

    kind is one of: run_start, phase_start, step_start, step_output, step_end, service_start,
    service_stop, warning, run_end.
    """

    kind: str
    time: float
    host: str | None = None
    phase: str | None = None
    step: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    result: StepResult | None = None


@dataclass
class HostRecap:
    """Counters per host, like Ansible's PLAY RECAP."""

    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    ignored: int = 0
    duration: float = 0.0

    def add(self, result: StepResult) -> None:
        """Count one result."""
        setattr(self, result.status, getattr(self, result.status) + 1)
        if result.ignored:
            self.ignored += 1
        self.duration += result.duration


@dataclass
class RunSummary:
    """The whole run: per-host recaps, every result, and where the run directory is."""

    run_dir: str
    recaps: dict[str, HostRecap] = field(default_factory=dict)
    results: list[StepResult] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> bool:
        """True when any host has a failed (and not ignored) step."""
        return any(r.status == "failed" and not r.ignored for r in self.results)
