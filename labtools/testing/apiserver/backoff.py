"""The kubelet's back-offs: image pulls and crashed containers, 10 s doubling to 5 min.

``pkg/kubelet/kubelet.go``: ``backOffPeriod = 10 * time.Second`` and ``MaxContainerBackOff =
300 * time.Second`` feed both ``flowcontrol.NewBackOff`` instances (images and containers);
``staging/src/k8s.io/client-go/util/flowcontrol/backoff.go`` gives the rules kept here: the
first ``next`` sets the base delay, each later one doubles it up to the cap, and an entry whose
last update is more than twice the cap old starts over.

Waits can be scaled (``--backoff-scale``, env ``LABTOOLS_FAKE_BACKOFF_SCALE``) so tests need not
sit through real minutes; the texts always name the real, unscaled durations.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

BASE = 10.0
CAP = 300.0
SCALE_ENV = "LABTOOLS_FAKE_BACKOFF_SCALE"


def scale_from_env(default: float = 1.0) -> float:
    """The scale the environment asks for (``LABTOOLS_FAKE_BACKOFF_SCALE``), else ``default``."""
    try:
        value = float(os.environ.get(SCALE_ENV, default))
    except ValueError:
        return default
    return value if value > 0 else default


def go_seconds(seconds: float) -> str:
    """Go's ``Duration.String()`` of whole seconds: ``10s``, ``1m20s``, ``5m0s``."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{rest}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{rest}s"


@dataclass
class Entry:
    """One back-off: its current (nominal) delay and when it was last updated."""

    delay: float
    updated: float


class Backoff:
    """flowcontrol.Backoff keyed by string, on the monotonic clock, with scaled waits."""

    def __init__(self, scale: float = 1.0, base: float = BASE, cap: float = CAP) -> None:
        self.scale = scale
        self.base = base
        self.cap = cap
        self.entries: dict[str, Entry] = {}

    def _expired(self, entry: Entry, at: float) -> bool:
        return at - entry.updated > 2 * self.cap * self.scale

    def next(self, key: str, at: float | None = None) -> Entry:
        """Start or double the back-off of ``key`` (``Backoff.Next``)."""
        at = time.monotonic() if at is None else at
        entry = self.entries.get(key)
        if entry is None or self._expired(entry, at):
            entry = Entry(self.base, at)
        else:
            entry = Entry(min(entry.delay * 2, self.cap), at)
        self.entries[key] = entry
        return entry

    def in_backoff_since(self, key: str, event: float, now: float | None = None) -> bool:
        """Less than the current delay has passed since ``event`` (``IsInBackOffSince``)."""
        now = time.monotonic() if now is None else now
        entry = self.entries.get(key)
        if entry is None or self._expired(entry, event):
            return False
        return now - event < entry.delay * self.scale

    def in_backoff_since_update(self, key: str, now: float | None = None) -> bool:
        """Less than the current delay has passed since the last update."""
        entry = self.entries.get(key)
        return entry is not None and self.in_backoff_since(key, entry.updated, now)

    def due(self, key: str) -> float | None:
        """When the current back-off of ``key`` ends (monotonic), or None."""
        entry = self.entries.get(key)
        return None if entry is None else entry.updated + entry.delay * self.scale

    def delay(self, key: str) -> float:
        """The current nominal delay of ``key`` (the base when there is none)."""
        entry = self.entries.get(key)
        return self.base if entry is None else entry.delay

    def prune(self, keep: set[str]) -> None:
        """Forget the entries whose key is not in ``keep`` (gone pods)."""
        self.entries = {k: v for k, v in self.entries.items() if k in keep}
