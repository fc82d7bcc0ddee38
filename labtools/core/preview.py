"""The one preview of a plan: what ``lab.plan`` and ``--check`` print, rendered, running nothing.

It is also the one checker of a plan (``check_plan``): the run's ``load`` and ``lab.lint`` both
render every step through it, so whatever a run would stop on, lint reports, and the other way
round. Values known only at run time stay visible placeholders (``<POD_NAME.stdout_lines[0]>``);
a service's registered port and URL are its preferred port (the run may pick another one when
that port is taken, and then says so).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtools.core.actions import Context, Manifest, build, display_text, service_port
from labtools.core.errors import ConfigError, Location, TemplateError
from labtools.core.model import Host, HostPlan, Lab, Plan, Step
from labtools.core.plan import step_vars
from labtools.core.render import Unresolved
from labtools.providers.base import Provider


@dataclass(frozen=True)
class PlannedStep:
    """A step as the preview shows it: the rendered command line and its controls."""

    host: str
    phase: str
    step: Step
    display: str
    notes: tuple[str, ...] = ()


def notes_for(step: Step) -> tuple[str, ...]:
    """The controls shown next to a step."""
    notes = []
    if step.when:
        notes.append(f"when: {step.when}")
    if step.until:
        notes.append(f"until: {step.until} (retries {step.retries}, delay {step.delay:g}s)")
    if step.register:
        notes.append(f"register: {step.register}")
    if step.tags:
        notes.append(f"tags: {', '.join(step.tags)}")
    if step.ignore_errors:
        notes.append("ignore_errors")
    if step.no_log:
        notes.append("no_log")
    if step.interactive:
        notes.append("interactive")
    return tuple(notes)


def preview_step(
    step: Step,
    variables: Mapping[str, Any],
    host: Host,
    provider: Provider,
    *,
    templates_dir: Path | None = None,
    lab: Lab | None = None,
    extra_vars: Mapping[str, Any] | None = None,
) -> PlannedStep:
    """What ``step`` would run on ``host`` (raises TemplateError like the run would)."""
    # tty=True: show an interactive step's command rather than the "no terminal" skip
    ctx = Context(
        host=host,
        provider=provider,
        templates_dir=templates_dir,
        lab=lab,
        extra_vars=extra_vars or {},
        tty=True,
    )
    if step.action == "manifest" and templates_dir is None:  # no project: name the file only
        manifest = Manifest.of(step.spec)
        argv = provider.kubectl(host, manifest.args())
        display = f"{shlex.join(argv)} < templates/{manifest.template}"
    else:
        display = display_text(build(step, variables, ctx))
    return PlannedStep(host.name, step.phase, step, display, notes_for(step))


@dataclass(frozen=True)
class Preview:
    """Every step of a plan rendered for its host, and every problem rendering met."""

    steps: tuple[PlannedStep, ...]
    problems: tuple[ConfigError, ...] = ()


def preview_plan(
    plan: Plan, providers: Mapping[str, Provider], templates_dir: Path | None
) -> list[PlannedStep]:
    """Every step of the plan, rendered for its host; the first problem is raised (all listed)."""
    from labtools.core.playbook import problems_error

    preview = check_plan(plan, providers, templates_dir)
    if preview.problems:
        raise problems_error(preview.problems)
    return list(preview.steps)


def check_plan(
    plan: Plan,
    providers: Mapping[str, Provider],
    templates_dir: Path | None,
    *,
    unchecked: frozenset[Location] = frozenset(),
    known: frozenset[str] = frozenset(),
) -> Preview:
    """Render every step for every host in run order, and collect what fails (the one checker).

    A step sees only what the steps before it registered (a registered result is a placeholder
    here); its ``when`` is evaluated before it and ``until``/``changed_when``/``failed_when``
    with a placeholder ``result``, so a misspelt or not yet registered name is found by name.
    ``unchecked`` steps already have a problem of their own; ``known`` names are registered by
    steps that could not even be built (reported already).
    """
    planned: list[PlannedStep] = []
    # by place and text: every host, and every step using a template file, meets the same error
    problems: dict[tuple[str, int, str], ConfigError] = {}
    for host_plan in plan.hosts:
        provider = providers[host_plan.host.name]
        registered: dict[str, Any] = {name: Unresolved(name) for name in known}
        for step in host_plan.steps:
            if step.source in unchecked:
                # its action could not be built (reported already): its value may be anything,
                # a None or a number where text belongs, so it is not rendered at all
                if step.register:
                    registered[step.register] = _placeholder(step, host_plan)
                continue
            try:
                planned.append(
                    _check_step(step, host_plan, registered, provider, plan, templates_dir)
                )
            except ConfigError as exc:
                error = _explained(_in_step(exc, step), step, host_plan, plan.lab)
                problems.setdefault(_same(error), error)
            if step.register:
                registered[step.register] = _placeholder(step, host_plan)
    return Preview(tuple(planned), tuple(problems.values()))


def _check_step(
    step: Step,
    host_plan: HostPlan,
    registered: Mapping[str, Any],
    provider: Provider,
    plan: Plan,
    templates_dir: Path | None,
) -> PlannedStep:
    """The step's preview, after its ``when``; then its other expressions (by name)."""
    variables = step_vars(host_plan, step, registered)
    if step.when is not None:
        _names_in(step.when, variables, step, "when")
    item = preview_step(
        step,
        variables,
        host_plan.host,
        provider,
        templates_dir=templates_dir,
        lab=plan.lab,
        extra_vars=host_plan.extra_vars,
    )
    scope = {**variables, "result": Unresolved("result")}
    for key in ("until", "changed_when", "failed_when"):
        expression = getattr(step, key)
        if isinstance(expression, str):
            _names_in(expression, scope, step, key)
    if step.check is not None:
        _check_probe(step, variables, host_plan, provider, plan.lab, templates_dir)
    return item


