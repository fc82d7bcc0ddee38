"""plan: variable precedence through step_vars, tags, --limit, phases."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from labtools.core.errors import InventoryError, OptionError, TemplateError
from labtools.core.inventory import parse_inventory
from labtools.core.model import PHASES, Inventory, Lab
from labtools.core.plan import build_plan, selected_by_tags, step_vars
from labtools.core.playbook import parse_lab
from labtools.core.project import Project
from labtools.core.render import Unresolved, render_argv
from labtools.core.yamlfile import parse_yaml
from labtools.providers import host_defaults

INVENTORY = """
all:
  vars: {provider: fake, v: all_vars, group_only: g}
  children:
    outer:
      vars: {v: outer}
      children:
        inner:
          vars: {v: inner}
          hosts:
            h1: {v: host}
            h2:
    other:
      hosts:
        h3:
"""

LAB = """
name: prec
hosts: all
vars: {v: lab, lab_only: L, url: "http://{{ lab_only }}/{{ v }}"}
setup:
  - name: show
    command: echo {{ v }}
    vars: {v: step}
    register: r
  - name: plain
    command: echo {{ v }}
  - name: uses later
    command: echo {{ later.stdout }}
    tags: [t1]
  - name: tagged never
    command: echo n
    tags: [never, extra]
  - name: always
    command: echo a
    tags: [always]
deploy:
  - name: deploy step
    command: echo d
    tags: [t2]
