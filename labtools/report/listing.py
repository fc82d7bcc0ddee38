"""`lab.list`: the labs, the inventory's hosts and groups, the phases and the tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, Any

from labtools.core.i18n import SOURCE_LANGUAGE, translator
from labtools.core.messages import Text
from labtools.core.model import PHASES, Plan


def listing_lines(
    project: Any,
    labs: Sequence[str],
    lang: str = SOURCE_LANGUAGE,
    descriptions: Mapping[str, Text] | None = None,
) -> list[str]:
    """The listing as plain text lines (each lab with its description)."""
    tr = translator(lang)
    lab = project.lab
    selected = tr.gettext("(selected)")
    about = descriptions or {}
    width = max((len(name) for name in labs), default=0) + 2
    lines = [tr.gettext("LABS")]
    for name in labs:
        text = f"  {name:<{width}}{tr.render(about.get(name, ''))}".rstrip()
        lines.append(text + ("  " + selected if name == lab.name else ""))
    lines.append(tr.gettext("HOSTS ({inventory})", inventory=project.inventory.path))
    for host in project.inventory.hosts.values():
        groups = ", ".join(host.groups) or "-"
        provider = host.provider.ljust(9)
        details = tr.gettext(
            "provider={provider} groups: {groups}", provider=provider, groups=groups
        )
        lines.append(f"  {host.name:<20} {details}")
    lines.append(tr.gettext("GROUPS"))
    for group, members in project.inventory.groups.items():
        count = tr.ngettext("{n} host", "{n} hosts", len(members))
        lines.append(f"  {group:<20} {count}")
    lines.append(tr.gettext("PHASES of {lab}", lab=lab.name))
    tags: set[str] = set()
    for phase in PHASES:
        steps = lab.phases.get(phase, ())
        count = tr.ngettext("{n} step", "{n} steps", len(steps))
        lines.append(f"  {phase:<10} {count}")
        for step in steps:
            tags.update(step.tags)
    lines.append(tr.gettext("TAGS"))
    lines.append("  " + (", ".join(sorted(tags)) if tags else tr.gettext("(none)")))
    return lines


def print_listing(
    project: Any,
    labs: Sequence[str],
    out: IO[str],
    lang: str = SOURCE_LANGUAGE,
    descriptions: Mapping[str, Text] | None = None,
) -> None:
    """Print the listing."""
    out.write("\n".join(listing_lines(project, labs, lang, descriptions)) + "\n")


def task_lines(
    plan: Plan, *, tasks: bool = True, tags: bool = False, lang: str = SOURCE_LANGUAGE
) -> list[str]:
    """``--list-tasks`` / ``--list-tags``, as ansible-playbook prints them: the selected steps."""
    tr = translator(lang)
    hosts = ", ".join(hp.host.name for hp in plan.hosts)
    lines = [tr.gettext("lab: {path}", path=plan.lab.path), "", f"  {plan.lab.name} ({hosts}):"]
    steps = plan.hosts[0].steps if plan.hosts else ()
    if tasks:
        phase = None
        for step in steps:
            if step.phase != phase:
                phase = step.phase
                lines.append(f"    {phase}:")
            step_tags = tr.gettext("TAGS: [{tags}]", tags=", ".join(step.tags))
            lines.append(f"      {step.name}\t{step_tags}")
    if tags:
        found = sorted({tag for step in steps for tag in step.tags})
        lines.append("      " + tr.gettext("TASK TAGS: [{tags}]", tags=", ".join(found)))
    return lines


def print_tasks(
    plan: Plan,
    out: IO[str],
    *,
    tasks: bool = True,
    tags: bool = False,
    lang: str = SOURCE_LANGUAGE,
) -> None:
    """Print the selected steps and/or their tags."""
    out.write("\n".join(task_lines(plan, tasks=tasks, tags=tags, lang=lang)) + "\n")
