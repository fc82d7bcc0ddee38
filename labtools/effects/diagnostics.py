"""Diagnostics of a host a failure dropped: what the cluster says, in the run directory.

``<run_dir>/diagnostics/<host>/``: ``events.txt`` (the namespace's events), ``describe.txt`` (the
objects that are not ready), ``logs/<pod>.<container>[.previous].txt`` (failing containers, the
one before a restart too), ``minikube-status.json`` and ``minikube-logs.txt`` (minikube hosts),
and ``README.txt`` (the failed step, the reason, what ran). Everything passes the run's
``Redactor`` before it is written; the whole collection has one time budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from labtools.core.diagnose import NO_ANSWER, list_items
from labtools.core.diagnostics import failure_reason, findings, log_args
from labtools.core.errors import LabError
from labtools.core.messages import Text
from labtools.core.model import Command, HostPlan
from labtools.core.redact import Redactor
from labtools.core.results import HostFailure, Output, StepResult
from labtools.providers.base import Provider

DEFAULT_BUDGET = 60.0  # seconds for one host's diagnostics (var `diagnostics_timeout`)
COMMAND_TIMEOUT = 20.0
MAX_LOGS = 10  # failing containers whose logs are kept
Run = Callable[[Command], Output]


@dataclass
class Collector:
    """Runs the commands of one host's diagnostics within a deadline and writes the files."""

    folder: Path
    redactor: Redactor
    run: Run
    deadline: float
    env: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    cut_short: bool = False
    timeout: float = COMMAND_TIMEOUT
    silent: str | None = None  # the first command the server gave no answer: ask it no more

    def command(self, argv: tuple[str, ...]) -> Output | None:
        """Run one command if time is left (None when the budget is spent or the server has
        stopped answering: each further question would only wait out its own timeout)."""
        left = self.deadline - time.monotonic()
        if left <= 1 or self.silent is not None:
            self.cut_short = self.cut_short or self.silent is None
            return None
        self.ran.append(" ".join(argv))
        try:
            out = self.run(Command(argv, env=self.env, timeout=min(self.timeout, left)))
        except LabError as exc:
            return Output(rc=None, stderr=exc.format(), failed=True)
        if out.timed_out or NO_ANSWER.search(out.stderr):
            self.silent = " ".join(argv)
        return out

    def save(self, name: str, out: Output | None) -> None:
        """Write a command's output (masked) to ``name``."""
        if out is None:
            return
        text = out.stdout if out.rc == 0 else f"{out.stdout}{out.stderr}"
        self.write(name, text or f"(no output, exit code {out.rc})\n")

    def write(self, name: str, text: str) -> None:
        """Write masked text."""
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.redactor.text(text), encoding="utf-8")


def diagnose_host(
    host_plan: HostPlan,
    provider: Provider,
    result: StepResult,
    *,
    run_dir: Path,
    redactor: Redactor,
    run: Run,
) -> HostFailure:
    """Collect one host's diagnostics; the failure with its reason and folder."""
    host = host_plan.host
    budget = float(host.vars.get("diagnostics_timeout") or DEFAULT_BUDGET)
    folder = run_dir / "diagnostics" / host.name
    collector = Collector(
        folder,
        redactor,
        run,
        time.monotonic() + budget,
        dict(provider.admin_env(host)),
        timeout=min(COMMAND_TIMEOUT, float(host.vars.get("command_timeout") or COMMAND_TIMEOUT)),
    )
    kubectl = provider.admin_kubectl
    collector.save(
        "events.txt",
        collector.command(kubectl(host, ("get", "events", "--sort-by=.lastTimestamp"))),
    )
    listing = collector.command(
        kubectl(host, ("get", "pods,deployments,replicasets", "-o", "json"))
    )
    found = findings(list_items(listing.stdout if listing and listing.rc == 0 else ""))
    if found.not_ready:
        collector.save(
            "describe.txt", collector.command(kubectl(host, ("describe", *found.not_ready)))
        )
    for pod, container, restarted in found.containers[:MAX_LOGS]:
        for previous in (False, True) if restarted else (False,):
            suffix = ".previous" if previous else ""
            out = collector.command(kubectl(host, log_args(pod, container, previous)))
            collector.save(f"logs/{pod}.{container}{suffix}.txt", out)
    if provider.has_minikube:
        collector.save(
            "minikube-status.json",
            collector.command(provider.minikube(host, ("status", "-o", "json"))),
        )
        collector.save("minikube-logs.txt", collector.command(provider.minikube(host, ("logs",))))
    reason = found.reason or failure_reason(result)
    collector.write("README.txt", readme(result, reason, found.details, collector, budget))
    return HostFailure(host.name, result.phase, result.step, reason, str(folder))


def readme(
    result: StepResult, reason: Text, details: tuple[str, ...], collector: Collector, budget: float
) -> str:
    """What failed, why, what is not ready and what ran to find out."""
    lines = [
        f"host {result.host} failed at '{result.step}' ({result.phase}): {reason}",
        f"step message: {result.message or '-'}",
        "",
        "not ready:" if details else "everything in the namespace is ready",
        *(f"  {line}" for line in details),
        "",
        "commands run:",
        *(f"  {line}" for line in collector.ran),
    ]
    if collector.silent is not None:
        lines.append(f"(stopped: the cluster did not answer `{collector.silent}`)")
    if collector.cut_short:
        lines.append(f"(cut short: the {budget:g}s budget of diagnostics_timeout ran out)")
    return "\n".join(lines) + "\n"