"""


def inventory(text: str = INVENTORY) -> Inventory:
    return parse_inventory(parse_yaml(text, "inventory.yml"))


def lab(text: str = LAB) -> Lab:
    return parse_lab(parse_yaml(text, "lab.yml"))


def plan(**options: Any) -> Any:
    options.setdefault("phases", PHASES)
    options.setdefault("defaults", host_defaults)
    return build_plan(inventory(), lab(), **options)


def variables(host: str, step: int, registered: dict[str, Any], **options: Any) -> dict[str, Any]:
    p = plan(**options)
    host_plan = next(hp for hp in p.hosts if hp.host.name == host)
    return step_vars(host_plan, host_plan.steps[step], registered)


@pytest.mark.parametrize(
    ("host", "step", "registered", "extra", "expected"),
    [
        ("h3", 1, {}, None, "all_vars"),  # group `all` beats lab vars
        ("h2", 1, {}, None, "inner"),  # child group beats parent group
        ("h1", 1, {}, None, "host"),  # host vars beat groups
        ("h1", 0, {}, None, "step"),  # step vars beat host vars
        ("h1", 0, {"v": "registered"}, None, "registered"),  # registered beats step vars
        ("h1", 0, {"v": "registered"}, {"v": "extra"}, "extra"),  # --set beats everything
    ],
)
def test_precedence(
    host: str, step: int, registered: dict[str, Any], extra: dict[str, Any] | None, expected: str
) -> None:
    assert variables(host, step, registered, extra_vars=extra)["v"] == expected


def test_lab_vars_are_the_lowest_layer() -> None:
    found = variables("h3", 1, {})
    assert found["lab_only"] == "L"
    assert found["group_only"] == "g"


def test_magic_variables() -> None:
    found = variables("h1", 0, {})
    assert found["inventory_hostname"] == "h1"
    assert found["lab_name"] == "prec"
    assert found["provider"] == "fake"
    assert found["group_names"] == ["inner", "outer"]
    assert found["phase"] == "setup"


def test_templated_lab_var_resolves_with_host_values() -> None:
    assert variables("h1", 1, {})["url"] == "http://L/host"


def test_registered_values_are_never_rendered() -> None:
    found = variables("h1", 1, {"r": {"stdout": "{{ lab_only }}"}})
    assert found["r"]["stdout"] == "{{ lab_only }}"


def test_extra_vars_reach_the_host_for_providers() -> None:
    p = plan(extra_vars={"cpus": 4, "project_root": "/p"})
    assert p.hosts[0].host.vars["cpus"] == 4
    assert p.hosts[0].host.vars["project_root"] == "/p"


def test_unknown_provider_from_set() -> None:
    with pytest.raises(Exception, match="unknown provider 'kind'"):
        plan(extra_vars={"provider": "kind"})


def _host_vars(inventory_host: str, lab_vars: str = "{}", extra: Any = None) -> dict[str, Any]:
    """The planned vars of host h: lab vars, one inventory host line, --set."""
    inv = inventory(f"all:\n  hosts:\n    h: {inventory_host}\n")
    the_lab = parse_lab(parse_yaml(f"name: l\nvars: {lab_vars}\nsetup: []\n", "lab.yml"))
    p = build_plan(inv, the_lab, phases=PHASES, extra_vars=extra, defaults=host_defaults)
    return dict(p.hosts[0].vars)


@pytest.mark.parametrize(
    ("inventory_host", "lab_vars", "extra", "key", "value"),
    [
        # provider defaults are the lowest layer, applied once
        ("{}", "{}", None, "provider", "auto"),
        ("{}", "{}", None, "profile", "h"),
        ("{}", "{}", None, "namespace", "default"),
        ("{}", "{}", None, "kube_context", "h"),
        ("{profile: p}", "{}", None, "kube_context", "p"),
        ("{provider: context, kube_context: c}", "{}", None, "namespace", "lab-h"),
        ("{provider: fake}", "{}", None, "namespace", "default"),
        ("{namespace: ns}", "{}", None, "namespace", "ns"),
        # a lab value beats a provider default ...
        ("{}", "{namespace: demo}", None, "namespace", "demo"),
        ("{provider: context, kube_context: c}", "{namespace: demo}", None, "namespace", "demo"),
        ("{}", "{profile: labp}", None, "kube_context", "labp"),
        # ... and an explicit inventory value beats the lab, even when it equals a default
        ("{namespace: default}", "{namespace: demo}", None, "namespace", "default"),
        ("{profile: h}", "{profile: labp}", None, "profile", "h"),
        ("{provider: auto}", "{provider: fake}", None, "provider", "auto"),
        # --set beats everything
        ("{namespace: default}", "{namespace: demo}", {"namespace": "x"}, "namespace", "x"),
        ("{}", "{}", {"provider": "context", "kube_context": "c"}, "namespace", "lab-h"),
    ],
)
def test_precedence_with_provider_defaults(
    inventory_host: str, lab_vars: str, extra: Any, key: str, value: str
) -> None:
    assert _host_vars(inventory_host, lab_vars, extra)[key] == value


@pytest.mark.parametrize(
    ("inventory_host", "lab_vars", "sets", "key", "value"),
    [
        # no schema: text, whatever it looks like (issue 10, defect 2)
        ("{}", "{}", ["kubernetes_version=1.30"], "kubernetes_version", "1.30"),
        ("{}", "{app_name: web}", ["app_name=web: v2"], "app_name", "web: v2"),
        ("{}", "{}", ["note=007"], "note", "007"),
        ("{}", "{}", ["flag=true"], "flag", "true"),
        ("{}", "{tag: v1}", ["tag=1.0"], "tag", "1.0"),
        # the value it overrides gives the type: the lab's ...
        ("{}", "{replicas: 1}", ["replicas=3"], "replicas", 3),
        ("{}", "{ratio: 0.5}", ["ratio=2"], "ratio", 2.0),
        ("{}", "{debug: false}", ["debug=yes"], "debug", True),
        ("{}", "{items: [a]}", ["items=[b, c]"], "items", ["b", "c"]),
        ("{}", "{db: {port: 5432, host: x}}", ["db.port=6543"], "db", {"port": 6543}),
        # ... or the inventory's, which beats the lab's
        ("{replicas: '2'}", "{replicas: 1}", ["replicas=3"], "replicas", "3"),
        ("{wait: 5}", "{}", ["wait=10"], "wait", 10),
        # provider settings have their own types
        ("{}", "{}", ["cpus=4"], "cpus", 4),
        ("{}", "{}", ["keep=true"], "keep", True),
        ("{}", "{}", ["addons=ingress,metrics-server"], "addons", ["ingress", "metrics-server"]),
        ("{}", "{}", ["memory=4g"], "memory", "4g"),
    ],
)
def test_set_values_are_typed_by_the_schema_only(
    inventory_host: str, lab_vars: str, sets: list[str], key: str, value: Any
) -> None:
    from labtools.core.options import parse_sets

    found = _host_vars(inventory_host, lab_vars, parse_sets(sets))[key]
    assert found == value
    assert type(found) is type(value)


@pytest.mark.parametrize(
    ("lab_vars", "item", "message"),
    [
        ("{replicas: 1}", "replicas=three", "replicas is an integer (the value it overrides"),
        ("{debug: false}", "debug=maybe", "debug is true or false"),
        ("{}", "cpus=0", "expected an integer >= 1"),
        ("{}", "cpus=two", "cpus is an integer (a provider setting)"),
        ("{}", "namespace=Lab_1", "expected a DNS-1123 label"),
    ],
)
def test_set_value_that_does_not_fit_its_schema(lab_vars: str, item: str, message: str) -> None:
    from labtools.core.options import parse_sets

    with pytest.raises(OptionError, match=re.escape(message)) as caught:
        _host_vars("{}", lab_vars, parse_sets([item]))
    assert caught.value.hint


def test_no_defaults_without_a_registry() -> None:
    inv = inventory("all:\n  hosts:\n    h: {}\n")
    p = build_plan(inv, lab(), phases=PHASES)
    assert p.hosts[0].host.provider == "auto"
    assert "namespace" not in p.hosts[0].vars


@pytest.mark.parametrize(
    ("flag", "value", "message", "hint"),
    [
        ("tags", "exrta", "--tags: unknown tag 'exrta'", "did you mean 'extra'?"),
        ("skip_tags", "nosuch", "--skip-tags: unknown tag 'nosuch'", "tags of prec: "),
    ],
)
def test_unknown_tags_are_errors(flag: str, value: str, message: str, hint: str) -> None:
    with pytest.raises(OptionError) as caught:
        plan(**{flag: frozenset({value})})
    assert caught.value.message == message
    assert hint in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("tags", "skip", "names"),
    [
        ((), (), ["show", "plain", "uses later", "always", "deploy step"]),
        (("t1",), (), ["uses later", "always"]),
        (("extra",), (), ["tagged never", "always"]),
        (("never",), (), ["tagged never", "always"]),
        ((), ("t1",), ["show", "plain", "always", "deploy step"]),
        ((), ("always",), ["show", "plain", "uses later", "deploy step"]),
        (("t1",), ("always",), ["uses later"]),
        (("tagged",), (), ["uses later", "always", "deploy step"]),
        (("untagged",), (), ["show", "plain", "always"]),
        ((), ("all",), ["always"]),
    ],
)
def test_tags(tags: tuple[str, ...], skip: tuple[str, ...], names: list[str]) -> None:
    p = plan(tags=frozenset(tags), skip_tags=frozenset(skip))
    assert [s.name for s in p.hosts[0].steps] == names


@pytest.mark.parametrize(
    ("step_tags", "tags", "skip", "expected"),
    [
        ((), set(), set(), True),
        (("never",), set(), set(), False),
        (("always",), {"x"}, set(), True),
        (("always",), set(), {"always"}, False),
        (("a", "b"), {"b"}, set(), True),
        (("a", "b"), set(), {"b"}, False),
    ],
)
def test_selected_by_tags(
    step_tags: tuple[str, ...], tags: set[str], skip: set[str], expected: bool
) -> None:
    assert selected_by_tags(step_tags, frozenset(tags), frozenset(skip)) is expected


@pytest.mark.parametrize(
    ("limit", "hosts"),
    [
        (None, ["h1", "h2", "h3"]),
        ("inner", ["h1", "h2"]),
        ("h*:!h2", ["h1", "h3"]),
        ("outer:&other", None),
    ],
)
def test_limit(limit: str | None, hosts: list[str] | None) -> None:
    if hosts is None:
        with pytest.raises(InventoryError, match="selects none"):
            plan(limit=limit)
        return
    assert [hp.host.name for hp in plan(limit=limit).hosts] == hosts


def test_lab_hosts_pattern_intersects_limit() -> None:
    restricted = lab(LAB.replace("hosts: all", "hosts: inner"))
    p = build_plan(inventory(), restricted, phases=PHASES, limit="h1,h3")
    assert [hp.host.name for hp in p.hosts] == ["h1"]


def test_unknown_lab_hosts_pattern_points_at_the_lab() -> None:
    restricted = lab(LAB.replace("hosts: all", "hosts: innr"))
    with pytest.raises(InventoryError) as info:
        build_plan(inventory(), restricted, phases=PHASES)
    assert info.value.location is not None
    assert info.value.location.file == "lab.yml"
    assert info.value.hint == "did you mean 'inner'?"


@pytest.mark.parametrize(
    ("phases", "steps"), [(("deploy",), 1), (("setup",), 4), (("teardown",), 0)]
)
def test_phases(phases: tuple[str, ...], steps: int) -> None:
    p = plan(phases=phases)
    assert p.phases == phases
    assert len(p.hosts[0].steps) == steps
    assert all(s.phase in phases for s in p.hosts[0].steps)


def test_unknown_phase() -> None:
    with pytest.raises(OptionError, match="did you mean 'deploy'"):
        plan(phases=("deplyo",))


def test_plan_mode_renders_with_placeholders() -> None:
    host_plan = plan().hosts[0]
    later = host_plan.steps[2]
    argv = render_argv(later.spec, step_vars(host_plan, later, {"later": Unresolved("later")}))
    assert argv == ("echo", "<later.stdout>")


def test_using_an_unregistered_result_fails_clearly() -> None:
    host_plan = plan().hosts[0]
    later = host_plan.steps[2]
    with pytest.raises(TemplateError, match="later"):
        render_argv(later.spec, step_vars(host_plan, later, {}), source=later.source)


def test_project_load_and_plan(project: Path) -> None:
    loaded = Project.load(project, "demo", None)
    assert loaded.lab.name == "demo"
    assert loaded.templates_dir == project.resolve() / "templates"
    p = build_plan(loaded.inventory, loaded.lab, phases=("deploy",), limit="workshop")
    assert [hp.host.name for hp in p.hosts] == ["lab-01", "lab-02", "lab-03"]
    step = p.hosts[0].steps[0]
    argv = render_argv(step.spec, step_vars(p.hosts[0], step, {}))
    assert argv == ("create", "deployment", "hello", "--image=nginx")


def test_project_picks_the_only_lab(project: Path) -> None:
    assert Project.load(project, None, None).lab.name == "demo"


def test_the_variables_of_no_log_steps_are_named_for_masking() -> None:
    text = """
name: quiet
hosts: all
setup:
  - name: loud
    command: echo {{ app_name }}
  - name: quiet
    command: "curl -H 'Authorization: Bearer {{ api_key }}' {{ url }}"
    stdin: "{{ body }}"
    env: {TOKEN: "{{ token }}"}
    no_log: true
"""
    from labtools.core.plan import no_log_names

    assert no_log_names(lab(text)) == {"api_key", "url", "body", "token"}
