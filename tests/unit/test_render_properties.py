"""Property: an interpolated value never changes the shape of argv, whatever it holds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labtools.core.render import render_argv

# argv cannot carry NUL; everything else (quotes, ;, $(), backticks, newlines, unicode) is fair
values = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))

TEMPLATES = [
    "echo {{ v }}",
    "kubectl create deployment {{ v }} --image={{ v }}",
    "curl -s 'http://h/{{ v }}' -H \"X: {{ v }}\"",
    "sh -c {{ v }} -- {{ v }}{{ v }} tail",
    "{{ v }}",
    "a '' {{ v }} \"\"",
]


def _expected(template: str, value: str) -> tuple[str, ...]:
    """argv with a benign value, then the benign value replaced by the real one."""
    benign = render_argv(template, {"v": "BENIGN"})
    return tuple(word.replace("BENIGN", value) for word in benign)


@pytest.mark.parametrize("template", TEMPLATES)
@settings(max_examples=60, deadline=None)
@given(value=values)
def test_value_lands_verbatim_in_place(template: str, value: str) -> None:
    argv = render_argv(template, {"v": value})
    expected = _expected(template, value)
    assert len(argv) == len(expected)
    assert argv == expected


@settings(max_examples=60, deadline=None)
@given(first=values, second=values)
def test_two_values_keep_their_order(first: str, second: str) -> None:
    argv = render_argv("cmd {{ a }} --x {{ b }}", {"a": first, "b": second})
    assert argv == ("cmd", first, "--x", second)
