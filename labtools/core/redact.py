"""Secrets out of every output: the ONE place where events are masked before any reporter sees them.

Two rules, applied to every event:

- a ``no_log`` step's output, message and registered values are replaced by ``MASK``;
- every known secret value (the lab's ``secrets:`` variables, and whatever a ``no_log`` step
  produced or was given) is replaced by ``MASK`` wherever it appears, in any text of any event,
  and so is its base64 form (how the API server returns a Secret's data).

Like a CI system's masked secrets, the set grows during a run: a token a ``no_log`` step printed
is masked in every later step's command line and output too.
"""

from __future__ import annotations

import base64
import dataclasses
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from labtools.core.results import Event, StepEnded, StepResult

MASK = "********"
MIN_SECRET_LENGTH = 3  # masking "1" or "a" everywhere would make every output unreadable

T = TypeVar("T")


class Redactor:
    """Masks secrets in events; thread-safe (hosts run in threads)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = []
        self.add(*secrets)

    def add(self, *values: Any) -> None:
        """Treat these values (and each of their lines) as secrets from now on."""
        found = set()
        for value in values:
            for text in _texts(value):
                # the value as a whole and each of its lines, without surrounding whitespace:
                # "token\n" from a command's output is "token" inside a later command line
                found.add(text.strip())
                found.update(line.strip() for line in text.splitlines())
        found = {t for t in found if len(t) >= MIN_SECRET_LENGTH}
        # a Secret's value as the API returns it (`kubectl get secret -o yaml`): base64
        found |= {base64.b64encode(t.encode()).decode() for t in found}
        with self._lock:
            merged = set(self._secrets) | found
            # longest first, so a secret that contains another one is masked whole
            self._secrets = sorted(merged, key=len, reverse=True)

    def text(self, text: str) -> str:
        """``text`` with every secret replaced by the mask."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def value(self, value: T) -> T:
        """Any plain value (strings, lists, mappings, dataclasses) with secrets masked."""
        if not self._secrets:
            return value
        return _walk(value, self.text)  # type: ignore[no-any-return]

    def event(self, event: Event) -> Event:
        """The event as reporters may see it."""
        if isinstance(event, StepEnded) and event.result.no_log:
            event = dataclasses.replace(event, result=mask_result(event.result))
        return self.value(event)


def mask_result(result: StepResult) -> StepResult:
    """A no_log step's result: outputs, failure message and registered texts masked."""
    return dataclasses.replace(
        result,
        stdout=MASK if result.stdout else "",
        stderr=MASK if result.stderr else "",
        message=MASK if result.status == "failed" and result.message else result.message,
        registered=mask_registered(result.registered),
    )


def mask_registered(registered: Mapping[str, Any]) -> dict[str, Any]:
    """Registered values with every text (and parsed JSON) masked; numbers and flags kept."""
    return {
        key: value if isinstance(value, bool | int | float) or value is None else MASK
        for key, value in registered.items()
    }


def _texts(value: Any) -> Iterable[str]:
    """Every string inside a value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _texts(item)
    elif value is not None and isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)


def _walk(value: Any, fix: Any) -> Any:
    """Apply ``fix`` to every string inside ``value``, rebuilding containers and dataclasses."""
    if isinstance(value, str):
        return fix(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _walk(getattr(value, f.name), fix) for f in dataclasses.fields(value) if f.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, Mapping):
        return {key: _walk(item, fix) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(_walk(item, fix) for item in value)
    if isinstance(value, list):
        return [_walk(item, fix) for item in value]
    return value
