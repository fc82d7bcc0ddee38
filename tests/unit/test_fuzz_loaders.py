"""Fuzzing the loaders: whatever a user writes, the outcome is a lab or one clear ``LabError``.

Hypothesis generates inventories (as YAML text and as structures: groups, children, host
ranges, variables of every type, unknown keys, wrong types, bad host names), playbooks (phases,
steps of every action, controls, unknown keys, wrong types, bad Jinja, tags), ``--set`` values
and ``--limit`` patterns (``@file``, ``!``, ``&``, ranges, globs, regexes), and feeds them to the
real loaders: the core ones directly (fast) and ``labtools.app.load`` on a project folder (the
end-to-end part). Any other exception is a defect; each one found is kept as an ``@example``.

The default profile runs a short count (``.ci/run``); the issue's 2,000 examples per loader
run with ``pytest -m fuzz --hypothesis-profile=fuzz`` (or ``LABTOOLS_FUZZ=1``; profiles in
tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from labtools.core.errors import LabError
from labtools.core.inventory import parse_inventory, select_hosts
from labtools.core.model import PHASES
from labtools.core.options import RunOptions, check_invoke_file, parse_sets, run_options
from labtools.core.playbook import check_playbook
from labtools.core.yamlfile import parse_yaml

pytestmark = pytest.mark.fuzz

FUZZ = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,  # the fixtures below are reset for every example
    ],
)


# ------------------------------------------------------------------------------- the verdict


def outcome(load: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a loader: its result, or the LabError it raised, checked for a readable message.

    Anything else propagates, so Hypothesis reports (and shrinks) it as a failure.
    """
    try:
        result = load(*args, **kwargs)
    except LabError as exc:
        assert_one_paragraph(exc)
        event(type(exc).__name__)  # --hypothesis-show-statistics: what the examples met
        return exc
    event("loaded")
    return result


def assert_one_paragraph(exc: LabError) -> None:
    """A message a person reads: not empty, no blank line, no traceback, no Python object repr."""
    text = exc.format()
    assert text.strip(), f"{type(exc).__name__} with an empty message"
    assert "\n\n" not in text.strip(), f"more than one paragraph: {text!r}"
    assert "Traceback (most recent call last)" not in text, text
    assert " object at 0x" not in text, f"a Python object repr in the message: {text!r}"
    assert "\n" not in exc.one_line()  # lab.lint's form: one line per problem


# ------------------------------------------------------------------------------- building blocks

JINJA = [
    "{{ x",
    "{{ }}",
    "{% if %}",
    "{% for x in y %}",
    "{{ undefined_name }}",
    "{{ app_name }}",
    "{{ app_name | nosuchfilter }}",
    "{{ 1 / 0 }}",
    "{{ 'a' | regex_search('(') }}",
    "{{ 'a' | regex_replace('[', 'b') }}",
    "{{ '%' | b64decode }}",
    "{{ 'x' | from_json }}",
    "{{ ':' | from_yaml }}",
    "{{ 'x' | hash('nosuch') }}",
    "{{ [1] | shell_words }}",
    "{{ 'a \"b' | shell_words }}",
    "{{ {'a': 1} | args }}",
    "{{ snippet('nosuch.txt') }}",
    "{{ snippet('x/snip.txt') }}",
    "{{ snippet(1) }}",
    "{{ x.y.z }}",
    "{{ app_name.nope }}",
    "{{ range(3) | list }}",
    "{{ app_name ~ 1 }}",
    "{{ '{{' }}",
    "{# c #}",
    "{{ 10 ** 10 }}",
    "{{ app_name[5] }}",
    "{{ lookup('env', 'HOME') }}",
    "\ue000 {{ app_name }}",
    "{{ inventory_hostname }}",
    "{{ POD.stdout }}",
    "{{ namespace }}",
]

