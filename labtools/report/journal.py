"""JSON-lines journal: one line per event in ``<run_dir>/journal.jsonl``, flushed per line.

Every record has ``kind`` and ``time`` and the event's own fields; a ``step_end`` record also has
``host``, ``phase`` and ``step`` at the top and the whole ``result``. Events reach reporters
already redacted (``labtools.core.redact``): the journal writes what it is given.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import IO, Any

from labtools.core.results import Event, StepEnded


def event_record(event: Event) -> dict[str, Any]:
    """A JSON-ready dict of an event."""
    record: dict[str, Any] = {"kind": event.kind, **dataclasses.asdict(event)}
    record["time"] = round(event.time, 6)
    if isinstance(event, StepEnded):
        result = event.result
        record.update(host=result.host, phase=result.phase, step=result.step)
    return record


class JournalReporter:
    """Appends every event as one JSON line."""

    def __init__(self, run_dir: Path, name: str = "journal.jsonl") -> None:
        self.path = Path(run_dir) / name
        self._file: IO[str] = self.path.open("a", encoding="utf-8")

    def handle(self, event: Event) -> None:
        """Write and flush one line."""
        line = json.dumps(event_record(event), default=str, ensure_ascii=False)
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every record of a journal file."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
