"""preview: the one checker of a plan (check_plan), shared by a run's load and lab.lint."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from labtools.core.errors import Location
from labtools.core.inventory import parse_inventory
from labtools.core.model import PHASES
from labtools.core.plan import build_plan
from labtools.core.playbook import parse_lab
from labtools.core.preview import check_plan
from labtools.core.yamlfile import parse_yaml
from tests.unit.test_actions import StubProvider

INVENTORY = "all:\n  hosts:\n    h1:\n    h2:\n"


def problems(lab_text: str, phases: Sequence[str] = PHASES) -> list[tuple[str | None, str]]:
    """(key, message) of every problem check_plan finds in a lab on two hosts."""
    lab = parse_lab(parse_yaml(lab_text, "lab.yml"))
    inventory = parse_inventory(parse_yaml(INVENTORY, "inventory.yml"))
    plan = build_plan(inventory, lab, phases=phases)
    found = check_plan(plan, {"h1": StubProvider(), "h2": StubProvider()}, None).problems  # type: ignore[dict-item]
    return [(p.location.key if p.location else None, p.message) for p in found]


def test_a_clean_lab_has_no_problems() -> None:
    text = (
        "vars: {n: 2}\nsetup:\n"
        "  - {name: a, command: echo hi, register: out}\n"
        "  - {name: b, command: 'echo {{ out.stdout }}', when: 'out.rc == 0',"
        " failed_when: 'result.rc * n > 1', until: \"'x' in result.stdout\"}\n"
    )
    # result.rc * n: arithmetic on a placeholder says nothing about the real value: no problem
    assert problems(text) == []


def test_a_result_used_before_the_step_that_registers_it() -> None:
    text = (
        "setup:\n"
        "  - {name: early, command: 'echo {{ out.stdout }}'}\n"
        "  - {name: late, command: echo, register: out}\n"
    )
    [(key, message)] = problems(text)  # one problem, although both hosts meet it
    assert key == "setup[0].command"
    assert message == (
        "'out' is used before it is registered: step 'late' (setup[1], line 3) registers it, "
        "which runs after this one"
    )


def test_a_result_registered_in_a_phase_this_run_leaves_out() -> None:
    text = (
        "deploy:\n  - {name: make, command: echo, register: made}\n"
        "explore:\n  - {name: use, command: 'echo {{ made.stdout }}'}\n"
    )
    assert problems(text, phases=("deploy", "explore")) == []
    [(key, message)] = problems(text, phases=("explore",))
    assert key == "explore[0].command"
    assert (
        "step 'make' (deploy[0], line 2) registers it, which this run does not include" in message
    )


@pytest.mark.parametrize("control", ["when", "until", "changed_when", "failed_when"])
def test_an_undefined_name_in_an_expression(control: str) -> None:
    text = f"vars: {{count: 1}}\nsetup:\n  - {{name: a, command: echo, {control}: 'cuont > 0'}}\n"
    [(key, message)] = problems(text)
    assert key == f"setup[0].{control}"
    assert message == "undefined variable: 'cuont' is undefined"


def test_an_unchecked_step_is_not_reported_twice() -> None:
    lab = parse_lab(parse_yaml("setup:\n  - {name: a, command: 'echo {{ nope }}'}\n", "lab.yml"))
    inventory = parse_inventory(parse_yaml(INVENTORY, "inventory.yml"))
    plan = build_plan(inventory, lab, phases=PHASES)
    step = plan.hosts[0].steps[0]
    providers = {"h1": StubProvider(), "h2": StubProvider()}
    assert len(check_plan(plan, providers, None).problems) == 1  # type: ignore[arg-type]
    skipped = check_plan(plan, providers, None, unchecked=frozenset({step.source}))  # type: ignore[arg-type]
    assert skipped.problems == ()
    assert isinstance(step.source, Location)