text = st.text(max_size=24)
names = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z0-9]", fullmatch=True),
    st.sampled_from(["all", "ungrouped", "web", "workshop", "x", "a-b", "solo"]),
)
bad_names = st.sampled_from(
    [
        "Lab_01",
        "lab.01",
        "-x",
        "x-",
        "",
        " ",
        "ünï",
        "a" * 70,
        "lab 1",
        "lab/1",
        "lab\n1",
        "lab\x00",
        "*",
        "@x",
        "1",
    ]
)
numbers = st.one_of(
    st.integers(0, 40).map(str),
    st.integers(0, 10**12).map(str),  # a range of millions of hosts: a typo, not a workshop
    st.integers(0, 40).map(lambda n: f"{n:02d}"),
    st.sampled_from(["", "a", "f", "Z", "-1", "1.5", " 3", "99999999999", "0x10"]),
)
ranges = st.builds(
    lambda prefix, a, b, step, suffix: f"{prefix}[{a}:{b}{step}]{suffix}",
    st.sampled_from(["lab-", "n", "", "Lab-", "web-"]),
    numbers,
    numbers,
    st.sampled_from(["", ":1", ":5", ":0", ":x", ":"]),
    st.sampled_from(["", "-a", "[a:b]", "]", "[", "[0:2]"]),
)
host_names = st.one_of(names, bad_names, ranges, text)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    text,
    st.sampled_from(JINJA),
    st.dates(),
    st.datetimes(),
    st.binary(max_size=6),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
# a key of a YAML mapping: mostly text, sometimes what YAML also allows (numbers, null, bools)
keys = st.one_of(text, names, st.integers(), st.none(), st.booleans())

SETTINGS = [
    "provider",
    "profile",
    "driver",
    "cpus",
    "memory",
    "disk_size",
    "kubernetes_version",
    "container_runtime",
    "addons",
    "keep",
    "kube_context",
    "kubeconfig",
    "namespace",
    "minikube_bin",
    "kubectl_bin",
    "fake_home",
    "proivder",
    "namespce",
]
setting_values = st.one_of(
    values,
    st.sampled_from(
        ["fake", "context", "minikube", "auto", "nosuch", "docker", "2g", "2200mb", "v1.32.0"]
    ),
    st.integers(-3, 8),
    st.lists(st.sampled_from(["ingress", "", "metrics-server"]), max_size=2),
)
variables = st.dictionaries(
    st.one_of(st.sampled_from(SETTINGS), text, names), setting_values, max_size=4
)


# ------------------------------------------------------------------------------- inventories


@st.composite
def groups(draw: st.DrawFn, depth: int = 0) -> Any:
    """A group body: hosts, vars, children (nested), sometimes an unknown key or a wrong type."""
    body: dict[Any, Any] = {}
    if draw(st.booleans()):
        body["hosts"] = draw(
            st.one_of(
                st.dictionaries(host_names, st.one_of(st.none(), variables), max_size=4),
                st.lists(names, max_size=2),
                scalars,
            )
        )
    if draw(st.booleans()):
        body["vars"] = draw(st.one_of(variables, scalars, st.lists(text, max_size=2)))
    if depth < 2 and draw(st.booleans()):
        body["children"] = draw(
            st.one_of(
                st.dictionaries(
                    st.one_of(names, bad_names), st.one_of(st.none(), groups(depth + 1)), max_size=3
                ),
                scalars,
            )
        )
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.sampled_from(["host", "var", "childs", "groups"]))] = draw(values)
    return draw(st.one_of(st.just(body), st.just(body), st.just(body), scalars))


inventories = st.one_of(
    st.fixed_dictionaries({"all": groups()}),
    st.dictionaries(st.one_of(names, bad_names), st.one_of(st.none(), groups()), max_size=3),
    values,
)


# ------------------------------------------------------------------------------- playbooks

