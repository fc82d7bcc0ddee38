"""Checks sessions: the hosts that run the same ``verify:`` step share pytest processes.

A checks process costs a Python and pytest start and a load of the lab (about half a CPU-second
here): 30 workshop participants checked one by one pay it 30 times. The runner gives groups of
the step's hosts (about sqrt(N) hosts each) a ``ChecksSession``; each host's thread hands in its
command and waits, and when every host of the group has either handed one in or left (skipped,
failed before running it), one thread runs one ``pytest --lab-hosts h1,h2,...`` (each host with
its own proxy URL) and splits its JUnit file into each host's ``verify-<host>.xml``. A host's
result is its own tests' verdict; the output is the session's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from labtools.core.actions import ChecksCall, RunCommand
from labtools.core.errors import Interrupted
from labtools.core.messages import msg
from labtools.core.model import Command
from labtools.core.results import Output
from labtools.effects import process
from labtools.verify.run import PYTEST

POLL = 0.2  # seconds: how often a waiting host looks at Ctrl-C
RunOne = Callable[[RunCommand], Output]


class ChecksSession:
    """The hosts that may run one ``verify:`` step together; ``run`` returns a host's share."""

    def __init__(
        self,
        hosts: Iterable[str],
        interrupted: threading.Event,
        running: threading.Semaphore | None = None,
    ) -> None:
        self._cond = threading.Condition()
        self._running = running  # taken while the session's pytest runs (--forks of them)
        self._pending = set(hosts)  # hosts that may still hand in a command
        self._calls: dict[str, RunCommand] = {}
        self._outputs: dict[str, Output] = {}
        self._leader = False
        self._interrupted = interrupted

    def leave(self, host: str) -> None:
        """``host`` will not hand in a command (its step ended without running one)."""
        with self._cond:
            self._pending.discard(host)
            self._cond.notify_all()

    def run(self, host: str, action: RunCommand, run_one: RunOne) -> Output:
        """Hand in ``host``'s command; run the session when the last host is in, else wait."""
        with self._cond:
            self._calls[host] = action
            self._pending.discard(host)
            self._cond.notify_all()
            while host not in self._outputs:
                if not self._pending and not self._leader:
                    self._leader = True
                    calls = dict(self._calls)
                    break
                if self._interrupted.is_set():
                    raise Interrupted(process.INTERRUPTED)
                self._cond.wait(POLL)
            else:
                return self._outputs[host]
        outputs: dict[str, Output] = {}
        try:
            with self._turn():
                outputs = run_together(calls, run_one)
        finally:
            with self._cond:
                failed = Output(rc=None, failed=True, message=msg("the checks did not run"))
                self._outputs.update({h: outputs.get(h, failed) for h in calls})
                self._cond.notify_all()
        return self._outputs[host]

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """While this session may run: a slot of ``running`` (looking at Ctrl-C meanwhile)."""
        if self._running is None:
            yield
            return
        while not self._running.acquire(timeout=POLL):
            if self._interrupted.is_set():
                raise Interrupted(process.INTERRUPTED)
        try:
            yield
        finally:
            self._running.release()