def _check_probe(
    step: Step,
    variables: Mapping[str, Any],
    host_plan: HostPlan,
    provider: Provider,
    lab: Lab,
    templates_dir: Path | None,
) -> None:
    """The step's ``check:`` (tutor mode, ``lab.test``) renders too, and its ``that`` by name."""
    from labtools.core.checks import build_probe

    ctx = Context(
        host=host_plan.host,
        provider=provider,
        templates_dir=templates_dir,
        lab=lab,
        extra_vars=host_plan.extra_vars,
        tty=True,
    )
    # a service step's check sees the port the service got; any port renders the same
    scope = {**variables, "port": 0}
    build_probe(step, scope, ctx, own_command=("placeholder",))
    if step.check is not None and step.check.that:
        _names_in(step.check.that, {**scope, "result": Unresolved("result")}, step, "check.that")


def _names_in(expression: str, variables: Mapping[str, Any], step: Step, key: str) -> None:
    """Evaluate an expression to find undefined names (its value here means nothing).

    Placeholders stand in for results, so arithmetic on them may fail where the real values
    would not: only undefined names and syntax errors are problems.
    """
    from labtools.core.render import evaluate

    where = Location(step.source.file, step.source.line, f"{step.source.key}.{key}")
    try:
        evaluate(expression, variables, source=where)
    except TemplateError as exc:
        if exc.message.startswith(("undefined variable", "template syntax error")):
            raise


def _same(error: ConfigError) -> tuple[str, int, str]:
    """What makes two problems one: the place and the message (not which step met it)."""
    where = error.location
    return (where.file, where.line or 0, error.message) if where else ("", 0, error.message)


def _in_step(error: ConfigError, step: Step) -> ConfigError:
    """A problem in a file of templates/ (no key of its own) names the step that uses it."""
    from labtools.core.actions import spec_at

    where = error.location
    if where is None or where.key:
        return error
    located = Location(where.file, where.line, spec_at(step).key)
    return type(error)(error.message, location=located, hint=error.hint)


def registered_placeholders(host_plan: HostPlan) -> dict[str, Any]:
    """What every step of the host registers, as a preview has it (cards, images of a lab)."""
    return {s.register: _placeholder(s, host_plan) for s in host_plan.steps if s.register}


def _placeholder(step: Step, host_plan: HostPlan) -> Any:
    """What a step registers, in a preview: a service's preferred port and URL, else a stand-in."""
    if step.action == "service":
        try:
            port = service_port(step, step_vars(host_plan, step, {}))
        except ConfigError:
            port = None
        if port is not None:
            return {"port": port, "url": f"http://127.0.0.1:{port}"}
    return Unresolved(step.register or "")


def _explained(exc: ConfigError, step: Step, host_plan: HostPlan, lab: Lab) -> ConfigError:
    """An undefined name that some step registers: say which step, and why it is not there yet."""
    import re

    match = re.search(r"'([^']+)' is undefined", exc.message)
    if match is None:
        return exc
    name = match.group(1)
    owner = next((s for steps in lab.phases.values() for s in steps if s.register == name), None)
    if owner is None:
        return exc
    where = f"{owner.source.key}, line {owner.source.line}"
    planned = [s.source for s in host_plan.steps]
    if owner.source in planned and planned.index(owner.source) >= planned.index(step.source):
        why = "which runs after this one"
        hint = "move the step that registers it before the steps that use it"
    else:
        why = "which this run does not include"
        hint = "run its phase too, or tag it `always` (tags select steps: --tags/--skip-tags)"
    return TemplateError(
        f"'{name}' is used before it is registered: step '{owner.name}' ({where}) registers "
        f"it, {why}",
        location=exc.location,
        hint=hint,
    )
