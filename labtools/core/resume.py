"""Start a run part-way (pure): ``--start-at STEP`` and ``--resume`` from the last run's journal.

Both drop steps from the front of each host's plan. Steps before the start that ``register`` a
value or start a ``service`` run again all the same: later steps read what they registered, and
a background service (``kubectl proxy``) dies with the run that started it. ``--resume`` restores
instead what the skipped steps registered last time, when the journal has it unmasked.

``--resume`` is Ansible's ``--limit @failed`` made per step: a host that failed starts again at
the step that failed; a host the last run never finished (Ctrl-C) at its first unfinished step; a
host that finished is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from labtools.core.errors import OptionError
from labtools.core.messages import msg
from labtools.core.model import HostPlan, Plan, Step
from labtools.core.redact import MASK
from labtools.core.yamlfile import did_you_mean

StepKey = tuple[str, str]  # (phase, step name)


def key(step: Step) -> StepKey:
    """How a step is known across runs: its phase and its name."""
    return (step.phase, step.name)


def needed_before(step: Step) -> bool:
    """A skipped step that runs anyway: it registers a value or starts a service."""
    return bool(step.register) or step.action == "service"


def cut(host_plan: HostPlan, start: int, registered: Mapping[str, Any] | None = None) -> HostPlan:
    """The host's plan from step ``start`` on, with the earlier steps it still needs."""
    restored = dict(registered or {})
    head = [
        step
        for step in host_plan.steps[:start]
        if needed_before(step) and not (step.register and step.register in restored)
    ]
    steps = (*head, *host_plan.steps[start:])
    return replace(host_plan, steps=tuple(steps), registered=restored)


def start_at(plan: Plan, name: str) -> Plan:
    """Every host's plan from the first step called ``name`` (in any phase of the run)."""
    names = list(dict.fromkeys(step.name for hp in plan.hosts for step in hp.steps))
    if name not in names:
        hint = did_you_mean(name, names) or msg(
            "steps of this run: {steps}", steps=", ".join(names) or msg("none")
        )
        raise OptionError(
            msg("--start-at: no step '{step}' in the phases that run", step=name), hint=hint
        )
    hosts = []
    for host_plan in plan.hosts:
        index = next((i for i, s in enumerate(host_plan.steps) if s.name == name), None)
        hosts.append(cut(host_plan, index) if index is not None else host_plan)
    return replace(plan, hosts=tuple(hosts))


@dataclass(frozen=True)
class Previous:
    """What one host did in the run being resumed: each step's status and registered value."""

    statuses: Mapping[StepKey, str]
    registered: Mapping[StepKey, Mapping[str, Any]]
    failed: StepKey | None


def previous_runs(records: Sequence[Mapping[str, Any]]) -> dict[str, Previous]:
    """Per host, from a journal's ``step_end`` records."""
    statuses: dict[str, dict[StepKey, str]] = {}
    registered: dict[str, dict[StepKey, Mapping[str, Any]]] = {}
    failed: dict[str, StepKey] = {}
    for record in records:
        if record.get("kind") != "step_end":
            continue
        result = record.get("result") or {}
        host, step_key = str(record["host"]), (str(record["phase"]), str(record["step"]))
        status = str(result.get("status"))
        statuses.setdefault(host, {})[step_key] = status
        if status == "failed" and not result.get("ignored"):
            failed.setdefault(host, step_key)
        value = result.get("registered")
        if isinstance(value, Mapping) and not result.get("no_log") and MASK not in str(value):
            registered.setdefault(host, {})[step_key] = value
    return {
        host: Previous(statuses[host], registered.get(host, {}), failed.get(host))
        for host in statuses
    }


def resume_point(host_plan: HostPlan, previous: Previous | None) -> int | None:
    """The index to start at: the failed step, else the one after the last that ran (a run
    that was itself resumed ran only the end of the plan); None when the host got to the end."""
    if previous is None:
        return 0
    keys = [key(step) for step in host_plan.steps]
    if previous.failed in keys:
        return keys.index(previous.failed)
    ran = [i for i, k in enumerate(keys) if k in previous.statuses]
    start = ran[-1] + 1 if ran else 0
    return start if start < len(keys) else None


def run_hosts(records: Sequence[Mapping[str, Any]]) -> set[str] | None:
    """The hosts the journal's run was started on (None: the journal does not say)."""
    for record in records:
        if record.get("kind") == "run_start":
            return {str(host) for host in record.get("hosts") or ()}
    return None


def resume(plan: Plan, records: Sequence[Mapping[str, Any]]) -> Plan:
    """The hosts the last run did not finish, each from where it stopped.

    A host the last run was not started on (``--limit``) is left out: it did not fail there.
    """
    done = previous_runs(records)
    started = run_hosts(records)
    hosts = []
    for host_plan in plan.hosts:
        if started is not None and host_plan.host.name not in started:
            continue
        previous = done.get(host_plan.host.name)
        start = resume_point(host_plan, previous)
        if start is None:
            continue
        restored: dict[str, Any] = {}
        for step in host_plan.steps[:start]:
            value = previous.registered.get(key(step)) if previous else None
            if step.register and value is not None and step.action != "service":
                restored[step.register] = dict(value)
        failed = previous.failed if previous else None
        again = failed if failed is not None and failed in map(key, host_plan.steps) else None
        hosts.append(replace(cut(host_plan, start, restored), retried=again))
    return replace(plan, hosts=tuple(hosts))
