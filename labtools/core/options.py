"""Task options: ``RunOptions`` from flags and the `lab` config; --set, tags, phases, language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labtools.core.errors import OptionError
from labtools.core.messages import msg
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
                msg("--set {item!r}: expected key=value", item=item),
                hint=msg("write --set replicas=3 (nested: --set a.b=1, empty: --set x=)"),
            )
        target = result
        for depth, part in enumerate(parts[:-1]):
            node = target.setdefault(part, {})
            if not isinstance(node, dict):
                above = ".".join(parts[: depth + 1])
                raise OptionError(
                    msg(
                        "--set {item!r}: '{above}' is already set to a plain value",
                        item=item,
                        above=above,
                    )
                )
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
            raise OptionError(msg("a tag must be text, got {item!r}", item=item))
        tags.update(part.strip() for part in item.split(",") if part.strip())
    return frozenset(tags)


def parse_phases(value: str | None) -> tuple[str, ...]:
    """``"setup,deploy"`` -> phases in run order, validated; None or empty -> every phase."""
    if value is None or not value.strip():
        return PHASES
    wanted = [part.strip() for part in value.split(",") if part.strip()]
    for phase in wanted:
        if phase not in PHASES:
            raise unknown_phase(phase)
    return tuple(phase for phase in PHASES if phase in wanted)


LANGUAGES: tuple[str, ...] = ("en", "zh-TW")
_LANGUAGE_ALIASES = {"en": "en", "en-us": "en", "en_us": "en", "zh-tw": "zh-TW", "zh_tw": "zh-TW"}
CONFIG_KEYS: tuple[str, ...] = (
    "name",
    "inventory",
    "limit",
    "tags",
    "skip_tags",
    "check",
    "verbose",
    "lang",
    "forks",
    "debug",
)
DEFAULT_FORKS = 5


@dataclass(frozen=True)
class RunOptions:
    """What a run task was asked for, typed and validated: from tasks.py to the application."""

    lab: str | None = None
    inventory: str | None = None
    limit: str | None = None
    tags: frozenset[str] = frozenset()
    skip_tags: frozenset[str] = frozenset()
    extra_vars: Mapping[str, Any] = field(default_factory=dict)
    check: bool = False
    verbosity: int = 0
    lang: str = "en"
    forks: int = DEFAULT_FORKS
    list_tasks: bool = False
    list_tags: bool = False
    start_at: str | None = None  # run from this step on (any phase of the run)
    resume: bool = False  # from the last run's journal: each unfinished host where it stopped
    step: bool = False  # --step: ask before each step (y/n/c)


def parse_lang(value: Any) -> str:
    """``en`` or ``zh-TW`` (``zh_TW``, ``zh-tw`` accepted); anything else is an OptionError."""
    text = str(value or "en").strip()
    lang = _LANGUAGE_ALIASES.get(text.lower())
    if lang is None:
        raise OptionError(
            msg("unknown language {lang!r}", lang=text),
            hint=msg("known languages: {languages}", languages=", ".join(LANGUAGES)),
        )
    return lang


def parse_forks(value: Any) -> int:
    """``--forks``: an integer >= 1."""
    try:
        forks = int(value if value not in (None, "") else DEFAULT_FORKS)
    except (TypeError, ValueError) as exc:
        raise OptionError(msg("--forks must be a number, got {value!r}", value=value)) from exc
    if forks < 1:
        raise OptionError(msg("--forks must be at least 1, got {forks}", forks=forks))
    return forks


CARD_FORMATS: tuple[str, ...] = ("html", "md")


def parse_formats(value: str | None) -> tuple[str, ...]:
    """``--format html,md`` (default both); an unknown format is an OptionError."""
    if value is None or not value.strip():
        return CARD_FORMATS
    wanted = [part.strip().lower() for part in value.split(",") if part.strip()]
    for fmt in wanted:
        if fmt not in CARD_FORMATS:
            hint = did_you_mean(fmt, CARD_FORMATS) or msg(
                "formats: {formats}", formats=", ".join(CARD_FORMATS)
            )
            raise OptionError(msg("--format: unknown card format {fmt!r}", fmt=fmt), hint=hint)
    return tuple(dict.fromkeys(wanted))


def check_config(config: Mapping[str, Any]) -> None:
    """The ``lab`` configuration (tasks.py, invoke.yaml, INVOKE_LAB_*) has only known keys."""
    for key in config:
        if key not in CONFIG_KEYS:
            known = msg("known keys: {keys}", keys=", ".join(CONFIG_KEYS))
            raise OptionError(
                msg(
                    "unknown key '{key}' in the `lab` configuration (invoke.yaml or INVOKE_LAB_*)",
                    key=key,
                ),
                hint=did_you_mean(str(key), CONFIG_KEYS) or known,
            )


def run_options(config: Mapping[str, Any], flags: Mapping[str, Any]) -> RunOptions:
    """Flags over the ``lab`` configuration (defaults < invoke.yaml < INVOKE_LAB_* < flags)."""
    check_config(config)
    given = {key: value for key, value in flags.items() if value not in (None, [], (), 0, False)}

    def pick(key: str, config_key: str | None = None) -> Any:
        return given.get(key, config.get(config_key or key))

    return RunOptions(
        lab=pick("lab", "name"),
        inventory=pick("inventory"),
        limit=pick("limit"),
        tags=parse_tags(pick("tags")),
        skip_tags=parse_tags(pick("skip_tags")),
        extra_vars=parse_sets(list(flags.get("sets") or ())),
        check=bool(pick("check")),
        verbosity=int(pick("verbose") or 0),
        lang=parse_lang(pick("lang")),
        forks=parse_forks(pick("forks")),
        list_tasks=bool(given.get("list_tasks")),
        list_tags=bool(given.get("list_tags")),
        start_at=str(given["start_at"]) if given.get("start_at") else None,
        resume=bool(given.get("resume")),
        step=bool(given.get("step")),
    )


def unknown_phase(phase: str) -> OptionError:
    """The error for a phase name that is not one of the five."""
    known = msg("phases are: {phases}", phases=", ".join(PHASES))
    return OptionError(
        msg("unknown phase '{phase}'", phase=phase), hint=did_you_mean(phase, PHASES) or known
    )
