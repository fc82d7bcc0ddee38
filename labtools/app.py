"""The application layer behind the invoke tasks: load, plan, pick providers, run, report.

Raises `LabError`s; never prints errors or exits (tasks.py does that).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labtools.core.errors import OptionError, RunFailed
from labtools.core.model import PHASES, Host, Plan
from labtools.core.results import RunSummary
from labtools.providers.base import ProcOutput, Provider


def _project(root: Path, lab: str | None, inventory: str | None) -> Any:
    from labtools.core.project import Project

    return Project.load(root, lab, inventory)


def _plan(root: Path, project: Any, phases: Sequence[str], options: Mapping[str, Any]) -> Plan:
    from labtools.core.options import parse_sets, parse_tags
    from labtools.core.plan import build_plan

    internal = {"project_root": str(root), "inventory_file": str(project.inventory.path)}
    extra = {**internal, **parse_sets(options.get("sets") or [])}
    return build_plan(
        project.inventory,
        project.lab,
        phases=phases,
        limit=options.get("limit"),
        tags=parse_tags(options.get("tags")),
        skip_tags=parse_tags(options.get("skip_tags")),
        extra_vars=extra,
        check=bool(options.get("check")),
    )


def _providers(plan: Plan) -> tuple[dict[str, Provider], list[str]]:
    """One provider per host (``auto`` resolved), and the banners to show."""
    from labtools.providers import provider_for

    providers: dict[str, Provider] = {}
    banners: list[str] = []
    for host_plan in plan.hosts:
        provider, banner = provider_for(host_plan.host)
        providers[host_plan.host.name] = provider
        if banner:
            banners.append(banner)
    return providers, banners


def _forks(value: Any) -> int:
    try:
        forks = int(value or 5)
    except (TypeError, ValueError) as exc:
        raise OptionError(f"--forks must be a number, got {value!r}") from exc
    if forks < 1:
        raise OptionError(f"--forks must be at least 1, got {forks}")
    return forks


def run_lab(root: Path, *, phases: Sequence[str], **options: Any) -> RunSummary:
    """Run the given phases of a lab on the selected hosts; raise RunFailed when a step failed."""
    from labtools.effects.rundir import new_run_dir
    from labtools.effects.runner import run_plan
    from labtools.report import Reporter
    from labtools.report.console import ConsoleReporter
    from labtools.report.journal import JournalReporter
    from labtools.report.junit import JUnitReporter

    forks = _forks(options.get("forks"))
    project = _project(root, options.get("lab"), options.get("inventory"))
    plan = _plan(root, project, phases, options)
    providers, banners = _providers(plan)
    if not plan.check and "setup" in phases:
        _preflight([hp.host for hp in plan.hosts], providers)
    run_dir = new_run_dir(root / "runs", project.lab.name, _label(phases))
    console = ConsoleReporter(
        sys.stdout, verbose=bool(options.get("verbose")), lang=str(options.get("lang") or "en")
    )
    for banner in banners:
        console.banner(banner)
    reporters: list[Reporter] = [
        console,
        JournalReporter(run_dir),
        JUnitReporter(run_dir / "steps.junit.xml"),
    ]
    summary = run_plan(
        plan,
        providers,
        reporters=reporters,
        run_dir=run_dir,
        templates_dir=project.templates_dir,
        verbose=bool(options.get("verbose")),
        forks=forks,
    )
    if summary.interrupted:
        from labtools.core.errors import Interrupted

        raise Interrupted(f"interrupted; everything the run started was stopped (run: {run_dir})")
    if summary.failed:
        bad = [r for r in summary.results if r.status == "failed" and not r.ignored]
        failed = sorted({f"{r.host}: {r.step}" for r in bad})
        raise RunFailed(
            f"{len(failed)} step(s) failed: " + "; ".join(failed),
            hint=f"the recap above has the details; the journal is {run_dir / 'journal.jsonl'}",
        )
    return summary


def _label(phases: Sequence[str]) -> str:
    """The run directory's label: ``up`` for the four phases of lab.up, else the phases."""
    if tuple(phases) == PHASES[:4]:
        return "up"
    return "-".join(phases)


def _preflight(hosts: Sequence[Host], providers: Mapping[str, Provider]) -> None:
    """Check binaries, driver, CPU, memory and disk before anything starts."""
    import shutil

    from labtools.providers.preflight import run_preflight

    run_preflight(list(hosts), dict(providers), which=shutil.which, run=_probe)


def _probe(argv: Sequence[str]) -> ProcOutput:
    """Run a read-only fact-gathering command (preflight) with a short timeout."""
    from labtools.core.errors import MissingBinaryError
    from labtools.core.model import Command
    from labtools.effects.process import run

    try:
        result = run(Command(tuple(argv), timeout=30.0))
    except MissingBinaryError as exc:
        return ProcOutput(rc=127, stdout="", stderr=str(exc))
    return ProcOutput(rc=result.rc, stdout=result.stdout, stderr=result.stderr)


def show_plan(root: Path, *, phase: str | None = None, **options: Any) -> None:
    """Print the rendered commands of the selected phases for every selected host."""
    from labtools.core.options import parse_phases
    from labtools.report.plan_view import print_plan

    phases = parse_phases(phase) if phase else PHASES
    project = _project(root, options.get("lab"), options.get("inventory"))
    plan = _plan(root, project, phases, {**options, "check": True})
    providers, banners = _providers(plan)
    for banner in banners:
        print(banner, file=sys.stderr)
    print_plan(describe_plan(plan, providers, project.templates_dir), sys.stdout)


def describe_plan(
    plan: Plan, providers: Mapping[str, Provider], templates_dir: Path | None
) -> list[Any]:
    """Every step of the plan, rendered for its host; registered values stay placeholders."""
    from labtools.core.actions import describe
    from labtools.core.plan import registered_placeholders, step_vars

    planned = []
    for host_plan in plan.hosts:
        registered = {**registered_placeholders(host_plan), **_service_placeholders(host_plan)}
        for step in host_plan.steps:
            variables = step_vars(host_plan, step, registered)
            provider = providers[host_plan.host.name]
            planned.append(
                describe(step, variables, host_plan.host, provider, templates_dir=templates_dir)
            )
    return planned


def _service_placeholders(host_plan: Any) -> dict[str, Any]:
    """Plan mode: a service's registered port and URL are its preferred port (the run may pick
    another one when that port is taken, and then says so)."""
    from labtools.core.actions import service_port
    from labtools.core.plan import step_vars

    found: dict[str, Any] = {}
    for step in host_plan.steps:
        if step.action != "service" or not step.register:
            continue
        port = service_port(step, step_vars(host_plan, step, {}))
        if port is not None:
            found[step.register] = {"port": port, "url": f"http://127.0.0.1:{port}"}
    return found


def show_list(root: Path, *, lab: str | None, inventory: str | None) -> None:
    """Print the labs, hosts, groups, phases and tags."""
    from labtools.core.playbook import list_labs
    from labtools.report.listing import print_listing

    project = _project(root, lab, inventory)
    labs = list_labs(project.playbooks_dir)
    print_listing(project, labs, out=sys.stdout)


def debug_enabled() -> bool:
    """True when LABTOOLS_DEBUG asks for tracebacks."""
    return bool(os.environ.get("LABTOOLS_DEBUG"))
