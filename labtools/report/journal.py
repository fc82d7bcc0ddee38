"""JSON-lines journal: one line per event in ``<run_dir>/journal.jsonl``, flushed per line.

Every record has ``kind`` and ``time`` and the event's own fields; a ``step_end`` record also has
``host``, ``phase`` and ``step`` at the top and the whole ``result``. Events reach reporters
already redacted (``labtools.core.redact``): the journal writes what it is given.

A catalogue message (``Msg``) is written as its English text, so the journal reads (and greps)
as plain text, with the message itself beside it under ``<field>_msg`` (id, arguments, plural,
count, context), so a report of an old run can still show it in any language.
``read_events`` turns a journal back into the typed events: the one record of a run that the
console, the HTML report and the handouts all read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from labtools.core.messages import Msg
from labtools.core.results import (
    Event,
    HostRecap,
    Notice,
    PhaseStarted,
    RunEnded,
    RunStarted,
    ServiceStarted,
    ServiceStopped,
    StepChecked,
    StepEnded,
    StepOutput,
    StepProgress,
    StepResult,
    StepStarted,
)
from labtools.effects.rundir import run_dir_error

MSG_SUFFIX = "_msg"
EVENT_TYPES: Mapping[str, type[Any]] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        PhaseStarted,
        StepStarted,
        StepOutput,
        StepProgress,
        StepEnded,
        StepChecked,
        ServiceStarted,
        ServiceStopped,
        Notice,
        RunEnded,
    )
}


def msg_record(message: Msg) -> dict[str, Any]:
    """A message as JSON: its id and arguments (nested messages too)."""
    # nested messages and dataclasses in the arguments: json.dumps calls _jsonable for them
    record: dict[str, Any] = {"id": message.id, "args": dict(message.args)}
    for key in ("plural", "n", "context"):
        if getattr(message, key) is not None:
            record[key] = getattr(message, key)
    return record


def msg_from_record(record: Mapping[str, Any]) -> Msg:
    """The message ``msg_record`` wrote."""
    args = {key: _revive(value) for key, value in dict(record.get("args") or {}).items()}
    return Msg(
        str(record["id"]),
        args,
        plural=record.get("plural"),
        n=record.get("n"),
        context=record.get("context"),
    )


def _revive(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$msg"}:
        return msg_from_record(value["$msg"])
    if isinstance(value, dict):
        return {key: _revive(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_revive(item) for item in value]
    return value


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
    if isinstance(value, Msg):  # a message inside arguments or lists
        return {"$msg": msg_record(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _fields(value: Any) -> dict[str, Any]:
    """A dataclass's fields, one level deep; a ``Msg`` field ``x`` gives ``x`` and ``x_msg``."""
    record: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        if isinstance(item, Msg):
            record[f.name] = str(item)
            record[f.name + MSG_SUFFIX] = msg_record(item)
        elif isinstance(item, tuple) and any(isinstance(part, Msg) for part in item):
            record[f.name] = [str(part) for part in item]
            record[f.name + MSG_SUFFIX] = [
                msg_record(part) if isinstance(part, Msg) else None for part in item
            ]
        else:
            record[f.name] = item
    return record


def _texts(record: Mapping[str, Any], name: str) -> Any:
    """A field that may have a message beside it, as the event had it."""
    value = record.get(name)
    stored = record.get(name + MSG_SUFFIX)
    if isinstance(stored, dict):
        return msg_from_record(stored)
    if isinstance(stored, list) and isinstance(value, list):
        return tuple(
            msg_from_record(m) if isinstance(m, dict) else text
            for m, text in zip(stored, value, strict=False)
        )
    return value


def _build(cls: type[Any], record: Mapping[str, Any]) -> Any:
    """A dataclass from its record (unknown keys ignored: journals of other versions load)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name not in record:
            continue
        value = _texts(record, f.name)
        values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def event_from_record(record: Mapping[str, Any]) -> Event | None:
    """The typed event of a journal record (None for a kind this version does not know)."""
    cls = EVENT_TYPES.get(str(record.get("kind")))
    if cls is None:
        return None
    if cls is StepEnded:
        result = _build(StepResult, record["result"])
        return StepEnded(result=result, time=float(record.get("time") or 0.0))
    if cls is RunEnded:
        recaps = {host: _build(HostRecap, recap) for host, recap in dict(record["recaps"]).items()}
        fields = {k: v for k, v in record.items() if k != "recaps"}
        ended: RunEnded = _build(RunEnded, {**fields, "recaps": {}})
        return dataclasses.replace(ended, recaps=recaps)
    event: Event = _build(cls, record)
    return event


def read_events(path: Path) -> Iterator[Event]:
    """The typed events of a journal file, in order."""
    for record in read_journal(path):
        event = event_from_record(record)
        if event is not None:
            yield event


class JournalReporter:
    """Appends every event as one JSON line; a line is in the file whole or not at all.

    Each line is one ``write`` to an ``O_APPEND`` descriptor; when the disk fills up in the
    middle of one, the file is cut back to the end of the last whole line and the reporter
    raises ``RunDirError`` (the run stops: its record cannot be kept).
    """

    def __init__(self, run_dir: Path, name: str = "journal.jsonl") -> None:
        self.path = Path(run_dir) / name
        try:
            self._fd: int | None = os.open(
                self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644
            )
        except OSError as exc:
            raise run_dir_error(self.path.parent, exc) from exc
        self._size = os.fstat(self._fd).st_size

    def handle(self, event: Event) -> None:
        """Write one whole line (or nothing)."""
        if self._fd is None:
            return
        data = (encode(event_record(event)) + "\n").encode("utf-8")
        try:
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            self._cut_back()
            raise run_dir_error(self.path.parent, exc, what=str(self.path)) from exc
        self._size += len(data)

    def _cut_back(self) -> None:
        """Drop a partial line, and write nothing more."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, self._size)
        with contextlib.suppress(OSError):
            os.close(fd)

    def close(self) -> None:
        """Close the file."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every record of a journal file."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
