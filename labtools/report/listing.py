"""`lab.list`: the labs, the inventory's hosts and groups, the phases and the tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

from labtools.core.model import PHASES, Plan


def listing_lines(project: Any, labs: Sequence[str]) -> list[str]:
    """The listing as plain text lines."""
    lab = project.lab
    lines = ["LABS"]
    lines += [f"  {name}{'  (selected)' if name == lab.name else ''}" for name in labs]
    lines.append(f"HOSTS ({project.inventory.path})")
    for host in project.inventory.hosts.values():
        groups = ", ".join(host.groups) or "-"
        lines.append(f"  {host.name:<20} provider={host.provider:<9} groups: {groups}")
    lines.append("GROUPS")
    for group, members in project.inventory.groups.items():
        lines.append(f"  {group:<20} {len(members)} host(s)")
    lines.append(f"PHASES of {lab.name}")
    tags: set[str] = set()
    for phase in PHASES:
        steps = lab.phases.get(phase, ())
        lines.append(f"  {phase:<10} {len(steps)} step(s)")
        for step in steps:
            tags.update(step.tags)
    lines.append("TAGS")
    lines.append("  " + (", ".join(sorted(tags)) if tags else "(none)"))
    return lines


def print_listing(project: Any, labs: Sequence[str], out: IO[str]) -> None:
    """Print the listing."""
    out.write("\n".join(listing_lines(project, labs)) + "\n")


def task_lines(plan: Plan, *, tasks: bool = True, tags: bool = False) -> list[str]:
    """``--list-tasks`` / ``--list-tags``, as ansible-playbook prints them: the selected steps."""
    hosts = ", ".join(hp.host.name for hp in plan.hosts)
    lines = [f"lab: {plan.lab.path}", "", f"  {plan.lab.name} ({hosts}):"]
    steps = plan.hosts[0].steps if plan.hosts else ()
    if tasks:
        phase = None
        for step in steps:
            if step.phase != phase:
                phase = step.phase
                lines.append(f"    {phase}:")
            lines.append(f"      {step.name}\tTAGS: [{', '.join(step.tags)}]")
    if tags:
        found = sorted({tag for step in steps for tag in step.tags})
        lines.append(f"      TASK TAGS: [{', '.join(found)}]")
    return lines


def print_tasks(plan: Plan, out: IO[str], *, tasks: bool = True, tags: bool = False) -> None:
    """Print the selected steps and/or their tags."""
    out.write("\n".join(task_lines(plan, tasks=tasks, tags=tags)) + "\n")