ARGV = st.one_of(
    st.sampled_from(
        [
            "get pods",
            "version",
            "create deployment {{ app_name }} --image=nginx",
            "echo {{ app_name }}",
            "echo 'unbalanced",
            "wait --for=condition=Ready pods --all --timeout=60s",
            "rollout status deployment/{{ app_name }}",
            "",
            "   ",
            "get pods -o go-template --template {{ snippet('x/snip.txt') }}",
        ]
    ),
    st.sampled_from(JINJA),
    text,
    st.lists(st.one_of(text, st.sampled_from(JINJA), st.integers(), st.none()), max_size=3),
    scalars,
)
SPECS: dict[str, Any] = {
    "command": ARGV,
    "kubectl": ARGV,
    "minikube": ARGV,
    "cluster": st.one_of(st.sampled_from(["start", "stop", "delete", "status", "strat"]), values),
    "manifest": st.one_of(
        st.sampled_from(["x/app.yaml.j2", "x/plain.yaml", "x/nosuch.yaml.j2", "x/bad.yaml.j2"]),
        st.sampled_from(["../x/app.yaml.j2", "/etc/passwd", "x/{{ app_name }}.yaml.j2", ""]),
        st.fixed_dictionaries(
            {"template": st.sampled_from(["x/app.yaml.j2", "x/nosuch.j2"])},
            optional={"diff": values, "server_side": st.booleans(), "apply": values},
        ),
        values,
    ),
    "service": st.one_of(
        st.fixed_dictionaries(
            {"kubectl": ARGV},
            optional={
                "ready": st.one_of(
                    st.fixed_dictionaries(
                        {"http": st.sampled_from(["http://127.0.0.1:{{ port }}/"])}
                    ),
                    st.fixed_dictionaries({"tcp": st.one_of(st.integers(), text)}),
                    values,
                ),
                "port": st.one_of(st.integers(-1, 70000), text, st.sampled_from(JINJA), values),
                "name": values,
                "env": st.one_of(st.dictionaries(text, values, max_size=2), values),
                "command": ARGV,
                "restart": values,
            },
        ),
        values,
    ),
    "http": st.one_of(
        st.sampled_from(["http://127.0.0.1:8001/version", "http://h/{{ app_name }}", "ftp://x"]),
        st.fixed_dictionaries(
            {"url": st.one_of(text, st.sampled_from(JINJA))},
            optional={
                "method": values,
                "status": st.one_of(st.integers(0, 1000), values),
                "contains": values,
                "headers": st.one_of(st.dictionaries(text, values, max_size=2), values),
                "body": values,
                "timeout": values,
            },
        ),
        values,
    ),
    "wait": st.one_of(st.floats(), st.integers(-2, 3), text, st.sampled_from(JINJA), values),
    "verify": st.one_of(st.sampled_from(["basics", "nosuch", "", "../x"]), values),
}
CONTROLS: dict[str, Any] = {
    "register": st.one_of(st.sampled_from(["POD", "out", "1x", "a-b", "class", ""]), values),
    "when": st.one_of(st.sampled_from(["true", "POD.rc == 0", "x ==", "1 +", *JINJA]), values),
    "until": st.one_of(st.sampled_from(["result.rc == 0", "result.", "nosuch"]), values),
    "retries": st.one_of(st.integers(-2, 5), values),
    "delay": st.one_of(st.floats(-1, 5), values),
    "changed_when": st.one_of(st.booleans(), st.sampled_from(["false", "result.rc"]), values),
    "failed_when": st.one_of(st.sampled_from(["result.rc != 0", "(("]), values),
    "ignore_errors": values,
    "timeout": st.one_of(st.floats(-1, 1e6), st.integers(-1, 10), values),
    "tags": st.one_of(
        st.lists(st.sampled_from(["extended", "never", "always", "", "x,y"]), max_size=3), values
    ),
    "no_log": values,
    "env": st.one_of(st.dictionaries(text, values, max_size=2), values),
    "vars": st.one_of(st.dictionaries(st.one_of(text, names), values, max_size=2), values),
    "explain": st.one_of(
        text, st.dictionaries(st.sampled_from(["en", "zh-TW", "fr"]), values, max_size=2), values
    ),
    "interactive": values,
    "stdin": st.one_of(st.sampled_from(JINJA), values),
    "check": st.one_of(
        st.sampled_from(["history", "confirm", "histroy"]),
        st.dictionaries(
            st.sampled_from(["kubectl", "command", "http", "testinfra", "history", "that", "x"]),
            values,
            max_size=2,
        ),
        values,
    ),
    "hint": values,
    "solution": values,
    "name": st.one_of(text, values),
    "loop": values,  # not a labtools control: an unknown key (Ansible users write it)
    "with_items": values,
    "retry": values,
}


