"""One run as data, folded from its events: what the HTML report and the handouts show.

The events are the run's one record: at the end of a run the report reporter folds the events it
was sent, and ``read_run`` folds the same events back from ``journal.jsonl`` for an older run.
Nothing here re-derives what the runner knew: every status, time and output is the runner's.
The verify checks' JUnit files (``verify-<host>.xml``) add the state the checks proved.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from labtools.core.errors import ConfigError
from labtools.core.messages import Text, msg
from labtools.core.results import (
    Event,
    HostRecap,
    Notice,
    RunEnded,
    RunStarted,
    ServiceStarted,
    StepEnded,
    StepStarted,
)

JOURNAL = "journal.jsonl"


def verify_junit(host: str) -> str:
    """The file the verify step writes for a host (``labtools.core.actions``)."""
    return f"verify-{host}.xml"  # i18n: not text (a file name)


Mask = Callable[[str], str]


@dataclass(frozen=True)
class Check:
    """One check of the lab's verify step on a host, as its JUnit file has it."""

    name: str
    status: str  # passed, failed, skipped
    message: str = ""
    time: float = 0.0


@dataclass
class RunRecord:
    """Everything a report of one run shows."""

    run_dir: Path
    lab: str = ""
    phases: tuple[str, ...] = ()
    hosts: list[str] = field(default_factory=list)
    providers: dict[str, str] = field(default_factory=dict)
    banners: tuple[Text, ...] = ()
    started: float = 0.0
    ended: float = 0.0
    results: list[StepEnded] = field(default_factory=list)
    explain: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    recaps: dict[str, HostRecap] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    services: list[ServiceStarted] = field(default_factory=list)
    interrupted: bool = False
    finished: bool = False  # False: the journal ends before run_end (a run cut short)

    def host_results(self, host: str) -> list[StepEnded]:
        """The steps of one host, in the order they ended."""
        return [event for event in self.results if event.result.host == host]

    @property
    def failed(self) -> bool:
        """True when a step failed (and was not ignored)."""
        return any(e.result.status == "failed" and not e.result.ignored for e in self.results)

    def checks(self, host: str, mask: Mask | None = None) -> list[Check]:
        """The verify checks of a host (empty without a verify step).

        pytest wrote these files, not the journal: their failure messages are shown only
        through ``mask`` (the run's redactor), and left out when there is none.
        """
        checks = read_checks(self.run_dir / verify_junit(host))
        return [replace(c, message=mask(c.message) if mask else "") for c in checks]


def fold(run_dir: Path, events: Iterable[Event]) -> RunRecord:
    """The record of a run from its events, in order."""
    record = RunRecord(run_dir=Path(run_dir))
    for event in events:
        _add(record, event)
    for host in record.hosts:  # a run cut short has no recap: count what did end
        if host not in record.recaps:
            recap = HostRecap(host)
            for ended in record.host_results(host):
                recap.add(ended.result)
            record.recaps[host] = recap
    return record


def _add(record: RunRecord, event: Event) -> None:
    match event:
        case RunStarted():
            record.lab, record.phases = event.lab, tuple(event.phases)
            record.hosts = list(event.hosts)
            record.providers = dict(event.providers)
            record.banners = tuple(event.banners)
            record.started = event.time
        case StepStarted():
            record.explain[(event.phase, event.step)] = dict(event.explain)
        case StepEnded():
            record.results.append(event)
            if event.result.host not in record.hosts:
                record.hosts.append(event.result.host)
        case ServiceStarted():
            record.services.append(event)
        case Notice():
            record.notices.append(event)
        case RunEnded():
            record.recaps = dict(event.recaps)
            record.interrupted = event.interrupted
            record.ended = event.time
            record.finished = True
    record.ended = max(record.ended, event.time)


def read_run(run_dir: Path) -> RunRecord:
    """The record of an older run, from its journal."""
    from labtools.report.journal import read_events

    journal = Path(run_dir) / JOURNAL
    if not journal.is_file():
        raise ConfigError(
            msg("no journal in {folder}: not a run directory", folder=run_dir),
            hint=msg("runs are under runs/ (the newest is runs/latest)"),
        )
    return fold(Path(run_dir), read_events(journal))


def read_checks(path: Path) -> list[Check]:
    """The testcases of a pytest JUnit file (missing or unreadable file: none)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return []
    checks = []
    for case in root.iter("testcase"):  # i18n: not text (JUnit's element names, below too)
        failure = case.find("failure")  # i18n: not text
        if failure is None:
            failure = case.find("error")  # i18n: not text
        skipped = case.find("skipped")  # i18n: not text
        status = _outcome(failure is not None, skipped is not None)
        problem = failure if failure is not None else skipped
        message = (problem.get("message") or "") if problem is not None else ""  # i18n: not text
        checks.append(
            Check(
                name=case.get("name", ""),
                status=status,
                message=message.strip().splitlines()[0] if message.strip() else "",
                time=float(case.get("time") or 0.0),
            )
        )
    return checks


def _outcome(failed: bool, skipped: bool) -> str:
    """A check's status key (``passed``, ``failed``, ``skipped``)."""
    if failed:
        return "failed"  # i18n: not text (a status key, shown through check_word)
    return "skipped" if skipped else "passed"  # i18n: not text
