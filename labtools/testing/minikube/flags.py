"""A small pflag-like parser: flags anywhere before ``--``, ``--f=v``, ``-f v``, ``--b=false``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TRUE_WORDS = {"1", "t", "true", "TRUE", "True"}
FALSE_WORDS = {"0", "f", "false", "FALSE", "False"}


@dataclass(frozen=True)
class Flag:
    """One flag: long name, optional shorthand, kind (bool, str, list) and default."""

    name: str
    short: str | None = None
    kind: str = "str"
    default: Any = None


class UsageError(Exception):
    """A cobra-style usage error (``Error: unknown flag: --x``)."""


@dataclass
class Parsed:
    """Flag values, positional arguments and what followed ``--``."""

    values: dict[str, Any]
    args: list[str]
    rest: list[str]
    given: set[str]


GLOBAL_FLAGS = (
    Flag("profile", "p", "str", None),
    Flag("alsologtostderr", None, "bool", False),
    Flag("v", "v", "str", "0"),
    Flag("log_dir", None, "str", ""),
    Flag("user", None, "str", ""),
    Flag("skip-audit", None, "bool", False),
    Flag("interactive", None, "bool", True),
    Flag("rootless", None, "bool", False),
    Flag("help", "h", "bool", False),
)


def _lookup(flags: tuple[Flag, ...], name: str, short: bool) -> Flag:
    for flag in flags:
        if (flag.short if short else flag.name) == name:
            return flag
    if short:
        raise UsageError(f"unknown shorthand flag: '{name[0]}' in -{name}")
    raise UsageError(f"unknown flag: --{name}")


def _set(parsed: Parsed, flag: Flag, value: str) -> None:
    if flag.kind == "bool":
        if value not in TRUE_WORDS | FALSE_WORDS:
            raise UsageError(
                f'invalid argument "{value}" for "--{flag.name}" flag: '
                f'strconv.ParseBool: parsing "{value}": invalid syntax'
            )
        parsed.values[flag.name] = value in TRUE_WORDS
    elif flag.kind == "list":
        parsed.values[flag.name] = [*parsed.values[flag.name], *value.split(",")]
    else:
        parsed.values[flag.name] = value
    parsed.given.add(flag.name)


def parse(argv: list[str], flags: tuple[Flag, ...]) -> Parsed:
    """Parse ``argv`` against ``flags`` (plus the global ones), cobra style."""
    every = (*flags, *GLOBAL_FLAGS)
    parsed = Parsed(
        {f.name: list(f.default or []) if f.kind == "list" else f.default for f in every},
        [],
        [],
        set(),
    )
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            parsed.rest = argv[i:]
            break
        if not word.startswith("-") or word == "-":
            parsed.args.append(word)
            continue
        short = not word.startswith("--")
        name, eq, value = word.lstrip("-").partition("=")
        if short and len(name) > 1 and not eq:
            name, value, eq = name[0], name[1:], "="
        flag = _lookup(every, name, short)
        if not eq and flag.kind != "bool":
            if i >= len(argv):
                dash = f"-{flag.short}" if short else f"--{flag.name}"
                raise UsageError(f"flag needs an argument: {dash}")
            value = argv[i]
            i += 1
        _set(parsed, flag, value if eq or flag.kind != "bool" else "true")
    return parsed