@st.composite
def steps(draw: st.DrawFn) -> Any:
    """A step: usually one action, sometimes none or two, with a few controls."""
    actions = draw(
        st.one_of(
            st.lists(st.sampled_from(sorted(SPECS)), min_size=1, max_size=1),
            st.lists(st.sampled_from(sorted(SPECS)), max_size=2),
        )
    )
    step: dict[Any, Any] = {"name": draw(text)} if draw(st.booleans()) else {}
    for action in actions:
        step[action] = draw(SPECS[action])
    for control in draw(st.lists(st.sampled_from(sorted(CONTROLS)), max_size=3, unique=True)):
        step[control] = draw(CONTROLS[control])
    return draw(st.one_of(st.just(step), st.just(step), st.just(step), scalars))


playbooks = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(text, values),
            "description": st.one_of(text, values),
            "hosts": st.one_of(st.sampled_from(["all", "web", "solo:!x", "nosuch"]), values),
            "vars": st.one_of(
                st.dictionaries(st.one_of(st.sampled_from(["app_name", "x"]), text), values),
                values,
            ),
            "secrets": st.one_of(st.lists(st.sampled_from(["x", "app_name", "1a"])), values),
            **{phase: st.one_of(st.lists(steps(), max_size=4), values) for phase in PHASES},
            "phases": values,
            "tasks": values,
        },
    ),
    values,
)


# ------------------------------------------------------------------------------- YAML text

NASTY = [
    "\t",
    "a: &x [*x]\n",
    "&x [*x, *x]",
    "!!python/object:os.system x",
    "!foo bar",
    "!!int abc",
    "!!int\n",
    "!!bool x",
    "!!null x",
    "!!float x",
    "!!binary ???",
    "!!timestamp 2020-13-45",
    "!!map [1]",
    "<<: 5\n",
    "<<: *nosuch\n",
    "? [a, b]\n: c\n",
    "%YAML 1.1\n---\n",
    "---\n---\n",
    "\x00",
    "\ufeff",
    "\x07",
    "key: [unclosed\n",
    "key: 'unclosed\n",
    "a: b: c\n",
    "- x\ny: 1\n",
    "  bad-indent: 1\n",
    "x: 0o777\n",
    "x: .inf\n",
    "x: ~\n",
    "x: 2001-12-14t21:59:43.10-05:00\n",
    "dup: 1\ndup: 2\n",
]


@st.composite
def yaml_text(draw: st.DrawFn, documents: Any) -> str:
    """A document dumped to YAML, then sometimes mangled: nasty snippets, cuts, random text."""
    data = draw(documents)
    try:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=None)
    except yaml.YAMLError:
        text = str(data)
    for _ in range(draw(st.integers(0, 3))):
        edit = draw(st.integers(0, 3))
        at = draw(st.integers(0, len(text)))
        if edit == 0:
            text = text[:at] + draw(st.sampled_from(NASTY)) + text[at:]
        elif edit == 1:
            text = text[:at]
        elif edit == 2:
            text = text[:at] + draw(st.text(max_size=6)) + text[at:]
        else:
            text = text + draw(st.sampled_from(NASTY))
    return text


# ------------------------------------------------------------------------------- a project folder

CHECKS = "def test_app(host):\n    assert True\n"
TEMPLATES = {
    "x/app.yaml.j2": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ app_name }}\n",
    "x/plain.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain\n",
    "x/bad.yaml.j2": "{% if %}",
    "x/snip.txt": "{{.metadata.name}}\n",
}


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    """One project folder for the module; each example rewrites its inventory and playbook."""
    folder = Path(tempfile.mkdtemp(prefix="labtools-fuzz-"))
    for name, body in TEMPLATES.items():
        (folder / "templates" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "templates" / name).write_text(body, encoding="utf-8")
    (folder / "playbooks" / "x" / "checks").mkdir(parents=True)
    (folder / "playbooks" / "x" / "checks" / "test_basics.py").write_text(CHECKS)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _write(root: Path, inventory: str, playbook: str) -> None:
    (root / "inventory.yml").write_text(inventory, encoding="utf-8", errors="surrogatepass")
    (root / "playbooks" / "x" / "playbook.yml").write_text(
        playbook, encoding="utf-8", errors="surrogatepass"
    )


def _dump(data: Any) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        return str(data)


