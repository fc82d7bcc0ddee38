"""Bad input of every kind: the right error class, file:line and key path, one short paragraph."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labtools.core.errors import (
    ConfigError,
    InventoryError,
    LabError,
    OptionError,
    SchemaError,
    TemplateError,
    YamlSyntaxError,
)
from labtools.core.inventory import load_inventory, select_hosts
from labtools.core.model import PHASES
from labtools.core.options import parse_phases, parse_sets
from labtools.core.plan import build_plan, step_vars
from labtools.core.playbook import load_lab
from labtools.core.project import Project
from labtools.core.render import render_argv, render_manifest

Run = Callable[[Path], Any]

GOOD_INVENTORY = "all:\n  vars: {provider: fake}\n  hosts:\n    h1:\n    h2:\n"


def _write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def lab(text: str, templates: dict[str, str] | None = None) -> Run:
    """Load playbooks/lab.yml (with templates/ files)."""

    def run(root: Path) -> Any:
        for name, body in (templates or {}).items():
            _write(root, f"templates/{name}", body)
        return load_lab(_write(root, "playbooks/lab/playbook.yml", text))

    return run


def inventory(text: str) -> Run:
    return lambda root: load_inventory(_write(root, "inventory.yml", text))


def rendered(text: str, templates: dict[str, str] | None = None) -> Run:
    """Load a project and render every step like the runner would (commands and manifests)."""

    def run(root: Path) -> Any:
        _write(root, "inventory.yml", GOOD_INVENTORY)
        for name, body in (templates or {}).items():
            _write(root, f"templates/{name}", body)
        _write(root, "playbooks/lab/playbook.yml", text)
        project = Project.load(root, "lab", None)
        plan = build_plan(project.inventory, project.lab, phases=PHASES)
        for host_plan in plan.hosts:
            for step in host_plan.steps:
                variables = step_vars(host_plan, step, {})
                if step.action == "manifest":
                    render_manifest(step.spec, variables, templates_dir=project.templates_dir)
                else:
                    render_argv(step.spec, variables, source=step.source)

    return run


def planned(text: str) -> Run:
    """Load an inventory and plan a one-step lab on it with the provider registry's defaults."""
    from labtools.providers import host_defaults

    def run(root: Path) -> Any:
        inv = load_inventory(_write(root, "inventory.yml", text))
        the_lab = load_lab(
            _write(root, "playbooks/lab/playbook.yml", "setup:\n  - command: 'true'\n")
        )
        return build_plan(inv, the_lab, phases=PHASES, defaults=host_defaults)

    return run


def limit(pattern: str) -> Run:
    return lambda root: select_hosts(
        load_inventory(_write(root, "inv.yml", GOOD_INVENTORY)), pattern
    )


def step(body: str) -> str:
    return f"name: t\nsetup:\n  - {body}\n"


