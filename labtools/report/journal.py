"""JSON-lines journal: one line per event in ``<run_dir>/journal.jsonl``, flushed per line.

Every record has ``kind`` and ``time`` and the event's own fields; a ``step_end`` record also has
``host``, ``phase`` and ``step`` at the top and the whole ``result``. Events reach reporters
already redacted (``labtools.core.redact``): the journal writes what it is given.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from labtools.core.results import Event, StepEnded


def event_record(event: Event) -> dict[str, Any]:
    """The record of an event: its kind and fields (nested dataclasses stay; see ``encode``)."""
    record: dict[str, Any] = {"kind": event.kind, **_fields(event)}
    record["time"] = round(event.time, 6)
    if isinstance(event, StepEnded):
        result = event.result
        record.update(host=result.host, phase=result.phase, step=result.step)
    return record


def encode(record: Mapping[str, Any]) -> str:
    """One JSON line; dataclasses become objects, other mappings objects, the rest strings."""
    # The C encoder walks dicts, lists and scalars itself and calls back only for the rest:
    # no Python walk (dataclasses.asdict deep-copied every registered value, a whole
    # `kubectl get -o json` included, only for json.dumps to walk it again).
    return json.dumps(record, default=_jsonable, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    """json.dumps' fallback for what it cannot encode itself."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _fields(value: Any) -> dict[str, Any]:
    """A dataclass instance's fields, one level deep."""
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


class JournalReporter:
    """Appends every event as one JSON line."""

    def __init__(self, run_dir: Path, name: str = "journal.jsonl") -> None:
        self.path = Path(run_dir) / name
        self._file: IO[str] = self.path.open("a", encoding="utf-8")

    def handle(self, event: Event) -> None:
        """Write and flush one line."""
        self._file.write(encode(event_record(event)) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every record of a journal file."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