GOOD_INVENTORY = {
    "all": {
        "vars": {"provider": "fake"},
        "hosts": {"solo": None},
        "children": {"web": {"hosts": {"lab-[01:03]": {"cpus": 2}}}},
    }
}
GOOD_PLAYBOOK = {
    "name": "x",
    "vars": {"app_name": "hello"},
    "setup": [{"name": "start", "cluster": "start"}],
    "deploy": [
        {"name": "create", "kubectl": "create deployment {{ app_name }} --image=nginx"},
        {"name": "apply", "manifest": "x/app.yaml.j2", "tags": ["extended"]},
        {"name": "pods", "kubectl": "get pods", "register": "POD"},
    ],
    "verify": [{"name": "checks", "verify": "basics"}],
}


@st.composite
def near_good_playbooks(draw: st.DrawFn) -> Any:
    """The good playbook with a few generated steps added: most of it loads, so the fuzzing
    reaches the checks after the schema (rendering every step for every host)."""
    playbook = {
        key: list(value) if isinstance(value, list) else value
        for key, value in GOOD_PLAYBOOK.items()
    }
    for _ in range(draw(st.integers(1, 3))):
        phase = draw(st.sampled_from(PHASES))
        step = draw(steps())
        if isinstance(step, dict):
            step["name"] = f"fuzz {draw(st.integers(0, 10**6))}"
        playbook.setdefault(phase, []).append(step)
    if draw(st.booleans()):
        playbook["vars"] = {
            **GOOD_PLAYBOOK["vars"],
            **draw(st.dictionaries(names, values, max_size=2)),
        }
    return playbook


@st.composite
def near_good_inventories(draw: st.DrawFn) -> Any:
    """The good inventory with generated variables and a generated group added."""
    inventory = yaml.safe_load(yaml.safe_dump(GOOD_INVENTORY))
    target = draw(st.sampled_from(["all", "web", "solo"]))
    extra = draw(st.one_of(st.dictionaries(names, values, max_size=3), variables))
    if target == "all":
        inventory["all"]["vars"].update(extra)
    elif target == "web":
        inventory["all"]["children"]["web"]["vars"] = extra
    else:
        inventory["all"]["hosts"]["solo"] = extra
    if draw(st.integers(0, 3)) == 0:
        inventory["all"]["children"][draw(names)] = draw(groups())
    return inventory


# ------------------------------------------------------------------------------- --set, --limit

good_set_items = st.builds(
    lambda k, v: f"{k}={v}",
    st.sampled_from(
        ["app_name", "cpus", "keep", "addons", "namespace", "a.b", "a.b.c", "provider", "x"]
    ),
    st.one_of(
        text, st.sampled_from(["3", "true", "1.30", "web: v2", "[a]", "{a: 1}", "~", *JINJA])
    ),
)
set_items = st.one_of(
    good_set_items,
    st.builds(
        lambda k, v: f"{k}={v}",
        st.sampled_from(
            ["app_name", "cpus", "keep", "addons", "namespace", "a.b", "a.b.c", "provider", "x"]
        ),
        st.one_of(text, st.sampled_from(["3", "true", "1.30", "web: v2", "[a]", "{a: 1}", "~"])),
    ),
    st.sampled_from(["novalue", "=x", ".a=1", "a..b=1", "a=1", "a.b=2", " = ", "a.=1"]),
    text,
)
limit_terms = st.one_of(
    names,
    bad_names,
    st.sampled_from(
        [
            "lab-0*",
            "lab-0?",
            "lab-[01:02]",
            "lab-[1:2]",
            "~lab-0[12]",
            "~(",
            "~[",
            "~*",
            "*",
            "all",
            "@hosts.txt",
            "@nosuch.txt",
            "@",
            "@empty.txt",
            "web[0]",
            "web[0:1]",
            "web[-1]",
            "web[x]",
            "[",
            "]",
        ]
    ),
    text,
)
limits = st.builds(
    lambda terms, seps: "".join(sep + term for sep, term in zip(seps, terms, strict=False)).lstrip(
        ":,"
    ),
    st.lists(limit_terms, min_size=1, max_size=4),
    st.lists(
        st.sampled_from([":", ",", ":&", ":!", "&", "!", ", ", ":!&"]), min_size=4, max_size=4
    ),
)


