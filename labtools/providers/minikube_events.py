"""Parse ``minikube start --output json`` (one CloudEvent per line) into progress updates."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TYPE_PREFIX = "io.k8s.sigs.minikube."


@dataclass(frozen=True)
class MinikubeEvent:
    """One minikube CloudEvent; kind: step, download, download.progress, warning, info, error."""

    kind: str
    message: str = ""
    name: str = ""  # step name ("Starting Node") or, for fatal errors, the reason ID
    step: int | None = None
    total: int | None = None
    progress: float | None = None  # 0..1 of a download
    exitcode: int | None = None
    advice: str = ""
    data: Mapping[str, str] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        """How far along ``start`` is (step / total steps), when the event says."""
        if self.step is None or not self.total:
            return None
        return min(1.0, self.step / self.total)

    def text(self) -> str:
        """One human line: ``[3/19] Starting Node: Starting control plane node ...``."""
        counter = f"[{self.step}/{self.total}] " if self.step is not None and self.total else ""
        if self.kind == "step":
            return (
                f"{counter}{self.name}: {self.message}" if self.message else f"{counter}{self.name}"
            )
        if self.kind == "download.progress" and self.progress is not None:
            return f"{counter}downloading {self.data.get('artifact', '')}: {self.progress:.0%}"
        if self.kind == "download":
            return f"{counter}downloading {self.data.get('artifact', '')}"
        if self.kind == "error":
            suffix = f" ({self.name}, exit {self.exitcode})" if self.name else ""
            return f"error: {self.message}{suffix}"
        return f"{self.kind}: {self.message}"


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return None


def parse_event(line: str) -> MinikubeEvent | None:
    """Parse one output line; None when it is not a minikube CloudEvent (plain text, blank)."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return None
    kind = str(doc.get("type", "")) if isinstance(doc, dict) else ""
    if not kind.startswith(TYPE_PREFIX):
        return None
    raw = doc.get("data")
    data = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    return MinikubeEvent(
        kind=kind.removeprefix(TYPE_PREFIX),
        message=data.get("message", "").strip(),
        name=data.get("name", ""),
        step=_int(data.get("currentstep")),
        total=_int(data.get("totalsteps")),
        progress=_float(data.get("progress")),
        exitcode=_int(data.get("exitcode")),
        advice=data.get("advice", "").strip(),
        data=data,
    )


def parse_events(lines: Iterable[str] | str) -> list[MinikubeEvent]:
    """All events in some output (a string or its lines), other lines ignored."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    return [event for event in map(parse_event, lines) if event is not None]


def failure_message(lines: Iterable[str] | str) -> str | None:
    """The last error event as ``message (REASON, exit N) hint: advice``, or None."""
    errors = [event for event in parse_events(lines) if event.kind == "error"]
    if not errors:
        return None
    last = errors[-1]
    return f"{last.text()}  hint: {last.advice}" if last.advice else last.text()
