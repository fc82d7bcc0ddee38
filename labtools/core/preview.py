"""The one preview of a plan: what ``lab.plan`` and ``--check`` print, rendered, running nothing.

Values known only at run time stay visible placeholders (``<POD_NAME.stdout_lines[0]>``); a
service's registered port and URL are its preferred port (the run may pick another one when that
port is taken, and then says so).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtools.core.actions import Context, Manifest, build, display_text, service_port
from labtools.core.model import Host, HostPlan, Lab, Plan, Step
from labtools.core.plan import registered_placeholders, step_vars
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


def preview_plan(
    plan: Plan, providers: Mapping[str, Provider], templates_dir: Path | None
) -> list[PlannedStep]:
    """Every step of the plan, rendered for its host (providers keyed by host name)."""
    planned = []
    for host_plan in plan.hosts:
        registered = {**registered_placeholders(host_plan), **_service_placeholders(host_plan)}
        provider = providers[host_plan.host.name]
        for step in host_plan.steps:
            variables = step_vars(host_plan, step, registered)
            planned.append(
                preview_step(
                    step,
                    variables,
                    host_plan.host,
                    provider,
                    templates_dir=templates_dir,
                    lab=plan.lab,
                    extra_vars=host_plan.extra_vars,
                )
            )
    return planned


def _service_placeholders(host_plan: HostPlan) -> dict[str, Any]:
    """A service's registered port and URL: its preferred port."""
    found: dict[str, Any] = {}
    for step in host_plan.steps:
        if step.action != "service" or not step.register:
            continue
        port = service_port(step, step_vars(host_plan, step, {}))
        if port is not None:
            found[step.register] = {"port": port, "url": f"http://127.0.0.1:{port}"}
    return found