@contextlib.contextmanager
def working_dir(path: Path) -> Iterator[None]:
    """``@file`` patterns are read relative to the working directory, as Ansible does."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


# ------------------------------------------------------------------------------- the tests


@FUZZ
@given(text=st.one_of(yaml_text(values), st.text(), st.sampled_from(NASTY)))
@example(text="- [!!timestamp '\t2000-01-01 00:00:00']\n")  # PyYAML's AttributeError
@example(text="x: !foo bar\n")  # an unknown tag: ConstructorError
@example(text="x: !!int abc\n")  # ValueError from the int constructor
@example(text="!!int")  # PyYAML's IndexError on an empty !!int
@example(text="[" * 999 + "]" * 999)  # nested beyond Python's stack: RecursionError
@example(text="a: &x [*x]\n")  # an alias inside its own anchor: RecursionError
def test_yaml_text_parses_or_says_why(text: str) -> None:
    outcome(parse_yaml, text, "fuzz.yml")


def _inventory_from_text(text: str) -> Any:
    return parse_inventory(parse_yaml(text, "inventory.yml"))


@FUZZ
@given(text=yaml_text(inventories))
@example(text="all:\n  hosts:\n    lab-[0:99999999999]:\n")  # hung building 10^11 names
@example(text="all:\n  hosts:\n    n[0:999][0:999]:\n")  # a million from two ranges
def test_inventory_text_loads_or_says_why(text: str) -> None:
    outcome(_inventory_from_text, text)


@FUZZ
@given(data=inventories)
def test_inventory_structure_loads_or_says_why(data: Any) -> None:
    outcome(_inventory_from_text, _dump(data))


@FUZZ
@given(data=playbooks, text_edits=st.booleans(), mangled=yaml_text(playbooks))
def test_playbook_checks_or_says_why(root: Path, data: Any, text_edits: bool, mangled: str) -> None:
    source = mangled if text_edits else _dump(data)

    def check() -> Any:
        doc = parse_yaml(source, str(root / "playbooks" / "x" / "playbook.yml"))
        checked = check_playbook(
            doc, templates_dir=root / "templates", lab_dir=root / "playbooks" / "x"
        )
        for problem in checked.problems:
            assert isinstance(problem, LabError)
            assert_one_paragraph(problem)
        return checked

    outcome(check)


@FUZZ
@given(items=st.lists(set_items, max_size=4))
def test_set_values_parse_or_say_why(items: list[str]) -> None:
    outcome(parse_sets, items)


@FUZZ
@given(
    config=st.dictionaries(
        st.sampled_from(
            ["name", "inventory", "limit", "tags", "lang", "forks", "verbose", "langg"]
        ),
        values,
        max_size=3,
    ),
    flags=st.fixed_dictionaries(
        {},
        optional={
            "lab": values,
            "tags": st.one_of(text, st.lists(values, max_size=2), values),
            "skip_tags": st.one_of(text, values),
            "sets": st.lists(set_items, max_size=3),
            "lang": values,
            "forks": values,
            "verbose": st.one_of(st.integers(-1, 4), values),
            "limit": st.one_of(limits, values),
        },
    ),
)
@example(config={"verbose": [None]}, flags={})  # TypeError from int()
@example(config={"forks": float("inf")}, flags={})  # OverflowError from int()
@example(config={"name": 3}, flags={})  # a lab named by a number: TypeError in a path
@example(config={"limit": ["a"]}, flags={})  # AttributeError at .strip()
@example(config={"tags": 5}, flags={})  # TypeError from list()
def test_run_options_parse_or_say_why(
    root: Path, config: dict[str, Any], flags: dict[str, Any]
) -> None:
    """The `lab` config (invoke.yaml, INVOKE_LAB_*) and the flags, then a load with them."""
    from labtools.app import load

    options = outcome(run_options, config, flags)
    if isinstance(options, RunOptions):
        _write(root, _dump(GOOD_INVENTORY), _dump(GOOD_PLAYBOOK))
        with working_dir(root):
            outcome(load, root, options)


@FUZZ
@given(text=yaml_text(st.one_of(st.fixed_dictionaries({"lab": values}), values)))
@example(text="- [!!timestamp '\t2000-01-01 00:00:00']\n")
def test_invoke_yaml_checks_or_says_why(root: Path, text: str) -> None:
    folder = root / "invoke-check"
    folder.mkdir(exist_ok=True)
    (folder / "invoke.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    outcome(check_invoke_file, folder)


HOSTS_FILE = "solo\n# a comment\nlab-01\n\nweb\n"


@FUZZ
@given(pattern=limits)
@example(pattern="~(")  # re.error
@example(pattern="@hosts.txt:!lab-01")  # @FILE: Ansible's host list file
@example(pattern="@nosuch.txt")
def test_limit_patterns_select_or_say_why(root: Path, pattern: str) -> None:
    (root / "hosts.txt").write_text(HOSTS_FILE, encoding="utf-8")
    (root / "empty.txt").write_text("", encoding="utf-8")
    inventory = parse_inventory(parse_yaml(_dump(GOOD_INVENTORY), "inventory.yml"))
    with working_dir(root):
        selected = outcome(select_hosts, inventory, pattern)
    if not isinstance(selected, LabError):
        assert all(host.name in inventory.hosts for host in selected)


@FUZZ
@given(
    inventory=st.one_of(st.just(GOOD_INVENTORY), near_good_inventories()),
    playbook=st.one_of(near_good_playbooks(), near_good_playbooks(), playbooks),
    sets=st.one_of(st.lists(good_set_items, max_size=3), st.lists(set_items, max_size=2)),
    limit=st.one_of(st.none(), st.none(), limits),
    tags=st.one_of(
        st.just([]),
        st.lists(st.sampled_from(["extended", "nosuch", "never", "all", "tagged"]), max_size=2),
    ),
    skip=st.one_of(st.just([]), st.lists(st.sampled_from(["extended", "nosuch"]), max_size=1)),
    phases=st.lists(st.sampled_from(PHASES), min_size=1, max_size=5, unique=True),
)
@example(  # a step whose action is null: check_plan rendered it anyway (TypeError)
    inventory=GOOD_INVENTORY,
    playbook={**GOOD_PLAYBOOK, "setup": [{"name": "fuzz", "command": None}]},
    sets=[],
    limit=None,
    tags=[],
    skip=[],
    phases=["setup"],
)
@example(  # a bad regex in a filter, in an inventory variable: re.error out of the render
    inventory={"all": {**GOOD_INVENTORY["all"], "vars": {"a0": "{{ 'a' | regex_search('(') }}"}}},
    playbook=GOOD_PLAYBOOK,
    sets=["b={{ 'a' | regex_replace('[', 'b') }}"],
    limit=None,
    tags=[],
    skip=[],
    phases=["setup"],
)
def test_a_whole_project_loads_or_says_why(
    root: Path,
    inventory: Any,
    playbook: Any,
    sets: list[str],
    limit: str | None,
    tags: list[str],
    skip: list[str],
    phases: list[str],
) -> None:
    from labtools.app import load

    _write(root, _dump(inventory), _dump(playbook))

    def run_load() -> Any:
        options = RunOptions(
            lab="x",
            limit=limit,
            tags=frozenset(tags),
            skip_tags=frozenset(skip),
            extra_vars=parse_sets(sets),
        )
        return load(root, options, tuple(p for p in PHASES if p in phases))

    with working_dir(root):
        outcome(run_load)


@FUZZ
@given(
    inventory=yaml_text(st.one_of(st.just(GOOD_INVENTORY), near_good_inventories())),
    playbook=yaml_text(st.one_of(near_good_playbooks(), playbooks)),
)
def test_a_project_of_mangled_yaml_loads_or_says_why(
    root: Path, inventory: str, playbook: str
) -> None:
    from labtools.app import load

    _write(root, inventory, playbook)
    with working_dir(root):
        outcome(load, root, RunOptions(lab="x"))


def test_the_good_project_loads(root: Path) -> None:
    """The baseline the fuzzers mutate is itself a lab that loads (so they test loading)."""
    from labtools.app import load

    _write(root, _dump(GOOD_INVENTORY), _dump(GOOD_PLAYBOOK))
    loaded = load(root, RunOptions(lab="x"))
    assert [hp.host.name for hp in loaded.plan.hosts] == ["solo", "lab-01", "lab-02", "lab-03"]
