"""What running produces: one ``Output`` per execution, one ``StepResult`` per step, and the typed
events every reporter consumes. Plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from labtools.core.messages import Text

Status = Literal["ok", "changed", "failed", "skipped"]
STATUSES: tuple[Status, ...] = ("ok", "changed", "failed", "skipped")


@dataclass(frozen=True)
class Output:
    """What one execution produced: a command, a probe, a service start, an HTTP request.

    ``changed``/``failed``/``skipped`` are the action's own verdict, before the step's
    ``changed_when``/``failed_when`` have their say; ``extra`` holds what an action adds to the
    registered value (a service's url, port and pid; an HTTP status).
    """

    rc: int | None = 0
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    timed_out: bool = False
    changed: bool = True
    failed: bool = False
    skipped: bool = False
    message: Text = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    exit_code: int = 1  # when failed: what the failure means for the run (3 provider, 4 service)


@dataclass(frozen=True)
class StepResult:
    """The record of one step on one host: what the journal, JUnit, reports and handouts read."""

    host: str
    phase: str
    step: str
    status: Status
    duration: float = 0.0  # the whole step: every attempt and the delays between them
    argv: tuple[str, ...] = ()  # masked when the step is no_log
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    attempts: int = 1
    message: Text = ""  # why skipped / failed, in one line (a catalogue message or raw text)
    ignored: bool = False  # failed, but ignore_errors let the run go on
    registered: Mapping[str, Any] = field(default_factory=dict)
    no_log: bool = False
    display: str = ""  # the command line as lab.plan shows it (masked when no_log)
    started: float = 0.0  # wall-clock start (time.time())
    interrupted: bool = False  # Ctrl-C (or SIGTERM) ended it: failed, and not finished
    exit_code: int = 1  # when failed: the run's exit code it implies (1; 3 provider, 4 service)


# ---------------------------------------------------------------------------- events


@dataclass(frozen=True)
class RunStarted:
    """A run begins: the lab, phases, hosts (with their resolved providers) and run directory."""

    kind: ClassVar[str] = "run_start"
    lab: str
    phases: tuple[str, ...]
    hosts: tuple[str, ...]
    run_dir: str
    providers: Mapping[str, str] = field(default_factory=dict)  # host -> provider
    banners: tuple[Text, ...] = ()  # e.g. provider auto fell back to the fake cluster
    verbosity: int = 0
    time: float = 0.0


@dataclass(frozen=True)
class PhaseStarted:
    """The first step of a phase is about to run."""

    kind: ClassVar[str] = "phase_start"
    phase: str
    time: float = 0.0


@dataclass(frozen=True)
class StepStarted:
    """A step starts on a host: what it will run and what it means."""

    kind: ClassVar[str] = "step_start"
    host: str
    phase: str
    step: str
    action: str
    display: str = ""
    explain: Mapping[str, str] = field(default_factory=dict)
    no_log: bool = False
    interactive: bool = False  # the step owns the terminal while it runs: pause live displays
    time: float = 0.0


@dataclass(frozen=True)
class StepOutput:
    """One line a running step printed (verbose runs only; never for no_log steps)."""

    kind: ClassVar[str] = "step_output"
    host: str
    phase: str
    step: str
    stream: str
    line: str
    time: float = 0.0


@dataclass(frozen=True)
class StepProgress:
    """Progress of a running step: a fraction (minikube start) or a retry (attempt 7/30)."""

    kind: ClassVar[str] = "step_progress"
    host: str
    phase: str
    step: str
    message: Text = ""
    fraction: float | None = None
    attempt: int | None = None
    attempts: int | None = None
    time: float = 0.0


@dataclass(frozen=True)
class StepEnded:
    """A step finished on a host."""

    kind: ClassVar[str] = "step_end"
    result: StepResult
    time: float = 0.0

    @property
    def host(self) -> str:
        """The host the step ran on."""
        return self.result.host

    @property
    def step(self) -> str:
        """The step's name."""
        return self.result.step


@dataclass(frozen=True)
class StepChecked:
    """A step's ``check:`` was judged on a host: in tutor mode (``how``: ``student`` did it, the
    tutor ran the ``solution``, or did an ``automatic`` step), or by ``lab.test`` (``before`` /
    ``after`` the step ran)."""

    kind: ClassVar[str] = "step_check"
    host: str
    phase: str
    step: str
    check: str  # the check's kind: kubectl, history, testinfra, ...
    passed: bool
    how: str = ""
    detail: Text = ""  # what the check saw (why it does not hold yet)
    time: float = 0.0


@dataclass(frozen=True)
class ServiceStarted:
    """A background service became ready."""

    kind: ClassVar[str] = "service_start"
    host: str
    step: str
    name: str
    pid: int | None = None
    port: int | None = None
    url: str | None = None
    time: float = 0.0


@dataclass(frozen=True)
class ServiceStopped:
    """A background service was stopped (end of run, failure or Ctrl-C)."""

    kind: ClassVar[str] = "service_stop"
    name: str
    pid: int | None = None
    port: int | None = None
    url: str | None = None
    time: float = 0.0


@dataclass(frozen=True)
class Notice:
    """A warning for the user (a reporter disabled, a provider fallback)."""

    kind: ClassVar[str] = "warning"
    message: Text
    host: str | None = None
    time: float = 0.0


@dataclass(frozen=True)
class Artifact:
    """The run wrote a file for someone to use: a participant's kubeconfig, diagnostics, cards."""

    kind: ClassVar[str] = "artifact"
    what: str  # "kubeconfig", "diagnostics", "cards"
    path: str
    host: str | None = None
    note: Text = ""  # "mode 0600", "ImagePullBackOff"
    time: float = 0.0


@dataclass(frozen=True)
class HostFailure:
    """Why a host was dropped from a run: the step, a short reason, where its diagnostics are."""

    host: str
    phase: str
    step: str
    reason: Text  # "ImagePullBackOff", the step's message or the last line of its stderr
    diagnostics: str = ""  # the folder with the host's diagnostics, "" when none were taken
    interrupted: bool = False  # Ctrl-C (or SIGTERM) ended its step: not the host's fault


@dataclass(frozen=True)
class RunEnded:
    """The run is over: the recap per host and, per failed host, why it was dropped."""

    kind: ClassVar[str] = "run_end"
    recaps: Mapping[str, HostRecap]
    failed: bool = False
    interrupted: bool = False
    run_dir: str = ""
    failures: tuple[HostFailure, ...] = ()
    unfinished: tuple[str, ...] = ()  # hosts an interrupted run stopped before their last step
    time: float = 0.0


Event = (
    RunStarted
    | PhaseStarted
    | StepStarted
    | StepOutput
    | StepProgress
    | StepEnded
    | StepChecked
    | ServiceStarted
    | ServiceStopped
    | Notice
    | Artifact
    | RunEnded
)


@dataclass
class HostRecap:
    """Counters per host, like Ansible's PLAY RECAP: ``ok`` counts ``changed`` steps too."""

    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    ignored: int = 0
    duration: float = 0.0

    def add(self, result: StepResult) -> None:
        """Count one result the way Ansible's stats do (an ignored failure is ok + ignored)."""
        self.duration += result.duration  # an interrupted step counts as failed
        if result.status == "skipped":
            self.skipped += 1
        elif result.status == "failed" and not result.ignored:
            self.failed += 1
        else:
            self.ok += 1
            self.changed += result.status == "changed"
            self.ignored += result.ignored


@dataclass
class RunSummary:
    """The whole run: per-host recaps, every result, and where the run directory is."""

    run_dir: str
    recaps: dict[str, HostRecap] = field(default_factory=dict)
    results: list[StepResult] = field(default_factory=list)
    interrupted: bool = False
    failures: dict[str, HostFailure] = field(default_factory=dict)  # host -> why it was dropped

    @property
    def failed(self) -> bool:
        """True when any host has a failed (and not ignored) step."""
        return any(r.status == "failed" and not r.ignored for r in self.results)
