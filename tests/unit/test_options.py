"""options: --set, --tags, --phase."""

from __future__ import annotations

from typing import Any

import pytest

from labtools.core.errors import OptionError
from labtools.core.model import PHASES
from labtools.core.options import parse_phases, parse_sets, parse_tags, run_options


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        # values stay text: the plan types them by the key's schema (test_plan.py)
        (["replicas=3"], {"replicas": "3"}),
        (["ratio=1.5"], {"ratio": "1.5"}),
        (["on=true"], {"on": "true"}),
        (["name=web app"], {"name": "web app"}),
        (["x="], {"x": ""}),
        (["a.b=1", "a.c=x"], {"a": {"b": "1", "c": "x"}}),
        (["url=http://h/?q=1"], {"url": "http://h/?q=1"}),
        (["v='007'"], {"v": "'007'"}),
        (["v=007"], {"v": "007"}),
        (["a=1", "a=2"], {"a": "2"}),
        (["kubernetes_version=1.30"], {"kubernetes_version": "1.30"}),
        (["app_name=web: v2"], {"app_name": "web: v2"}),
        ([], {}),
    ],
)
def test_parse_sets(items: list[str], expected: dict[str, Any]) -> None:
    assert parse_sets(items) == expected


@pytest.mark.parametrize("item", ["novalue", "=3", "a..b=1", ".a=1", " =1"])
def test_bad_set(item: str) -> None:
    with pytest.raises(OptionError, match="expected key=value") as info:
        parse_sets([item])
    assert repr(item) in info.value.message


def test_set_conflict_names_key() -> None:
    with pytest.raises(OptionError, match="'a' is already set"):
        parse_sets(["a=1", "a.b=2"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, set()),
        ("", set()),
        ("a", {"a"}),
        ("a, b,,c", {"a", "b", "c"}),
        (["a", "b,c"], {"a", "b", "c"}),
    ],
)
def test_parse_tags(value: str | list[str] | None, expected: set[str]) -> None:
    assert parse_tags(value) == frozenset(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, PHASES),
        ("deploy", ("deploy",)),
        ("deploy,setup", ("setup", "deploy")),
        (" teardown ", ("teardown",)),
    ],
)
def test_parse_phases(value: str | None, expected: tuple[str, ...]) -> None:
    assert parse_phases(value) == expected


@pytest.mark.parametrize(("value", "hint"), [("deply", "deploy"), ("xyz", "phases are")])
def test_unknown_phase(value: str, hint: str) -> None:
    with pytest.raises(OptionError, match=f"unknown phase '{value}'") as info:
        parse_phases(value)
    assert hint in str(info.value.hint)


@pytest.mark.parametrize(
    ("config", "flags", "field", "value"),
    [
        ({}, {}, "lang", "en"),
        ({"lang": "zh_TW"}, {}, "lang", "zh-TW"),
        ({"lang": "en"}, {"lang": "zh-tw"}, "lang", "zh-TW"),
        ({"forks": 5}, {"forks": "12"}, "forks", 12),
        ({"name": "basics"}, {}, "lab", "basics"),
        ({"name": "basics"}, {"lab": "other"}, "lab", "other"),
        ({"verbose": 0}, {"verbose": 3}, "verbosity", 3),
        ({"tags": "a,b"}, {}, "tags", frozenset({"a", "b"})),
        ({}, {"sets": ["x=1", "y=a b"]}, "extra_vars", {"x": "1", "y": "a b"}),
        ({"check": False}, {"check": True}, "check", True),
        ({}, {"list_tasks": True}, "list_tasks", True),
    ],
)
def test_run_options_flags_over_config(
    config: dict[str, Any], flags: dict[str, Any], field: str, value: Any
) -> None:
    assert getattr(run_options(config, flags), field) == value


@pytest.mark.parametrize(
    ("config", "flags", "message", "hint"),
    [
        ({"langg": "en"}, {}, "unknown key 'langg'", "did you mean 'lang'?"),
        ({"lang": "fr"}, {}, "unknown language 'fr'", "known languages: en, zh-TW"),
        ({}, {"forks": "0"}, "--forks must be at least 1", None),
        ({}, {"forks": "many"}, "--forks must be a number", None),
        # invoke.yaml values of the wrong type (found by tests/unit/test_fuzz_loaders.py)
        ({"forks": float("inf")}, {}, "--forks must be a number", None),
        ({"verbose": [1]}, {}, "verbose must be a number, got [1]", None),
        ({"verbose": -1}, {}, "verbose must be at least 0", None),
        ({"name": 3}, {}, "`name` must be text, got 3", 'e.g. `name: "..."`'),
        ({"limit": ["a"]}, {}, "`limit` must be text", None),
        ({"inventory": {"a": 1}}, {}, "`inventory` must be text", None),
        ({"tags": 5}, {}, "tags must be text (a,b) or a list, got 5", None),
    ],
)
def test_run_options_errors(
    config: dict[str, Any], flags: dict[str, Any], message: str, hint: str | None
) -> None:
    with pytest.raises(OptionError) as caught:
        run_options(config, flags)
    assert message in caught.value.message
    if hint:
        assert hint in (caught.value.hint or "")
