"""render: argv safety, StrictUndefined, filters, expressions, manifests, Unresolved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labtools.core.errors import Location, TemplateError
from labtools.core.render import (
    Unresolved,
    environment,
    evaluate,
    render_argv,
    render_file,
    render_manifest,
    render_text,
    render_value,
)

SRC = Location("playbooks/demo.yml", 12, "deploy[0].kubectl")

TRICKY = [
    "two words",
    "it's",
    'say "hi"',
    "a; rm -rf /",
    "$(whoami)",
    "`id`",
    "line1\nline2",
    "",
    "  padded  ",
    "back\\slash",
    "*.txt",
    "#not-a-comment",
    "ünïcødé 漢字",
]


@pytest.mark.parametrize("value", TRICKY, ids=repr)
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("echo {{ v }}", ("echo", "{v}")),
        ("echo --name={{ v }} end", ("echo", "--name={v}", "end")),
        ("echo '{{ v }}'", ("echo", "{v}")),
        ('echo "pre {{ v }} post"', ("echo", "pre {v} post")),
        ("echo {{ v }}{{ v }}", ("echo", "{v}{v}")),
        ("echo {{ v }} {{ v }}", ("echo", "{v}", "{v}")),
    ],
)
def test_value_is_exactly_one_argument(
    value: str, template: str, expected: tuple[str, ...]
) -> None:
    want = tuple(word.replace("{v}", value) for word in expected)
    assert render_argv(template, {"v": value}) == want


@pytest.mark.parametrize(
    ("template", "variables", "expected"),
    [
        ("get pods -o wide", {}, ("get", "pods", "-o", "wide")),
        ("echo 'a b' \"c d\"", {}, ("echo", "a b", "c d")),
        ("scale --replicas={{ n }}", {"n": 3}, ("scale", "--replicas=3")),
        ("x {{ flag }}", {"flag": True}, ("x", "true")),
        ("x {{ nothing }}", {"nothing": None}, ("x", "")),
        ("x {{ items }}", {"items": [1, "a"]}, ("x", '[1, "a"]')),
        ("x {{ extra | shell_words }} y", {"extra": "-o 'wide x'"}, ("x", "-o", "wide x", "y")),
        ("x {{ items | args }} y", {"items": ["a b", "c"]}, ("x", "a b", "c", "y")),
        ("x {{ items | args }} y", {"items": []}, ("x", "y")),
        ("x {{ s | quote }}", {"s": "a b"}, ("x", "'a b'")),
        ("curl http://h/#frag", {}, ("curl", "http://h/#frag")),
        ("{% if on %}--on{% endif %} z", {"on": True}, ("--on", "z")),
        ("{% if on %}--on{% endif %} z", {"on": False}, ("z",)),
        ("t '{% raw %}{{ .x }}{% endraw %}'", {}, ("t", "{{ .x }}")),
        ("", {}, ()),
    ],
)
def test_render_argv(template: str, variables: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert render_argv(template, variables) == expected


def test_list_template_items_are_single_arguments() -> None:
    argv = render_argv(["sh", "-c", "echo {{ v }}", 3], {"v": "a b; c"})
    assert argv == ("sh", "-c", "echo a b; c", "3")


def test_shell_words_glued_to_text_is_an_error() -> None:
    with pytest.raises(TemplateError, match="stand alone"):
        render_argv("x --o={{ v | shell_words }}", {"v": "a b"}, source=SRC)


def test_unbalanced_quote_in_template_text() -> None:
    with pytest.raises(TemplateError, match="No closing quotation") as info:
        render_argv("echo 'oops {{ v }}", {"v": 1}, source=SRC)
    assert info.value.location == SRC


@pytest.mark.parametrize(
    ("template", "variables", "name", "hint"),
    [
        ("create deployment {{ app_nmae }}", {"app_name": "x"}, "app_nmae", "app_name"),
        ("echo {{ totally_unknown }}", {"app_name": "x"}, "totally_unknown", "--set"),
    ],
)
def test_undefined_variable(template: str, variables: dict[str, Any], name: str, hint: str) -> None:
    with pytest.raises(TemplateError) as info:
        render_argv(template, variables, source=SRC)
    error = info.value
    assert name in error.message
    assert error.location == SRC
    assert error.hint is not None
    assert hint in error.hint
    assert error.exit_code != 0


def test_undefined_line_inside_multiline_template() -> None:
    with pytest.raises(TemplateError) as info:
        render_text("a\nb\n{{ missing }}", {}, source=SRC)
    assert info.value.location is not None
    assert info.value.location.line == 14


def test_jinja_syntax_error() -> None:
    with pytest.raises(TemplateError, match="syntax error"):
        render_argv("echo {{ v ", {"v": 1}, source=SRC)


@pytest.mark.parametrize(
    ("template", "variables", "expected"),
    [
        ("{{ d | to_json }}", {"d": {"a": [1, 2]}}, '{"a": [1, 2]}'),
        ("{{ d | to_yaml }}", {"d": {"a": 1}}, "a: 1"),
        ("{{ s | b64encode }}", {"s": "hi"}, "aGk="),
        ("{{ (s | from_json).a }}", {"s": '{"a": 5}'}, "5"),
        ("{{ s | regex_search('v([0-9]+)', 1) }}", {"s": "tag v42"}, "42"),
        ("{{ flag }}", {"flag": False}, "false"),
        ("plain text", {}, "plain text"),
    ],
)
def test_render_text_filters(template: str, variables: dict[str, Any], expected: str) -> None:
    assert render_text(template, variables) == expected


def test_render_value_nested() -> None:
    value = {"url": "http://{{ h }}:{{ p }}", "list": ["{{ h }}", 3], "n": 5}
    assert render_value(value, {"h": "x", "p": 80}) == {
        "url": "http://x:80",
        "list": ["x", 3],
        "n": 5,
    }


@pytest.mark.parametrize(
    ("expression", "variables", "expected"),
    [
        ("result.rc == 0", {"result": {"rc": 0}}, True),
        ("'Ready' in result.stdout", {"result": {"stdout": "node Ready"}}, True),
        ("result.stdout_lines | length == 2", {"result": {"stdout_lines": ["a"]}}, False),
        ("{{ n > 1 }}", {"n": 2}, True),
        ("keep | default(false)", {}, False),
        ("missing is defined", {}, False),
        (True, {}, True),
    ],
)
def test_evaluate(expression: str | bool, variables: dict[str, Any], expected: bool) -> None:
    assert evaluate(expression, variables) is expected


def test_evaluate_undefined_names_variable() -> None:
    with pytest.raises(TemplateError, match="reslt"):
        evaluate("reslt.rc == 0", {"result": {}}, source=SRC)


def test_unresolved_renders_placeholders() -> None:
    pod = Unresolved("POD_NAME")
    variables = {"POD_NAME": pod}
    argv = render_argv("logs {{ POD_NAME.stdout_lines[0] | trim }} -c x", variables)
    assert argv == ("logs", "<POD_NAME.stdout_lines[0]>", "-c", "x")
    assert render_text("{{ POD_NAME.stdout | from_json }}", variables).startswith("<POD_NAME")
    assert str(Unresolved("x", display="$POD_NAME")) == "$POD_NAME"
    assert evaluate("POD_NAME.rc == 0", variables)  # unknown until run: truthy, never raises


def test_environment_is_cached_and_strict(tmp_path: Path) -> None:
    assert environment(tmp_path) is environment(tmp_path)
    assert environment(tmp_path) is not environment(None)
    with pytest.raises(Exception, match="undefined"):
        environment().from_string("{{ x }}").render()


def test_render_manifest(tmp_path: Path) -> None:
    (tmp_path / "app.yaml.j2").write_text(
        "kind: ConfigMap\nmetadata:\n  name: {{ name }}\n---\n---\nkind: Service\n"
    )
    text, docs = render_manifest("app.yaml.j2", {"name": "web"}, templates_dir=tmp_path)
    assert "name: web" in text
    assert [doc["kind"] for doc in docs] == ["ConfigMap", "Service"]
    assert docs[0]["metadata"]["name"] == "web"


def test_manifest_yaml_error_names_template_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml.j2").write_text("kind: ConfigMap\ndata:\n  a: {{ v }}\n")
    with pytest.raises(TemplateError) as info:
        render_manifest("bad.yaml.j2", {"v": "x: y: z"}, templates_dir=tmp_path)
    assert "bad.yaml" in info.value.message
    assert "line 3" in info.value.message


def test_missing_template_lists_available(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text("a: 1\n")
    with pytest.raises(TemplateError) as info:
        render_file("ap.yaml", {}, templates_dir=tmp_path)
    assert "ap.yaml" in info.value.message
    assert info.value.hint == "did you mean 'app.yaml'?"


def test_undefined_in_file_template_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "t.yaml.j2").write_text("a: 1\nb: {{ nope }}\n")
    with pytest.raises(TemplateError) as info:
        render_file("t.yaml.j2", {"nop": 1}, templates_dir=tmp_path)
    location = info.value.location
    assert location is not None
    assert location.file.endswith("t.yaml.j2")
    assert location.line == 2
    assert info.value.hint == "did you mean 'nop'?"


# -- snippets: files of templates/ named in a command ----------------------------------------

GO_TEMPLATE = '{{range .items}}{{.metadata.name}}{{"\\n"}}{{end}}\n'


def test_snippet_is_one_argument_and_never_jinja(tmp_path: Path) -> None:
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "names.gotmpl").write_text(GO_TEMPLATE)
    argv = render_argv(
        "get pods -o go-template --template {{ snippet('lab/names.gotmpl') }}",
        {},
        templates_dir=tmp_path,
    )
    # the file's own {{ }} are Go's, kept as they are; its final newline ends the file only
    assert argv == ("get", "pods", "-o", "go-template", "--template", GO_TEMPLATE.rstrip("\n"))
    glued = render_argv(
        "-o=go-template={{ snippet('lab/names.gotmpl') }}", {}, templates_dir=tmp_path
    )
    assert glued == ("-o=go-template=" + GO_TEMPLATE.rstrip("\n"),)


def test_a_j2_snippet_is_rendered_with_the_steps_variables(tmp_path: Path) -> None:
    (tmp_path / "sel.j2").write_text("app={{ app }}, tier in (web, api)\n")
    argv = render_argv(
        "get pods -l {{ snippet('sel.j2') }}", {"app": "x y"}, templates_dir=tmp_path
    )
    assert argv == ("get", "pods", "-l", "app=x y, tier in (web, api)")


def test_a_missing_snippet_says_which_files_there_are(tmp_path: Path) -> None:
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "names.gotmpl").write_text(GO_TEMPLATE)
    with pytest.raises(TemplateError) as info:
        render_argv("echo {{ snippet('lab/name.gotmpl') }}", {}, source=SRC, templates_dir=tmp_path)
    assert "snippet 'lab/name.gotmpl' not found" in info.value.message
    assert info.value.hint == "did you mean 'lab/names.gotmpl'?"
    with pytest.raises(TemplateError, match="no templates/ folder"):
        render_argv("echo {{ snippet('lab/names.gotmpl') }}", {})


def test_a_plain_manifest_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text("kind: ConfigMap\ndata:\n  tpl: '{{ .Values.x }}'\n")
    text, docs = render_manifest("cm.yaml", {}, templates_dir=tmp_path)
    assert "'{{ .Values.x }}'" in text
    assert docs[0]["data"]["tpl"] == "{{ .Values.x }}"


def test_hash_filter_is_ansibles() -> None:
    import hashlib

    assert render_text("{{ 'abc' | hash('sha256') }}", {}) == hashlib.sha256(b"abc").hexdigest()
    assert render_text("{{ 'abc' | hash }}", {}) == hashlib.sha1(b"abc").hexdigest()
    with pytest.raises(TemplateError, match="unknown algorithm 'nope'"):
        render_text("{{ 'abc' | hash('nope') }}", {})


def test_a_template_includes_another_and_hashes_it(tmp_path: Path) -> None:
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "cm.yaml.j2").write_text("data:\n  g: {{ greeting }}\n")
    (tmp_path / "lab" / "dep.yaml.j2").write_text(
        '{% set cm %}{% include "lab/cm.yaml.j2" %}{% endset %}sum: {{ cm | hash("sha256") }}\n'
    )
    first = render_file("lab/dep.yaml.j2", {"greeting": "a"}, templates_dir=tmp_path)
    second = render_file("lab/dep.yaml.j2", {"greeting": "b"}, templates_dir=tmp_path)
    assert first.startswith("sum: ")
    assert first != second
