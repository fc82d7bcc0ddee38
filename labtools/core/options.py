"""Task options: ``--set key=value``, ``--tags``/``--skip-tags`` and ``--phase`` parsing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labtools.core.errors import OptionError
from labtools.core.model import PHASES
from labtools.core.yamlfile import did_you_mean


def _scalar(text: str) -> Any:
    """A --set value as YAML would read it (``3`` is int, ``true`` bool); plain text otherwise."""
    if text == "":
        return ""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    # `--set x=~` or `x=null` is None on purpose; anything odd (a date) stays as typed
    return value if isinstance(value, str | int | float | bool | list | dict | None) else text


def parse_sets(values: Sequence[str]) -> dict[str, Any]:
    """``["replicas=3", "a.b=x"]`` -> ``{"replicas": 3, "a": {"b": "x"}}`` (extra vars)."""
    result: dict[str, Any] = {}
    for item in values or ():
        key, sep, text = str(item).partition("=")
        key = key.strip()
        parts = key.split(".")
        if not sep or not key or not all(part.strip() for part in parts):
            raise OptionError(
                f"--set {item!r}: expected key=value",
                hint="write --set replicas=3 (nested: --set a.b=1, empty: --set x=)",
            )
        target = result
        for depth, part in enumerate(parts[:-1]):
            node = target.setdefault(part, {})
            if not isinstance(node, dict):
                above = ".".join(parts[: depth + 1])
                raise OptionError(f"--set {item!r}: '{above}' is already set to a plain value")
            target = node
        target[parts[-1]] = _scalar(text)
    return result


def parse_tags(value: str | Sequence[str] | None) -> frozenset[str]:
    """``"a,b"`` or ``["a", "b,c"]`` -> ``{"a", "b", "c"}``; None -> empty."""
    if value is None:
        return frozenset()
    items = [value] if isinstance(value, str) else list(value)
    tags: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            raise OptionError(f"a tag must be text, got {item!r}")
        tags.update(part.strip() for part in item.split(",") if part.strip())
    return frozenset(tags)


def parse_phases(value: str | None) -> tuple[str, ...]:
    """``"setup,deploy"`` -> phases in run order, validated; None or empty -> every phase."""
    if value is None or not value.strip():
        return PHASES
    wanted = [part.strip() for part in value.split(",") if part.strip()]
    for phase in wanted:
        if phase not in PHASES:
            raise OptionError(
                f"unknown phase '{phase}'",
                hint=did_you_mean(phase, PHASES) or f"phases are: {', '.join(PHASES)}",
            )
    return tuple(phase for phase in PHASES if phase in wanted)