CASES = [
    # (id, run, error class, (file, line, key) or None, text the message must contain)
    (
        "yaml-syntax",
        lab("name: x\nsetup: [a,\n"),
        YamlSyntaxError,
        ("playbook.yml", 3, None),
        "YAML",
    ),
    (
        "tab-indent",
        lab("setup:\n\t- name: a\n"),
        YamlSyntaxError,
        ("playbook.yml", 2, None),
        "tabs",
    ),
    (
        "duplicate-key",
        lab("name: a\nname: b\n"),
        SchemaError,
        ("playbook.yml", 2, "name"),
        "line 1",
    ),
    ("empty-file", lab(""), SchemaError, ("playbook.yml", 1, None), "empty"),
    ("top-not-mapping", lab("- a\n- b\n"), SchemaError, ("playbook.yml", 1, None), "mapping"),
    (
        "unknown-top-key",
        lab("name: x\nsetpu: []\n"),
        SchemaError,
        ("playbook.yml", 2, "setpu"),
        "did you mean 'setup'",
    ),
    (
        "unknown-step-key",
        lab(step("{name: a, command: echo, retry: 3}")),
        SchemaError,
        ("playbook.yml", 3, "setup[0].retry"),
        "did you mean 'retries'",
    ),
    (
        "wrong-type",
        lab(step('{name: a, command: echo, retries: "x"}')),
        SchemaError,
        ("playbook.yml", 3, "setup[0].retries"),
        "got a string",
    ),
    (
        "negative-retries",
        lab(step("{name: a, command: echo, retries: -1}")),
        SchemaError,
        ("playbook.yml", 3, "setup[0].retries"),
        ">= 0",
    ),
    (
        "two-actions",
        lab(step("{name: a, command: echo, kubectl: get pods}")),
        SchemaError,
        ("playbook.yml", 3, "setup[0]"),
        "2 actions",
    ),
    (
        "no-action",
        lab(step("{name: a, retries: 1}")),
        SchemaError,
        ("playbook.yml", 3, "setup[0]"),
        "no action",
    ),
    (
        "unknown-cluster-op",
        lab(step("{name: a, cluster: strat}")),
        SchemaError,
        ("playbook.yml", 3, "setup[0].cluster"),
        "did you mean 'start'",
    ),
    (
        "bad-register",
        lab(step("{name: a, command: echo, register: pod-name}")),
        SchemaError,
        ("playbook.yml", 3, "setup[0].register"),
        "identifier",
    ),
    (
        "undefined-variable",
        rendered("vars: {app_name: x}\nsetup:\n  - name: a\n    command: echo {{ app_nme }}\n"),
        TemplateError,
        ("playbook.yml", 3, "setup[0]"),
        "did you mean 'app_name'",
    ),
    (
        "jinja-syntax",
        lab(step("{name: a, command: 'echo {{ x '}")),
        TemplateError,
        ("playbook.yml", 3, "setup[0].command"),
        "syntax error",
    ),
    (
        "jinja-syntax-in-when",
        lab(step("{name: a, command: echo, when: 'result.rc =='}")),
        TemplateError,
        ("playbook.yml", 3, "setup[0].when"),
        "syntax error",
    ),
    (
        "missing-manifest",
        lab(step("{name: a, manifest: ap.yaml}"), {"app.yaml": "a: 1\n"}),
        TemplateError,
        ("playbook.yml", 3, "setup[0].manifest"),
        "did you mean 'app.yaml'",
    ),
    (
        "broken-manifest",
        rendered(
            "vars: {v: 'x: y: z'}\nsetup:\n  - {name: a, manifest: app.yaml.j2}\n",
            {"app.yaml.j2": "kind: ConfigMap\ndata:\n  a: {{ v }}\n"},
        ),
        TemplateError,
        ("app.yaml.j2", 3, None),
        "not valid YAML",
    ),
    ("unknown-phase", lambda root: parse_phases("deply"), OptionError, None, "did you mean"),
    (
        "explain-language",
        lab(step("{name: a, command: echo, explain: {en: hi, fr: salut}}")),
        SchemaError,
        ("playbook.yml", 3, "setup[0].explain.fr"),
        "unknown key 'fr'",
    ),
    ("unknown-host-pattern", limit("h3"), InventoryError, ("inv.yml", None, "--limit"), "'h3'"),
    (
        "empty-range",
        inventory("all:\n  hosts:\n    lab-[]:\n"),
        InventoryError,
        ("inventory.yml", 3, "all.hosts.lab-[]"),
        "empty",
    ),
    (
        "reversed-range",
        inventory("all:\n  hosts:\n    lab-[09:01]:\n"),
        InventoryError,
        ("inventory.yml", 3, "all.hosts.lab-[09:01]"),
        "reversed",
    ),
    (
        "duplicate-host-in-group",
        inventory("all:\n  children:\n    g:\n      hosts:\n        h-[1:3]:\n        h-2:\n"),
        InventoryError,
        ("inventory.yml", 6, "all.children.g.hosts.h-2"),
        "lines 5 and 6",
    ),
    (
        "group-cycle",
        inventory(
            "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n"
            "            a:\n"
        ),
        InventoryError,
        ("inventory.yml", 3, None),
        "a -> b -> a",
    ),
    (
        "misspelt-setting",
        inventory("all:\n  vars:\n    proivder: fake\n"),
        SchemaError,
        ("inventory.yml", 3, "all.vars.proivder"),
        "did you mean 'provider'",
    ),
    (
        "bad-provider",
        planned("all:\n  hosts:\n    h: {provider: kind}\n"),
        ConfigError,
        ("inventory.yml", 3, "all.hosts.h.provider"),
        "minikube",
    ),
    (
        "bad-cpus",
        inventory("all:\n  vars:\n    cpus: -2\n"),
        SchemaError,
        ("inventory.yml", 3, "all.vars.cpus"),
        "integer >= 1",
    ),
    (
        "inventory-unknown-group-key",
        inventory("all:\n  hots: {}\n"),
        SchemaError,
        ("inventory.yml", 2, "all.hots"),
        "did you mean 'hosts'",
    ),
    ("malformed-set", lambda root: parse_sets(["replicas"]), OptionError, None, "key=value"),
    # issue 10, defect 1: a host name that is no DNS label used to pass, then crash a server
    (
        "host-name-rule",
        inventory("all:\n  hosts:\n    Lab_01:\n"),
        SchemaError,
        ("inventory.yml", 3, "all.hosts.Lab_01"),
        "lowercase letters a-z, digits 0-9 and '-'",
    ),
    (
        "host-name-from-range",
        inventory("all:\n  hosts:\n    Lab-[1:2]:\n"),
        SchemaError,
        ("inventory.yml", 3, "all.hosts.Lab-[1:2]"),
        "bad host name 'Lab-1'",
    ),
    (
        "profile-rule",
        inventory("all:\n  hosts:\n    h1: {profile: My_Profile}\n"),
        SchemaError,
        ("inventory.yml", 3, "all.hosts.h1.profile"),
        "minikube profile name",
    ),
    # issue 10, defect 2: two unrelated groups choosing different clusters for one host
    (
        "conflicting-profile",
        inventory(
            "all:\n  children:\n    a:\n      vars: {profile: p1}\n      hosts:\n        h1:\n"
            "    b:\n      vars: {profile: p2}\n      hosts:\n        h1:\n"
        ),
        InventoryError,
        ("inventory.yml", 6, None),
        "different `profile` from groups 'a' (line 4: 'p1') and 'b' (line 8: 'p2')",
    ),
    (
        "unknown-lab",
        lambda root: (
            _write(root, "playbooks/basics/playbook.yml", "name: b\n"),
            Project.load(root, "basic", None),
        ),
        ConfigError,
        ("playbooks", None, None),
        "did you mean 'basics'",
    ),
    (
        "lab-as-a-single-file",
        lambda root: (
            _write(root, "playbooks/old.yml", "name: old\n"),
            Project.load(root, "old", None),
        ),
        ConfigError,
        ("old.yml", None, None),
        "old/playbook.yml",
    ),
    (
        "missing-inventory",
        lambda root: (
            _write(root, "playbooks/a/playbook.yml", "name: a\n"),
            Project.load(root, "a", None),
        ),
        ConfigError,
        ("inventory.yml", None, None),
        "--inventory",
    ),
    (
        "duplicate-step-name",
        lab("setup:\n  - {name: a, command: x}\n  - {name: a, command: y}\n"),
        SchemaError,
        ("playbook.yml", 3, "setup[1].name"),
        "line 2",
    ),
    (
        "bad-tags-type",
        lab(step("{name: a, command: echo, tags: {a: 1}}")),
        SchemaError,
        ("playbook.yml", 3, "setup[0].tags"),
        "list of strings",
    ),
    (
        "env-not-scalar",
        lab(step("{name: a, command: echo, env: {A: [1]}}")),
        SchemaError,
        ("playbook.yml", 3, "setup[0].env.A"),
        "scalar",
    ),
    (
        "zero-timeout",
        lab(step("{name: a, command: echo, timeout: 0}")),
        SchemaError,
        ("playbook.yml", 3, "setup[0].timeout"),
        "> 0",
    ),
    (
        "service-without-command",
        lab(step("{name: a, service: {name: p, port: 1}}")),
        SchemaError,
        ("playbook.yml", 3, "setup[0].service"),
        "exactly one of 'kubectl' or 'command'",
    ),
    (
        "phase-not-a-list",
        lab("setup: {name: a}\n"),
        SchemaError,
        ("playbook.yml", 1, "setup"),
        "a list of steps",
    ),
]


@pytest.mark.parametrize(
    ("run", "error", "where", "says"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input(
    tmp_path: Path,
    run: Run,
    error: type[LabError],
    where: tuple[str, int | None, str | None] | None,
    says: str,
) -> None:
    with pytest.raises(LabError) as info:
        run(tmp_path)
    exc = info.value
    text = exc.format()
    assert isinstance(exc, error), f"{type(exc).__name__}: {text}"
    assert says in text
    assert exc.exit_code != 0
    assert "Traceback" not in text
    assert len(text.splitlines()) < 6
    if where is not None:
        file, line, key = where
        assert exc.location is not None
        assert Path(exc.location.file).name == file or exc.location.file.endswith(file)
        assert file in text
        if line is not None:
            assert f"{file}:{line}" in text
        if key is not None:
            assert key in text


def test_at_least_thirty_kinds() -> None:
    assert len({case[0] for case in CASES}) >= 30
