"""Task options: ``RunOptions`` from flags and the `lab` config; --set, tags, phases, language."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtools.core.errors import Location, OptionError, SchemaError
from labtools.core.messages import Msg, msg
from labtools.core.model import PHASES
from labtools.core.yamlfile import did_you_mean


def _scalar(text: str) -> Any:
    """A value as YAML reads it (``3`` is int, ``true`` bool); plain text otherwise."""
    if text == "":
        return ""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    # `x=~` or `x=null` is None on purpose; anything odd (a date) stays as typed
    return value if isinstance(value, str | int | float | bool | list | dict | None) else text


def parse_typed_sets(values: Sequence[str]) -> dict[str, Any]:
    """``--lab-set`` of the verify plugin: like ``parse_sets``, each value read as YAML.

    The run writes those values itself (``verify.run.set_text``: text that YAML would type is
    quoted), so they read back exactly as the run had them, typed or not; in a user's own CI,
    ``--lab-set replicas=2`` is the number 2.
    """
    return parse_sets(values, leaf=_scalar)


def parse_sets(values: Sequence[str], leaf: Callable[[str], Any] = str) -> dict[str, Any]:
    """``["replicas=3", "a.b=x"]`` -> ``{"replicas": "3", "a": {"b": "x"}}`` (extra vars).

    Values stay text: ``1.30`` is a version, not a number, and ``web: v2`` a name, not a
    mapping. The plan gives a value a type only where the key's schema has one (the value it
    overrides, or a provider setting's type): ``labtools.core.plan.typed_extra_vars``.
    """
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
        target[parts[-1]] = leaf(text)
    return result


def parse_tags(value: str | Sequence[str] | None) -> frozenset[str]:
    """``"a,b"`` or ``["a", "b,c"]`` -> ``{"a", "b", "c"}``; None -> empty."""
    if value is None:
        return frozenset()
    if not isinstance(value, str | list | tuple | set | frozenset):
        raise OptionError(msg("tags must be text (a,b) or a list, got {value!r}", value=value))
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
    except (TypeError, ValueError, OverflowError) as exc:
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


def parse_verbosity(value: Any) -> int:
    """``-v``/``verbose``: a count >= 0 (``-vv`` is 2)."""
    if isinstance(value, bool) or not isinstance(value, int | str | None):
        raise OptionError(msg("verbose must be a number, got {value!r}", value=value))
    try:
        level = int(value or 0)
    except ValueError as exc:
        raise OptionError(msg("verbose must be a number, got {value!r}", value=value)) from exc
    if level < 0:
        raise OptionError(msg("verbose must be at least 0, got {level}", level=level))
    return level


def _text_option(key: str, value: Any) -> str | None:
    """An option that names something (``lab``, ``inventory``, ``limit``): text or unset."""
    if value is None or isinstance(value, str):
        return value
    raise OptionError(
        msg("`{key}` must be text, got {value!r}", key=key, value=value),
        hint=msg('quote it in invoke.yaml, e.g. `{key}: "..."`', key=key),
    )


def check_config(config: Mapping[str, Any], location: Location | None = None) -> None:
    """The ``lab`` configuration (tasks.py, invoke.yaml, INVOKE_LAB_*) has only known keys."""
    for key in config:
        if key not in CONFIG_KEYS:
            known = msg("known keys: {keys}", keys=", ".join(CONFIG_KEYS))
            raise OptionError(
                msg(
                    "unknown key '{key}' in the `lab` configuration (invoke.yaml or INVOKE_LAB_*)",
                    key=key,
                ),
                location=location,
                hint=did_you_mean(str(key), CONFIG_KEYS) or known,
            )


INVOKE_FILES: tuple[str, ...] = ("invoke.yaml", "invoke.yml", "invoke.json")
"""The project configuration files invoke reads next to tasks.py (the first one found)."""


def check_invoke_file(project_dir: Path) -> Path | None:
    """Check the project's invoke.yaml (or .yml, .json) as invoke is about to read it.

    invoke loads the file right after importing tasks.py and fails with a traceback on text that
    is not YAML or a top level that is not a mapping; this says the same as a ConfigError with
    the file and line. Returns the file checked, None when there is none.
    """
    from labtools.core.yamlfile import parse_yaml

    path = next((project_dir / n for n in INVOKE_FILES if (project_dir / n).is_file()), None)
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError(
            msg("cannot read {path}: {error}", path=str(path), error=str(exc)),
            location=Location(str(path)),
        ) from exc
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        return path  # empty (or only comments): no configuration, as invoke reads it
    doc = parse_yaml(text, str(path))
    if not isinstance(doc.data, dict):
        raise SchemaError(
            msg("invoke's configuration must be a mapping, got {kind}", kind=_kind(doc.data)),
            location=doc.location(()),
            hint=msg(
                "write `lab:` and its keys under it, e.g. `lab: {{name: basics, lang: zh-TW}}`"
            ),
        )
    lab = doc.data.get("lab")
    if lab is None:
        return path
    if not isinstance(lab, dict):
        raise SchemaError(
            msg("`lab` must be a mapping of options, got {kind}", kind=_kind(lab)),
            location=doc.location(("lab",)),
            hint=msg("known keys: {keys}", keys=", ".join(CONFIG_KEYS)),
        )
    for key in lab:
        check_config({key: lab[key]}, doc.location(("lab", key)))
    return path


def _kind(value: Any) -> Msg:
    """``a list``, ``a string``: what a YAML value is, for messages."""
    if isinstance(value, bool):
        return msg("a boolean")
    if isinstance(value, int | float):
        return msg("a number")
    if isinstance(value, str):
        return msg("a string")
    if isinstance(value, list):
        return msg("a list")
    return msg("a {type}", type=type(value).__name__)


def run_options(config: Mapping[str, Any], flags: Mapping[str, Any]) -> RunOptions:
    """Flags over the ``lab`` configuration (defaults < invoke.yaml < INVOKE_LAB_* < flags)."""
    check_config(config)
    given = {key: value for key, value in flags.items() if value not in (None, [], (), 0, False)}

    def pick(key: str, config_key: str | None = None) -> Any:
        return given.get(key, config.get(config_key or key))

    return RunOptions(
        lab=_text_option("name", pick("lab", "name")),
        inventory=_text_option("inventory", pick("inventory")),
        limit=_text_option("limit", pick("limit")),
        tags=parse_tags(pick("tags")),
        skip_tags=parse_tags(pick("skip_tags")),
        extra_vars=parse_sets(list(flags.get("sets") or ())),
        check=bool(pick("check")),
        verbosity=parse_verbosity(pick("verbose")),
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
