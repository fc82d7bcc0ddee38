"""JSON-lines journal: one line per event in ``<run_dir>/journal.jsonl``, flushed per line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import IO, Any

from labtools.core.results import Event

MASK = "********"


def event_record(event: Event) -> dict[str, Any]:
    """A JSON-ready dict of an event; results of no_log steps are masked (again, to be safe)."""
    record: dict[str, Any] = {
        "kind": event.kind,
        "time": round(event.time, 6),
        "host": event.host,
        "phase": event.phase,
        "step": event.step,
        "data": dict(event.data),
    }
    if event.result is not None:
        result = dataclasses.asdict(event.result)
        if event.result.no_log:
            for key in ("stdout", "stderr"):
                result[key] = MASK if result[key] else ""
            result["registered"] = {
                k: v if isinstance(v, bool | int | float) or v is None else MASK
                for k, v in result["registered"].items()
            }
        record["result"] = result
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
