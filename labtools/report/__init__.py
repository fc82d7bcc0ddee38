"""Reporters consume the run's ``Event`` stream; a broken one never aborts a run."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

from labtools.core.errors import RunDirError
from labtools.core.results import Event, Notice


class Reporter(Protocol):
    """Something that consumes events (console, journal, JUnit)."""

    def handle(self, event: Event) -> None:
        """Consume one event."""
        ...

    def close(self) -> None:
        """Flush and release resources at the end of the run."""
        ...


class Fanout:
    """Sends every event to every reporter; one that raises is disabled with a warning event.

    A reporter that cannot write the run's record (``RunDirError``: the disk is full) is
    disabled too, and the error is kept as ``fatal``: the runner stops the run with it.
    """

    def __init__(self, reporters: Iterable[Reporter]) -> None:
        self.reporters: list[Reporter] = list(reporters)
        self.disabled: list[tuple[Reporter, str]] = []
        self.fatal: RunDirError | None = None

    def handle(self, event: Event) -> None:
        """Deliver ``event`` to every working reporter."""
        failed = []
        for reporter in list(self.reporters):
            try:
                reporter.handle(event)
            except RunDirError as exc:  # the run stops with this error: no warning as well
                self.fatal = self.fatal or exc
                self.reporters.remove(reporter)
                self.disabled.append((reporter, exc.message))
            except Exception as exc:  # a reporter bug must not stop the run
                failed.append((reporter, f"{type(exc).__name__}: {exc}"))
        for reporter, why in failed:
            self._disable(reporter, why)

    def _disable(self, reporter: Reporter, why: str) -> None:
        """Drop ``reporter`` and tell the others."""
        if reporter not in self.reporters:
            return
        self.reporters.remove(reporter)
        self.disabled.append((reporter, why))
        name = type(reporter).__name__
        self.handle(Notice(message=f"reporter {name} disabled: {why}", time=time.time()))

    def close(self) -> None:
        """Close every reporter (errors while closing are recorded, not raised)."""
        for reporter in list(self.reporters):
            try:
                reporter.close()
            except RunDirError as exc:
                self.fatal = self.fatal or exc
                self.disabled.append((reporter, exc.message))
            except Exception as exc:  # same rule as handle()
                self.disabled.append((reporter, f"{type(exc).__name__}: {exc}"))
