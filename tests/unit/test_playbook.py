"""playbook: the real basics lab loads; controls get their defaults; templates are checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labtools.core.errors import Problems, SchemaError, TemplateError
from labtools.core.model import PHASES
from labtools.core.playbook import check_playbook, list_labs, load_lab, parse_lab
from labtools.core.yamlfile import parse_yaml

REPO = Path(__file__).resolve().parents[2]


def lab_from(text: str, templates_dir: Path | None = None) -> Any:
    return parse_lab(parse_yaml(text, "lab.yml"), templates_dir=templates_dir)


def one_step(step_yaml: str) -> Any:
    lab = lab_from(f"name: t\nsetup:\n  - {step_yaml}\n")
    return lab.phases["setup"][0]


def test_basics_lab_loads() -> None:
    lab = load_lab(REPO / "playbooks" / "basics" / "playbook.yml")
    assert lab.name == "basics"
    assert set(lab.phases) <= set(PHASES)
    steps = [s for phase in lab.phases.values() for s in phase]
    assert len(steps) > 20
    pod = next(s for s in steps if s.register == "POD_NAME")
    assert pod.retries == 30
    assert pod.source.line is not None
    assert str(pod.source.key).startswith("explore[")


@pytest.mark.parametrize(
    ("step", "attr", "value"),
    [
        ("{name: a, command: echo}", "action", "command"),
        ("{name: a, command: echo}", "retries", 0),
        ("{name: a, command: echo, until: 'result.rc == 0'}", "retries", 3),
        ("{name: a, command: echo, until: x, retries: 7}", "retries", 7),
        ("{name: a, command: echo, delay: 2}", "delay", 2.0),
        ("{name: a, command: echo, tags: extended}", "tags", ("extended",)),
        ("{name: a, command: echo, tags: 'a, b'}", "tags", ("a", "b")),
        ("{name: a, command: echo, tags: [x, y]}", "tags", ("x", "y")),
        ("{name: a, command: echo, changed_when: false}", "changed_when", False),
        ("{name: a, command: echo, when: false}", "when", "false"),
        ("{name: a, command: echo, env: {N: 3, B: true}}", "env", {"N": "3", "B": "true"}),
        ("{name: a, command: echo, explain: hi}", "explain", {"en": "hi"}),
        ("{name: a, command: echo, timeout: 5}", "timeout", 5.0),
        ("{command: echo   hello}", "name", "command echo hello"),
        ("{name: a, cluster: start}", "spec", "start"),
        ("{name: a, wait: 1.5}", "spec", 1.5),
        ("{name: a, verify: basics}", "action", "verify"),
        ("{name: a, http: 'http://x/{{ p }}'}", "action", "http"),
        ("{name: a, command: [echo, '{{ x }}', 3]}", "spec", ["echo", "{{ x }}", 3]),
    ],
)
def test_step_fields(step: str, attr: str, value: Any) -> None:
    assert getattr(one_step(step), attr) == value


def test_service_step() -> None:
    step = one_step(
        "{name: proxy, service: {name: p, kubectl: 'proxy --port={{ port }}', port: 8001, "
        "ready: {http: 'http://127.0.0.1:{{ port }}/version'}}, register: proxy}"
    )
    assert step.action == "service"
    assert step.register == "proxy"


def test_manifest_must_exist(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text("a: {{ x }}\n")
    lab = lab_from("setup:\n  - {name: m, manifest: app.yaml}\n", tmp_path)
    assert lab.phases["setup"][0].spec == "app.yaml"
    with pytest.raises(TemplateError, match="not found") as info:
        lab_from("setup:\n  - {name: m, manifest: ap.yaml}\n", tmp_path)
    assert info.value.hint == "did you mean 'app.yaml'?"


def test_manifest_template_syntax_checked_at_load(tmp_path: Path) -> None:
    (tmp_path / "app.yaml.j2").write_text("a: 1\nb: {{ x \n")
    with pytest.raises(TemplateError, match="syntax"):
        lab_from("setup:\n  - {name: m, manifest: app.yaml.j2}\n", tmp_path)
    (tmp_path / "plain.yaml").write_text("a: 1\nb: {{ x \n")  # not .j2: used as it is
    assert lab_from("setup:\n  - {name: m, manifest: plain.yaml}\n", tmp_path)


def test_a_missing_snippet_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "names.gotmpl").write_text("{{.metadata.name}}\n")
    command = "get pods -o go-template={{ snippet('lab/names.gotmpl') }}"
    good = f'setup:\n  - {{name: p, kubectl: "{command}"}}\n'
    assert lab_from(good, tmp_path).phases["setup"][0].name == "p"
    with pytest.raises(TemplateError) as info:
        lab_from(good.replace("names.gotmpl", "name.gotmpl"), tmp_path)
    assert info.value.location is not None
    assert (info.value.location.line, info.value.location.key) == (2, "setup[0].kubectl")
    assert info.value.hint == "did you mean 'lab/names.gotmpl'?"


def test_verify_names_checks_that_exist(tmp_path: Path) -> None:
    lab_dir = tmp_path / "playbooks" / "web"
    (lab_dir / "checks").mkdir(parents=True)
    (lab_dir / "checks" / "test_web.py").write_text("def test_x(): pass\n")
    (lab_dir / "playbook.yml").write_text("verify:\n  - {name: checks, verify: web}\n")
    assert load_lab(lab_dir / "playbook.yml").phases["verify"][0].spec == "web"
    (lab_dir / "playbook.yml").write_text("verify:\n  - {name: checks, verify: nginx}\n")
    with pytest.raises(SchemaError) as info:
        load_lab(lab_dir / "playbook.yml")
    assert "no checks 'nginx': web/checks/test_nginx.py does not exist" in info.value.message
    assert info.value.hint == "checks of this lab: web"
    (lab_dir / "playbook.yml").write_text("verify:\n  - {name: checks, verify: wbe}\n")
    with pytest.raises(SchemaError, match="wbe") as info:
        load_lab(lab_dir / "playbook.yml")
    assert info.value.hint == "did you mean 'web'?"


def test_name_defaults_to_file_stem() -> None:
    assert lab_from("setup: []\n").name == "lab"


def test_hosts_list_becomes_pattern() -> None:
    assert lab_from("hosts: [a, b]\n").hosts == "a,b"


def test_duplicate_names_in_different_phases_are_fine() -> None:
    lab = lab_from("setup:\n  - {name: x, command: a}\nteardown:\n  - {name: x, command: b}\n")
    assert lab.phases["teardown"][0].name == "x"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("setup:\n  - {name: a, command: echo, retry: 3}\n", "setup[0].retry"),
        ("vars: {bad-name: 1}\n", "vars.bad-name"),
        ("setup:\n  - {name: a, service: {kubectl: x, comand: y}}\n", "setup[0].service.comand"),
    ],
)
def test_errors_carry_key_path(text: str, key: str) -> None:
    with pytest.raises(SchemaError) as info:
        lab_from(text)
    assert info.value.location is not None
    assert info.value.location.key == key


def test_list_labs(tmp_path: Path) -> None:
    for name in ("b/playbook.yml", "a/playbook.yml", "notes/README.md", "old.yml"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x: 1\n")
    assert list_labs(tmp_path) == ["a", "b"]


def test_a_lab_is_named_after_its_folder(tmp_path: Path) -> None:
    (tmp_path / "playbooks" / "web").mkdir(parents=True)
    (tmp_path / "playbooks" / "web" / "playbook.yml").write_text("setup: []\n")
    lab = load_lab(tmp_path / "playbooks" / "web" / "playbook.yml")
    assert lab.name == "web"
    assert lab.folder == str((tmp_path / "playbooks" / "web").resolve())


def test_every_problem_is_collected_not_only_the_first() -> None:
    text = (
        "name: t\n"
        "setpu: []\n"  # unknown top key
        "setup:\n"
        "  - {name: a, command: echo, retry: 3}\n"  # unknown step key
        "  - {name: b, command: echo, timeout: 0}\n"  # bad control
        "  - {name: c}\n"  # no action: the step is left out
        "  - {name: d, command: echo, register: bad-name}\n"  # bad register
    )
    checked = check_playbook(parse_yaml(text, "lab.yml"))
    found = [(p.location.line if p.location else None, p.message) for p in checked.problems]
    assert found == [
        (2, "playbook: unknown key 'setpu'"),
        (4, "step 'a': unknown key 'retry'"),
        (5, "'timeout' must be > 0, got 0"),
        (6, "step 'c' has no action"),
        (7, "'register' must be an identifier (letters, digits, '_'), got 'bad-name'"),
    ]
    assert [s.name for s in checked.lab.phases["setup"]] == ["a", "b", "d"]
    with pytest.raises(Problems) as info:
        lab_from(text)
    assert info.value.format().splitlines()[0] == "5 problems:"
    assert (
        "  lab.yml:4: setup[0].retry: step 'a': unknown key 'retry' (did you mean 'retries'?)"
        in (info.value.format().splitlines())
    )
