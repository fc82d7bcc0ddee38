"""yamlfile: plain data plus a line for every key path; clear errors."""

from __future__ import annotations

import pytest

from labtools.core.errors import SchemaError, YamlSyntaxError
from labtools.core.yamlfile import did_you_mean, key_path, load_yaml, parse_yaml

TEXT = """\
name: demo
vars:
  a: 1
  b: [x, y]
setup:
  - name: one
    command: echo 1
  - name: two
    retries: 3
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ((), 1),
        (("name",), 1),
        (("vars",), 2),
        (("vars", "a"), 3),
        (("vars", "b"), 4),
        (("setup", 0), 6),
        (("setup", 1), 8),
        (("setup", 1, "retries"), 9),
        (("setup", 1, "missing"), 8),  # nearest known ancestor
        (("nope", 3), 1),
    ],
)
def test_line_of_key_path(path: tuple[str | int, ...], line: int) -> None:
    assert parse_yaml(TEXT, "f.yml").line(path) == line


def test_data_is_plain() -> None:
    doc = parse_yaml(TEXT, "f.yml")
    assert doc.data["vars"] == {"a": 1, "b": ["x", "y"]}
    assert doc.data["setup"][1] == {"name": "two", "retries": 3}
    assert type(doc.data) is dict


def test_location_formats_key_path() -> None:
    doc = parse_yaml(TEXT, "f.yml")
    assert str(doc.location(("setup", 1, "retries"))) == "f.yml:9: setup[1].retries"


@pytest.mark.parametrize(
    ("parts", "text"),
    [(("setup", 2, "retries"), "setup[2].retries"), ((), ""), (("a", "b"), "a.b"), ((0,), "[0]")],
)
def test_key_path(parts: tuple[str | int, ...], text: str) -> None:
    assert key_path(parts) == text


def test_duplicate_key_names_both_lines() -> None:
    with pytest.raises(SchemaError) as info:
        parse_yaml("a: 1\nb: 2\na: 3\n", "dup.yml")
    assert "duplicate key 'a'" in info.value.message
    assert "line 1" in info.value.message
    assert info.value.location is not None
    assert info.value.location.line == 3


def test_syntax_error_has_line_and_column() -> None:
    with pytest.raises(YamlSyntaxError) as info:
        parse_yaml("a: [1, 2\nb: 3\n", "bad.yml")
    error = info.value
    assert error.location is not None
    assert error.location.file == "bad.yml"
    assert error.location.line is not None
    assert "column" in error.message


def test_tab_indentation_hint() -> None:
    with pytest.raises(YamlSyntaxError) as info:
        parse_yaml("a:\n\tb: 1\n", "tabs.yml")
    assert info.value.hint is not None
    assert "tabs" in info.value.hint


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_file(text: str) -> None:
    with pytest.raises(SchemaError, match="empty"):
        parse_yaml(text, "empty.yml")


def test_merge_keys_and_anchors() -> None:
    doc = parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n", "m.yml")
    assert doc.data["other"] == {"x": 1, "y": 3}


def test_load_yaml_missing_file(tmp_path: object) -> None:
    with pytest.raises(Exception, match="file not found"):
        load_yaml("/nonexistent/x.yml")


@pytest.mark.parametrize(
    ("word", "hint"),
    [("retry", "did you mean 'retries'?"), ("zzzz", None)],
)
def test_did_you_mean(word: str, hint: str | None) -> None:
    assert did_you_mean(word, ["retries", "register", "when"]) == hint


@pytest.mark.parametrize(
    ("text", "error", "line", "says"),
    [
        # found by tests/unit/test_fuzz_loaders.py: each was a traceback
        ("a: 1\nb: &x [*x]\n", SchemaError, 2, "an alias refers to a collection that contains it"),
        ("[" * 999 + "]" * 999, YamlSyntaxError, 1, "nested too deeply"),  # RecursionError
        ("[" * 5000 + "]" * 5000, YamlSyntaxError, 1, "exceeded maximum nesting depth"),
        ("a: 1\nb: !foo bar\n", SchemaError, 2, "cannot read the value 'bar' as !foo"),
        ("x: !!int abc\n", SchemaError, 1, "cannot read the value 'abc' as !!int"),
        ("x: !!int\n", SchemaError, 1, "it is not a valid !!int value"),
        ("- !!timestamp '\t2000-01-01'\n", SchemaError, 1, "not a valid !!timestamp value"),
    ],
)
def test_values_yaml_cannot_build_are_errors_at_their_line(
    text: str, error: type[Exception], line: int, says: str
) -> None:
    with pytest.raises(error) as info:
        parse_yaml(text, "f.yml")
    assert says in str(info.value)
    assert info.value.location is not None  # type: ignore[attr-defined]
    assert info.value.location.line == line  # type: ignore[attr-defined]


def test_an_anchor_used_twice_is_not_a_cycle() -> None:
    doc = parse_yaml("a: &x [1, 2]\nb: [*x, *x]\n", "f.yml")
    assert doc.data == {"a": [1, 2], "b": [[1, 2], [1, 2]]}
