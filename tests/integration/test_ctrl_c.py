"""Ctrl-C at random moments of `invoke lab.up` (setup, deploy, explore, verify) on the fake.

Each moment is a step of the basics lab (read from the run's own journal while it runs) plus a
random delay, so the interrupts land inside steps of every kind: `minikube start` creating a
cluster, `kubectl wait`, the `kubectl proxy` service, `kubectl exec`, the checks' pytest.
After each one: exit 130, the message said once, no process of the run left (the fake API
server and its pods are the cluster, which the run started and `lab.down` removes: they may
stay, nothing else), no lock left, and `lab.up --resume` finishes the lab from where it
stopped (exit 0, `1/1 ready`; the steps the interrupted run finished are not run again).

The moments come from a seeded random generator; the seed is printed (set
``LABTOOLS_CTRL_C_SEED`` to repeat a sequence). By default 4 moments (one per phase, about a
minute); the issue's 20 with ``LABTOOLS_FUZZ=1`` (the fuzz switch of tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.helpers import LabProject, processes_mentioning, wait_until_gone

pytestmark = [pytest.mark.fake, pytest.mark.slow, pytest.mark.fuzz]

RUN_PHASES = ("setup", "deploy", "explore", "verify")
COUNT = 20 if os.environ.get("LABTOOLS_FUZZ") else 4
SEED = int(os.environ.get("LABTOOLS_CTRL_C_SEED") or 20261201)
STOPPED = "every process the run started was stopped"


@dataclass(frozen=True)
class Moment:
    """When to press Ctrl-C: once ``step`` of ``phase`` shows in the journal, after ``delay``."""

    phase: str
    step: str
    delay: float
    fresh: bool  # no cluster before the run (setup then creates it: `minikube start` for real)

    def __str__(self) -> str:
        fresh = ", no cluster before" if self.fresh else ""
        return f"{self.phase}: {self.step!r} + {self.delay:.2f}s{fresh}"


def moments(steps: dict[str, list[str]], count: int, seed: int) -> list[Moment]:
    """``count`` moments spread over the four phases (round robin), in a random order."""
    rng = random.Random(seed)
    chosen = []
    for index in range(count):
        phase = RUN_PHASES[index % len(RUN_PHASES)]
        step = rng.choice(steps[phase])
        delay = round(rng.uniform(0, 0.6), 2)
        chosen.append(Moment(phase, step, delay, fresh=phase == "setup" and rng.random() < 0.5))
    rng.shuffle(chosen)
    return chosen


def lab_steps(root: Path) -> dict[str, list[str]]:
    """The steps `lab.up` runs, per phase (the lab's own plan: nothing is started)."""
    from labtools.app import load
    from labtools.core.options import RunOptions

    loaded = load(root, RunOptions(lab="basics"), RUN_PHASES)
    steps: dict[str, list[str]] = {phase: [] for phase in RUN_PHASES}
    for step in loaded.plan.hosts[0].steps:
        if not step.interactive:  # skipped without a terminal: no moment inside it
            steps[step.phase].append(step.name)
    return steps


def new_journal(root: Path, before: set[str], timeout: float = 60) -> Path:
    """The journal of the run started after ``before`` (the run directories there were)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = root / "runs"
        fresh = (
            # run directories, not the `latest` link (it moves to the next run)
            sorted({p.name for p in runs.iterdir() if p.is_dir() and not p.is_symlink()} - before)
            if runs.is_dir()
            else []
        )
        if fresh and (runs / fresh[-1] / "journal.jsonl").exists():
            return runs / fresh[-1] / "journal.jsonl"
        time.sleep(0.02)
    raise AssertionError("the run wrote no journal")


def events(journal: Path) -> list[dict[str, object]]:
    """The journal's whole lines (the one being written may be cut)."""
    found = []
    for line in journal.read_text(encoding="utf-8").splitlines():
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return found


def wait_for(journal: Path, moment: Moment, proc: subprocess.Popen[str]) -> None:
    """Until the journal names the moment's step (started, or ended when it was skipped)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        for event in events(journal):
            if (event.get("phase"), event.get("step")) == (moment.phase, moment.step):
                return
        if proc.poll() is not None:
            raise AssertionError(f"lab.up ended ({proc.returncode}) before {moment}")
        time.sleep(0.02)
    raise AssertionError(f"{moment}: the step never showed in the journal")


def landed(journal: Path) -> str:
    """Where the interrupt landed: the step it ended, or the last step before it."""
    stopped = [
        e["result"]
        for e in events(journal)
        if e.get("kind") == "step_end" and isinstance(e.get("result"), dict)
    ]
    inside = [r for r in stopped if r.get("interrupted")]
    if inside:
        return ", ".join(f"{r['phase']}: {r['step']!r} (interrupted)" for r in inside)
    last = stopped[-1] if stopped else None
    return f"between steps, after {last['phase']}: {last['step']!r}" if last else "before a step"


FIRST_STEP = ("setup", "minikube version")  # registers nothing, starts nothing: never redone
LAST_STEP = ("verify", "run the lab's checks (pytest-testinfra)")


def finished(journal: Path, step: tuple[str, str]) -> bool:
    """The run's journal has ``step`` ended, not interrupted."""
    return any(
        e.get("kind") == "step_end"
        and isinstance(e.get("result"), dict)
        and (e["result"]["phase"], e["result"]["step"]) == step
        and not e["result"].get("interrupted")
        for e in events(journal)
    )


def step_of(event: dict[str, object]) -> str:
    """``phase: 'step'`` of a step_end event."""
    result = event["result"]
    assert isinstance(result, dict)
    return f"{result['phase']}: {result['step']!r}"


def cluster_pids(project: LabProject) -> set[int]:
    """The fake API servers of the project (the cluster) and every process under them."""
    servers = {
        int(path.read_text().split()[0])
        for path in (project.root / ".labtools").glob("**/apiserver.pid")
        if path.read_text().strip()
    }
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    tree = set(servers)
    grew = True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= below
        grew = bool(below)
    return tree


def leftovers(project: LabProject, marker: str) -> list[tuple[int, str]]:
    """Processes of the run still alive after up to 10 s: anything but the cluster."""
    deadline = time.monotonic() + 10
    while True:
        cluster = cluster_pids(project)
        left = [(pid, cmd) for pid, cmd in processes_mentioning(marker) if pid not in cluster]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def test_ctrl_c_at_random_moments_leaves_nothing_and_the_next_run_finishes(
    fake_project: LabProject, tmp_path: Path
) -> None:
    project = fake_project  # the basics lab on provider fake; lab.down at the end whatever happens
    locks = Path(project.env["LABTOOLS_LOCK_DIR"])
    chosen = moments(lab_steps(project.root), COUNT, SEED)
    print(f"\nCtrl-C: {COUNT} moments, seed {SEED} (LABTOOLS_CTRL_C_SEED={SEED} repeats them)")
    for number, moment in enumerate(chosen, 1):
        if moment.fresh:
            assert project.invoke("lab.down").returncode == 0
        runs = project.root / "runs"
        started = time.monotonic()
        # a delay longer than what is left of the run (the last steps take ~0.4 s) finds the
        # run finished (exit 0): the same moment again, sooner, until the interrupt lands
        for delay in (moment.delay, moment.delay / 2, 0.0):
            before = {p.name for p in runs.iterdir()} if runs.is_dir() else set()
            proc = project.popen("lab.up")
            try:
                journal = new_journal(project.root, before)
                wait_for(journal, moment, proc)
                time.sleep(delay)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
                output, _ = proc.communicate(timeout=90)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.communicate(timeout=30)
            if proc.returncode != 0:
                break
            print(f"      {moment}: the run had ended after {delay:.2f}s; again, sooner")
        where = landed(journal)
        took = time.monotonic() - started
        print(f"  {number:2}. {moment} -> {where}; exit {proc.returncode} ({took:.1f}s)")
        assert proc.returncode == 130, f"{moment}\n{output}"
        assert output.count(STOPPED) == 1, output  # said once
        assert "Traceback" not in output, output
        left = leftovers(project, str(tmp_path))
        assert left == [], f"{moment}: left running: {left}"
        proxies = [cmd for _, cmd in processes_mentioning(str(tmp_path)) if " proxy " in cmd]
        assert proxies == [], proxies
        assert list(locks.glob("*.lock")) == [], f"{moment}: a lock was left"
        again = project.invoke("lab.up", "--resume")
        assert again.returncode == 0, f"after {moment}:\n{again.stdout}\n{again.stderr}"
        if finished(journal, LAST_STEP):  # Ctrl-C after the last step, while the run ended
            assert "nothing to resume: every host finished the last run" in again.stdout
            continue
        assert "1/1 ready" in again.stdout, again.stdout  # the recap: the lab is finished
        resumed = events(project.latest_run() / "journal.jsonl")
        assert resumed[-1]["kind"] == "run_end", resumed[-1]
        assert not resumed[-1]["failed"], resumed[-1]
        redone = [e for e in resumed if e.get("kind") == "step_end"]
        print(f"      lab.up --resume: {len(redone)} steps, from {step_of(redone[0])}")
        if finished(journal, FIRST_STEP):  # resumed where it stopped, not from the start
            assert not finished(project.latest_run() / "journal.jsonl", FIRST_STEP)
        assert list(locks.glob("*.lock")) == []
    down = project.invoke("lab.down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert wait_until_gone(str(tmp_path)) == []
    assert list(locks.glob("*.lock")) == []