def run_together(calls: Mapping[str, RunCommand], run_one: RunOne) -> dict[str, Output]:
    """Run the hosts' checks, one session per group of hosts that agree on the command."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for host, action in calls.items():
        assert action.checks is not None
        groups.setdefault(action.checks.key(), []).append(host)
    outputs: dict[str, Output] = {}
    for hosts in groups.values():
        if len(hosts) == 1:
            outputs[hosts[0]] = run_one(calls[hosts[0]])
        else:
            outputs.update(_one_session({h: calls[h] for h in hosts}, run_one))
    return outputs


def _one_session(calls: Mapping[str, RunCommand], run_one: RunOne) -> dict[str, Output]:
    """One pytest for every host of ``calls``; each host's output and verify-<host>.xml."""
    from labtools.verify.plugin import HOST_PROPERTY
    from labtools.verify.run import shown, split_junit

    first = next(iter(calls.values()))
    specs: list[ChecksCall] = [a.checks for a in calls.values() if a.checks is not None]
    junit = _session_junit(specs)
    argv = specs[0].argv(specs, junit)
    command = dataclasses.replace(
        first.command, argv=argv, timeout=max(a.command.timeout for a in calls.values())
    )
    out = run_one(dataclasses.replace(first, command=command, display=shown(argv)))
    from xml.etree.ElementTree import ParseError

    try:
        parts = split_junit(Path(junit).read_text(), list(calls), HOST_PROPERTY) if junit else {}
    except (OSError, ValueError, ParseError):  # no JUnit (pytest did not get that far, or was
        parts = {}  # ended while writing it): the session's rc
    outputs = {}
    for host, spec in zip(calls, specs, strict=True):
        rc = out.rc
        if host in parts:
            if spec.junit:
                Path(spec.junit).write_text(parts[host])
            if out.rc in (0, 1):  # tests ran: the host's verdict is its own tests'
                rc = 1 if _has_failures(parts[host]) else 0
        outputs[host] = dataclasses.replace(out, rc=rc)
    if junit:
        Path(junit).unlink(missing_ok=True)
    return outputs


def _session_junit(specs: list[ChecksCall]) -> str | None:
    """Where the session writes its JUnit file: beside the first host's own, named after that
    host (sessions run at the same time), or nowhere."""
    if not specs[0].junit:
        return None
    return str(Path(specs[0].junit).with_name(f"checks-session-{specs[0].host}.xml"))


def _has_failures(junit: str) -> bool:
    """True when a JUnit document has a failed or erroring testcase."""
    from xml.etree import ElementTree as ET

    root = ET.fromstring(junit)
    return any(c.find("failure") is not None or c.find("error") is not None
               for c in root.iter("testcase"))  # fmt: skip


WARM = (sys.executable, "-m", "labtools.verify.warm")
AHEAD = 8  # at most this many checks processes wait at once


class WarmChecks:
    """Checks processes started with the run's first step (``labtools.verify.warm``), so that a
    ``verify:`` step does not wait for a Python, pytest and labtools start: each imports while
    the lab's first steps run, then waits on stdin for its pytest command.

    ``expected`` is how many checks commands the run will start (one per session); as many as
    ``ahead`` wait at once, and one taken is replaced while more are expected. Those left at the
    end are ended with the run's other processes (``close``, then the registry).
    """

    def __init__(
        self,
        registry: process.ProcessRegistry,
        expected: int,
        ahead: int,
        cwd: str | None,
        prepare: Mapping[str, str] | None = None,
    ) -> None:
        self._registry = registry
        self._cwd = cwd
        # what to load while waiting (root, lab, inventory, one host): see labtools.verify.warm
        self._argv = (*WARM, "--prepare", json.dumps(dict(prepare))) if prepare else WARM
        self._lock = threading.Lock()
        self._waiting: list[process.Prestarted] = []
        self._expected = expected
        self._ahead = max(0, min(ahead, AHEAD))
        with self._lock:
            self._fill()

    def _fill(self) -> None:
        """Start processes until as many wait as are still expected (at most ``ahead``)."""
        while len(self._waiting) < min(self._expected, self._ahead):
            if self._registry.interrupted.is_set():
                return
            try:
                self._waiting.append(process.Prestarted(self._argv, self._registry, cwd=self._cwd))
            except OSError:  # cannot start one now: the checks start as they would without
                self._expected = 0
                return

    def run(self, command: Command) -> Output | None:
        """``command`` run by a waiting process; None when it is not a checks command or none
        is waiting (the caller runs it as usual)."""
        if tuple(command.argv[: len(PYTEST)]) != PYTEST:
            return None
        with self._lock:
            self._expected = max(0, self._expected - 1)
            taken = None
            while self._waiting and taken is None:
                candidate = self._waiting.pop(0)
                if candidate.alive:
                    taken = candidate
                else:
                    candidate.close()
            self._fill()
        return taken.run(command) if taken is not None else None

    def close(self) -> None:
        """End the processes nobody took."""
        with self._lock:
            waiting, self._waiting, self._expected = self._waiting, [], 0
        for prestarted in waiting:
            prestarted.close()
