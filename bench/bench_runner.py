"""Per-step overhead of run_plan over a plain subprocess.run loop (N x `true`), wall and CPU.

Run: .venv/bin/python bench/bench_runner.py [--steps N] [--rounds R] [--live]   (aim: < 5 ms)

By default nobody watches the output (a run below -vv: the vfork launch path); ``--live`` runs at
-vv, where every line is passed on as it comes (the sh launch path, with its line callbacks).

The machine may be shared: the baseline and labtools alternate, R rounds of N steps each, and the
figures are medians over every step of every round. Wall time is what a user waits; CPU time
(this process and its children, user + system) is what a step costs a loaded machine, and is far
less sensitive to what else runs on it. The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from labtools.core.errors import Location
from labtools.core.model import Host, HostPlan, Lab, Plan, Step
from labtools.core.results import Event
from labtools.effects.runner import run_plan
from labtools.providers.base import ClusterOp
from labtools.report.console import ConsoleReporter
from labtools.report.journal import JournalReporter
from labtools.report.junit import JUnitReporter


class BenchProvider:
    """Only `command:` steps run; the provider is never asked for argv."""

    name = "bench"
    has_minikube = False

    def kubectl(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        return ("kubectl", *args)

    def minikube(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        return ("minikube", *args)

    def env(self, host: Host) -> Mapping[str, str]:
        return {}

    def cluster(self, host: Host, op: str) -> ClusterOp:
        return ClusterOp(name=op)


class StepTimes:
    """Wall time between consecutive step_end events (what a user waits per step)."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def handle(self, event: Event) -> None:
        if event.kind in ("step_end", "phase_start"):
            self.ends.append(time.perf_counter())

    def close(self) -> None:
        pass


def cpu_seconds() -> float:
    """User + system CPU of this process and its waited-for children so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def baseline(steps: int) -> list[float]:
    """Seconds per plain subprocess.run(["true"])."""
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        subprocess.run(["true"], capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return times


def labtools_run(steps: int, verbosity: int = 0) -> list[float]:
    """Seconds per step through run_plan with the real reporters."""
    loc = Location("bench.yml", 1)
    plan_steps = tuple(Step(f"true {i}", "setup", "command", "true", loc) for i in range(steps))
    lab = Lab("bench", "bench.yml", phases={"setup": plan_steps})
    plan = Plan(lab, ("setup",), (HostPlan(Host("h", "bench", {}), {}, plan_steps),))
    times = StepTimes()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        reporters = [
            times,
            ConsoleReporter(io.StringIO()),
            JournalReporter(run_dir),
            JUnitReporter(run_dir / "junit.xml"),
        ]
        summary = run_plan(
            plan,
            {"bench": BenchProvider()},
            reporters=reporters,
            run_dir=run_dir,
            templates_dir=None,
            verbosity=verbosity,
        )
    assert not summary.failed, "a `true` step failed"
    return [b - a for a, b in zip(times.ends, times.ends[1:], strict=False)]


def measure(run: Callable[[int], list[float]], steps: int) -> tuple[list[float], float]:
    """Wall seconds per step, and CPU seconds per step, of one round."""
    before = cpu_seconds()
    walls = run(steps)
    return walls, (cpu_seconds() - before) / steps


def main(argv: Sequence[str] | None = None) -> int:
    """Print the median per-step wall and CPU times, the overheads in ms and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--live", action="store_true", help="at -vv: output passed on live (sh)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    verbosity = 2 if args.live else 0

    def ours(steps: int) -> list[float]:
        return labtools_run(steps, verbosity)

    ours(10)  # first-use costs (imports, the watchdog thread), not timed
    walls: dict[str, list[float]] = {"base": [], "lab": []}
    cpus: dict[str, list[float]] = {"base": [], "lab": []}
    for _ in range(args.rounds):
        for name, run in (("base", baseline), ("lab", ours)):
            wall, cpu = measure(run, args.steps)
            walls[name] += wall
            cpus[name].append(cpu)
    base, lab = (statistics.median(walls[k]) * 1000 for k in ("base", "lab"))
    base_cpu, lab_cpu = (statistics.median(cpus[k]) * 1000 for k in ("base", "lab"))
    runs = f"{args.rounds} x {args.steps} steps, alternating"
    label = "run_plan -vv (live, sh)" if args.live else "run_plan (command: true)"
    print(f"load average {load:.2f} -> {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs); {runs}")
    print(f"subprocess.run(['true'])     wall {base:6.2f} ms/step   CPU {base_cpu:6.2f} ms/step")
    print(f"{label:28} wall {lab:6.2f} ms/step   CPU {lab_cpu:6.2f} ms/step")
    print(
        f"overhead: wall {lab - base:.2f} ms/step (goal < 5 ms), ratio {lab / base:.1f}x; "
        f"CPU {lab_cpu - base_cpu:.2f} ms/step, ratio {lab_cpu / base_cpu:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
