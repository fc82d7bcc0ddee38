"""Per-step overhead of run_plan over a plain subprocess.run loop (200 x `true`).

Run: .venv/bin/python bench/bench_runner.py [--steps N]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
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


def baseline(steps: int) -> list[float]:
    """Seconds per plain subprocess.run(["true"])."""
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        subprocess.run(["true"], capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return times


def labtools_run(steps: int) -> list[float]:
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
        )
    assert not summary.failed, "a `true` step failed"
    return [b - a for a, b in zip(times.ends, times.ends[1:], strict=False)]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the median per-step times, the overhead in ms and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    base = statistics.median(baseline(args.steps)) * 1000
    ours = statistics.median(labtools_run(args.steps)) * 1000
    print(f"subprocess.run(['true']) median: {base:.2f} ms/step")
    print(f"run_plan (200 x command: true)  median: {ours:.2f} ms/step")
    print(f"overhead: {ours - base:.2f} ms/step (goal < 5 ms); ratio {ours / base:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
