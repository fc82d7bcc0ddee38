"""Execute a ``Plan``: linear strategy over hosts, Ansible-style controls, typed events.

Every event goes through one ``Redactor`` before any reporter sees it: no_log results are masked
and every known secret value is replaced wherever it appears (``labtools.core.redact``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import math
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from labtools.core import actions, diagnose, retry
from labtools.core.actions import (
    Action,
    Cluster,
    Context,
    HttpCheck,
    RunCommand,
    Skip,
    StartService,
)
from labtools.core.diagnostics import failure_reason
from labtools.core.errors import Interrupted, LabError, ServiceError
from labtools.core.inventory import compress_hosts
from labtools.core.messages import Text, english, joined, msg, msgn
from labtools.core.model import Command, HostPlan, Plan, Step
from labtools.core.plan import step_vars
from labtools.core.redact import Redactor, mask_result
from labtools.core.results import (
    Artifact,
    Event,
    HostFailure,
    HostRecap,
    Notice,
    Output,
    PhaseStarted,
    RunEnded,
    RunStarted,
    RunSummary,
    ServiceStarted,
    ServiceStopped,
    Status,
    StepEnded,
    StepOutput,
    StepProgress,
    StepResult,
    StepStarted,
)
from labtools.effects import process
from labtools.effects.checks import ChecksSession, WarmChecks
from labtools.providers.base import ClusterOp, Provider
from labtools.report import Fanout, Reporter

DEFAULT_FORKS = 5
FailureHook = Callable[[HostPlan, Provider, StepResult], HostFailure]
"""Called (in the host's worker) when a failure drops a host: diagnose it, say why in one line."""


@dataclass
class HostState:
    """Per-host run state: registered values and whether a failure stopped the host."""

    plan: HostPlan
    provider: Provider
    registered: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False
    checks: ChecksSession | None = None  # the session this host's verify step shares
    ended: int = 0  # steps of the plan that ended (the host got to the end: all of them)

    def __post_init__(self) -> None:
        # a resumed run starts with what the skipped steps registered last time
        self.registered = {**self.plan.registered, **self.registered}


@dataclass(frozen=True)
class RunInfo:
    """What the run start tells reporters besides the plan: providers, banners, verbosity."""

    providers: Mapping[str, str] = field(default_factory=dict)
    banners: tuple[Text, ...] = ()
    verbosity: int = 0


class StepGate(Protocol):
    """Asked once per step before any host runs it, and told the results after (``--step``,
    ``lab.test``). Called in the main thread while no step runs."""

    def before(self, step: Step, hosts: Sequence[HostState]) -> Text | None:
        """None to run ``step`` on ``hosts``; else the reason it is skipped on all of them."""
        ...

    def after(self, step: Step, results: Sequence[StepResult]) -> None:
        """The step's results on every host of the batch (skipped ones included)."""
        ...


class Runner:
    """One run of a plan; ``run()`` is what ``run_plan`` calls."""

    def __init__(
        self,
        plan: Plan,
        providers: Mapping[str, Provider],
        *,
        reporters: Iterable[Reporter],
        run_dir: Path,
        templates_dir: Path | None,
        verbosity: int = 0,
        interactive: bool | None = None,
        forks: int = DEFAULT_FORKS,
        redactor: Redactor | None = None,
        info: RunInfo | None = None,
        on_failure: FailureHook | None = None,
        gate: StepGate | None = None,
    ) -> None:
        self.plan = plan
        self.on_failure = on_failure
        self.fanout = Fanout(reporters)
        self.run_dir = Path(run_dir)
        self.templates_dir = templates_dir
        self.verbosity = verbosity
        self.tty = sys.stdin.isatty() if interactive is None else interactive
        self.forks = max(1, forks)
        self.redactor = redactor or Redactor()
        self.info = info or RunInfo(verbosity=verbosity)
        self.gate = gate
        self.registry = process.ProcessRegistry()
        self.ports = process.PortClaims()
        self.summary = RunSummary(run_dir=str(run_dir))
        self.states = [HostState(hp, _provider_for(hp, providers)) for hp in plan.hosts]
        self._emit_lock = threading.Lock()
        self._workers = 1
        self._sessions = threading.BoundedSemaphore(1)  # checks sessions running at once
        self._warm: WarmChecks | None = None  # checks processes started with the run
        self._bounds: dict[str, threading.Semaphore] = {}
        self._terminal = threading.Lock()  # held by the host whose interactive step runs
        self._finishing = False

    # --- events -------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Stamp, redact and send one event to every reporter (serialised: hosts run in threads)."""
        event = self.redactor.event(dataclasses.replace(event, time=time.time()))
        with self._emit_lock:
            self.fanout.handle(event)
        if self.fanout.fatal is not None and not self._finishing:
            # the run's record cannot be written (disk full): stop here, say why once
            raise self.fanout.fatal

    # --- the run ------------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Run every step on every host (linear strategy) and return the summary."""
        self._workers = min(self.forks, max(1, len(self.states)))
        self._sessions = threading.BoundedSemaphore(self._workers)
        pool = ThreadPoolExecutor(max_workers=self._workers)
        # a host of a checks session waits for the others in a thread of its own, not in one of
        # the pool's: the pool runs --forks hosts' work at once; a session's pytest is that work
        waiting = ThreadPoolExecutor(max_workers=max(1, len(self.states)))

        def cleanup() -> None:
            # shut down after every process is stopped: their threads wait on them
            for executor in (pool, waiting):
                executor.shutdown(wait=True, cancel_futures=True)
            if self._warm is not None:
                self._warm.close()

        with self.session(cleanup=cleanup):
            # inside the session: Ctrl-C from here on ends them with every other process
            self._warm = self._warm_checks()
            self._run_steps(pool, waiting)
        if self.fanout.fatal is not None:
            raise self.fanout.fatal
        return self.summary

    @contextlib.contextmanager
    def session(self, cleanup: Callable[[], None] | None = None) -> Iterator[RunSummary]:
        """RunStarted, then the body; on any exit: every process stopped, RunEnded, reporters
        closed. ``lab.up`` runs the plan in one; the tutor runs steps one by one in one."""
        for state in self.states:
            self.summary.recaps[state.plan.host.name] = HostRecap(state.plan.host.name)
        self.emit(self._run_started())
        try:
            with process.stop_all_on_exit(self.registry):
                yield self.summary
        except Interrupted as exc:
            self.summary.interrupted = True
            if not any(r.interrupted for r in self.summary.results):
                raise  # ended between steps (a --step prompt closed): its own words
            raise Interrupted(self._interrupted_message()) from exc
        finally:
            if cleanup is not None:
                cleanup()
            self._finish()

    def run_step(self, state: HostState, step: Step) -> StepResult:
        """Run one step on one host now (inside ``session()``), with every control."""
        return self._run_host_step(state, step)

    def _interrupted_message(self) -> Text:
        """What Ctrl-C stopped, in one line (the run's one message about it)."""
        stopped = [r for r in self.summary.results if r.interrupted]
        if not stopped:
            return msg("interrupted; every process the run started was stopped")
        order = {state.plan.host.name: index for index, state in enumerate(self.states)}
        by_step: dict[str, list[str]] = {}
        for result in sorted(stopped, key=lambda r: order.get(r.host, len(order))):
            by_step.setdefault(result.step, []).append(result.host)
        where = joined(
            [
                msg("'{step}' on {hosts}", step=step, hosts=compress_hosts(hosts))
                for step, hosts in by_step.items()
            ],
            "; ",
        )
        return msg(
            "interrupted during {steps}; every process the run started was stopped", steps=where
        )

    def _run_started(self) -> RunStarted:
        """What the run start tells reporters."""
        return RunStarted(
            lab=self.plan.lab.name,
            phases=tuple(self.plan.phases),
            hosts=tuple(state.plan.host.name for state in self.states),
            run_dir=str(self.run_dir),
            providers=dict(self.info.providers)
            or {state.plan.host.name: state.provider.name for state in self.states},
            banners=self.info.banners,
            verbosity=self.verbosity,
        )

    def _warm_checks(self) -> WarmChecks | None:
        """Checks processes started now for the run's ``verify:`` steps (one per session they
        will form), so that their Python and pytest start overlaps the lab's first steps; none
        with -vv's live output (a started process's output is read when it ends)."""
        if self.verbosity >= 2:
            return None
        verify_steps_at: dict[int, list[Step]] = {}  # step index -> that step of each host
        for state in self.states:
            for index, step in enumerate(state.plan.steps):
                if step.action == "verify":
                    verify_steps_at.setdefault(index, []).append(step)
        expected = 0
        for steps in verify_steps_at.values():
            n = len(steps)
            expected += n if steps[0].until else math.ceil(n / math.ceil(math.sqrt(n)))
        if not expected:
            return None
        first = self.states[0].plan
        root = first.vars.get("project_root")
        prepare = {
            "root": str(root or "."),
            "lab": Path(self.plan.lab.folder).name if self.plan.lab.folder else "",
            "inventory": str(first.vars.get("inventory_file") or "inventory.yml"),
            "host": first.host.name,
        }
        cwd = str(root) if root else None
        return WarmChecks(
            self.registry, expected, self._workers, cwd, prepare if prepare["lab"] else None
        )

    def _run_steps(self, pool: ThreadPoolExecutor, waiting: ThreadPoolExecutor) -> None:
        """Step N on every host (in parallel, --forks at a time), then step N+1."""
        started_phases: set[str] = set()
        longest = max((len(state.plan.steps) for state in self.states), default=0)
        for index in range(longest):
            batch = [
                state
                for state in self.states
                if index < len(state.plan.steps) and not state.stopped
            ]
            if not batch:
                break
            step = batch[0].plan.steps[index]
            if step.phase not in started_phases:
                started_phases.add(step.phase)
                self.emit(PhaseStarted(phase=step.phase))
            # asked once per step, in this thread, while no step runs (so no live display draws)
            skip = self.gate.before(step, batch) if self.gate is not None else None
            if skip is not None:
                results = [
                    self._record(state, step, self._skipped(state, step, skip), 0.0)
                    for state in batch
                ]
            else:
                self._share_checks(batch, index)
                futures: list[Future[StepResult]] = [
                    (waiting if state.checks is not None else pool).submit(
                        self._run_host_step, state, state.plan.steps[index]
                    )
                    for state in batch
                ]
                results = [_wait_interruptibly(future) for future in futures]
            if self.gate is not None:
                self.gate.after(step, results)

    def _share_checks(self, batch: list[HostState], index: int) -> None:
        """Hosts running the same ``verify:`` step share checks sessions (one pytest each).

        N hosts share about sqrt(N) sessions of about sqrt(N) hosts: each session is a Python
        and pytest start (CPU), and runs its hosts' checks one after the other (wall), so 30
        participants pay 6 starts instead of 30, and wait for 6 hosts' checks in a row, not 30.
        The hosts of a session wait for each other in threads outside the pool (``_run_steps``),
        so every session can be ready at once; at most --forks sessions run at a time.
        """
        same = [s for s in batch if _shares_checks(s.plan.steps[index], batch[0].plan.steps[index])]
        size = max(1, math.ceil(math.sqrt(len(same))))
        for start in range(0, len(same), size):
            group = same[start : start + size]
            if len(group) > 1:
                session = ChecksSession(
                    (s.plan.host.name for s in group), self.registry.interrupted, self._sessions
                )
                for state in group:
                    state.checks = session

    def _finish(self) -> None:
        """Stop services (ServiceStopped events), emit RunEnded, close the reporters."""
        self._finishing = True
        self.registry.stop_all()
        for service in self.registry.stopped:
            self.emit(ServiceStopped(**_service_fields(service)))
        order = [state.plan.host.name for state in self.states]
        failures = tuple(self.summary.failures[h] for h in order if h in self.summary.failures)
        self.emit(
            RunEnded(
                recaps=dict(self.summary.recaps),
                failed=self.summary.failed,
                interrupted=self.summary.interrupted,
                run_dir=str(self.run_dir),
                failures=failures,
                unfinished=self._unfinished(),
            )
        )
        self.fanout.close()

    def _unfinished(self) -> tuple[str, ...]:
        """Hosts an interrupted run stopped before their last step (not failed: just stopped)."""
        if not self.summary.interrupted:
            return ()
        return tuple(
            state.plan.host.name
            for state in self.states
            if not state.stopped and state.ended < len(state.plan.steps)
        )

    # --- one step on one host -----------------------------------------------------------

    def _run_host_step(self, state: HostState, step: Step) -> StepResult:
        """Run ``step`` on one host, record and report its result (an interrupted one too)."""
        if self.registry.interrupted.is_set():  # queued behind the steps Ctrl-C ended: never ran
            raise Interrupted(process.INTERRUPTED)
        started = time.time()
        clock = time.perf_counter()
        try:
            result = self._step_result(state, step)
        except Interrupted:
            elapsed = time.perf_counter() - clock
            self._record(state, step, self._interrupted(state, step, elapsed), started)
            raise
        finally:
            if state.checks is not None:  # whatever happened, the other hosts must not wait
                state.checks.leave(state.plan.host.name)
                state.checks = None
        return self._record(state, step, result, started, clock)

    def _record(
        self,
        state: HostState,
        step: Step,
        result: StepResult,
        started: float,
        clock: float | None = None,
    ) -> StepResult:
        """Stamp, mask, count and report a step's result."""
        elapsed = time.perf_counter() - clock if clock is not None else 0.0
        result = dataclasses.replace(
            result, started=started or time.time(), duration=result.duration or elapsed
        )
        if step.no_log:
            self.redactor.add(result.stdout, result.stderr)
            result = mask_result(result)
        result = self.redactor.value(result)
        self.summary.results.append(result)
        self.summary.recaps[result.host].add(result)
        state.ended += 1
        if result.status == "failed" and not result.ignored:
            state.stopped = True
        self.emit(StepEnded(result=result))
        if state.stopped:
            self._drop(state, result)
        return result

    def _drop(self, state: HostState, result: StepResult) -> None:
        """A failure drops the host from the rest of the run (Ansible): record why, diagnose."""
        failure = HostFailure(
            result.host,
            result.phase,
            result.step,
            failure_reason(result),
            interrupted=result.interrupted,
        )
        if self.on_failure is not None and not result.interrupted:  # the user stopped it
            try:
                failure = self.redactor.value(self.on_failure(state.plan, state.provider, result))
            except LabError as exc:  # diagnostics are a help: their failure is a notice
                problem = _error_text(exc)
                message = msg("diagnostics could not be collected: {problem}", problem=problem)
                self.emit(Notice(message=message, host=result.host))
        self.summary.failures[result.host] = failure
        if failure.diagnostics:
            note = failure.reason
            self.emit(Artifact("diagnostics", failure.diagnostics, host=result.host, note=note))

    def _step_result(self, state: HostState, step: Step) -> StepResult:
        """Evaluate controls, run the action, register; template errors become failures."""
        try:
            variables = step_vars(state.plan, step, state.registered)
            if step.when is not None and not _truthy(step.when, variables, step):
                return self._skipped(state, step, msg("when: {expr} was false", expr=step.when))
            action = self._build(state, step, variables)
            if step.no_log:
                self.redactor.add(*_secret_words(action))
            interactive = isinstance(action, RunCommand) and action.interactive
            # one terminal (a run of one host, or the tutor's steps): one interactive step at a time
            with self._terminal if interactive else contextlib.nullcontext():
                self.emit(
                    StepStarted(
                        host=state.plan.host.name,
                        phase=step.phase,
                        step=step.name,
                        action=step.action,
                        display=actions.display_text(action),
                        explain=dict(step.explain),
                        no_log=step.no_log,
                        interactive=interactive,
                    )
                )
                return self._execute(state, step, variables, action)
        except Interrupted:
            raise
        except LabError as exc:
            return self._failed(state, step, _error_text(exc), exc.exit_code)

    def _build(self, state: HostState, step: Step, variables: Mapping[str, Any]) -> Action:
        """Render the step's action for this host."""
        return actions.build(step, variables, self.context(state))

    def context(self, state: HostState, **changes: Any) -> Context:
        """What building an action for this host needs in this run (``changes``: e.g. a tty)."""
        ctx = Context(
            host=state.plan.host,
            provider=state.provider,
            templates_dir=self.templates_dir,
            lab=self.plan.lab,
            extra_vars=state.plan.extra_vars,
            tty=self.tty,
            hosts=len(self.states),
            choose_port=self.ports.choose,
            run_dir=self.run_dir,
        )
        return dataclasses.replace(ctx, **changes) if changes else ctx

    def _interrupted(self, state: HostState, step: Step, elapsed: float) -> StepResult:
        """The record of a step Ctrl-C ended: failed, and marked so (JUnit: an error)."""
        return StepResult(
            host=state.plan.host.name,
            phase=step.phase,
            step=step.name,
            status="failed",
            duration=elapsed,
            message=msg("interrupted after {seconds}s", seconds=round(elapsed, 1)),
            no_log=step.no_log,
            interrupted=True,
            exit_code=Interrupted.exit_code,
        )

    def _skipped(self, state: HostState, step: Step, reason: Text) -> StepResult:
        """A skipped result (registered as skipped, like Ansible)."""
        if step.register:
            state.registered[step.register] = {
                "skipped": True,
                "changed": False,
                "failed": False,
                "skip_reason": english(reason),
            }
        return StepResult(
            host=state.plan.host.name,
            phase=step.phase,
            step=step.name,
            status="skipped",
            message=reason,
            no_log=step.no_log,
        )

    def _failed(self, state: HostState, step: Step, message: Text, code: int = 1) -> StepResult:
        """A failure before anything ran (template error, missing binary)."""
        if step.register:
            state.registered[step.register] = {
                "failed": True,
                "changed": False,
                "msg": english(message),
            }
        return StepResult(
            host=state.plan.host.name,
            phase=step.phase,
            step=step.name,
            status="failed",
            message=message,
            ignored=step.ignore_errors,
            no_log=step.no_log,
            exit_code=code,
        )

    def _execute(
        self, state: HostState, step: Step, variables: Mapping[str, Any], action: Action
    ) -> StepResult:
        """Run the action (again while ``until`` is false), apply controls, register."""
        attempts = 0
        waits = until_waits(step.retries, step.delay) if step.until else ()
        total = len(waits) + 1
        started = time.perf_counter()
        while True:
            attempts += 1
            if attempts > 1:
                note = msg("attempt {attempt}/{attempts}", attempt=attempts, attempts=total)
                self._progress(state, step, note, attempts, total)
            output = self._perform(state, step, action)
            registered = registered_value(output)
            status, message = _status(step, variables, registered, output)
            if not step.until or output.skipped:
                break
            if _truthy(step.until, {**variables, "result": registered}, step):
                break
            if attempts >= total:
                status = "failed"
                message = msgn(
                    "until: {expr} still false after {n} attempt",
                    "until: {expr} still false after {n} attempts",
                    attempts,
                    expr=step.until,
                )
                break
            if self.registry.interrupted.wait(waits[attempts - 1]):
                raise Interrupted(process.INTERRUPTED)
        # a wait that failed on its own (a watch that ended it has said why already)
        waited = isinstance(action, RunCommand) and action.watch_pods and not output.message
        if status == "failed" and (step.until or output.timed_out or waited):
            message = self._with_node_troubles(state, action, message)
        registered.update(changed=status == "changed", failed=status == "failed", attempts=attempts)
        if step.register:
            state.registered[step.register] = registered
        return StepResult(
            host=state.plan.host.name,
            phase=step.phase,
            step=step.name,
            status=status,
            duration=time.perf_counter() - started,
            argv=_display_argv(action),
            rc=output.rc,
            stdout=output.stdout,
            stderr=output.stderr,
            attempts=attempts,
            message=message,
            ignored=status == "failed" and step.ignore_errors,
            registered=dict(registered),
            no_log=step.no_log,
            display=actions.display_text(action),
            exit_code=output.exit_code if output.failed and status == "failed" else 1,
        )

    def _progress(
        self, state: HostState, step: Step, message: Text, attempt: int | None, total: int | None
    ) -> None:
        """A retry of an until-loop, as a progress event (``attempt 7/30``)."""
        self.emit(
            StepProgress(
                host=state.plan.host.name,
                phase=step.phase,
                step=step.name,
                message=message,
                attempt=attempt,
                attempts=total,
            )
        )

    # --- performing actions ---------------------------------------------------------------

    def _perform(self, state: HostState, step: Step, action: Action) -> Output:
        """Execute one action once."""
        try:
            if isinstance(action, RunCommand):
                return self._run_command(state, step, action)
            if isinstance(action, StartService):
                return self._start_service(state, step, action)
            if isinstance(action, Cluster):
                return self._cluster(state, step, action)
            if isinstance(action, HttpCheck):
                return http_request(action)
            if isinstance(action, Skip):
                return Output(rc=None, changed=False, skipped=True, message=action.reason)
            return self._wait(action.seconds)
        except Interrupted:
            raise
        except LabError as exc:
            return Output(
                rc=None,
                failed=True,
                changed=False,
                message=_error_text(exc),
                exit_code=exc.exit_code,
            )

    def _output_callback(self, state: HostState, step: Step) -> Callable[[str, str], None] | None:
        """Live output lines as StepOutput events (-vv and more, never for no_log steps)."""
        if self.verbosity < 2 or step.no_log:
            return None
        host = state.plan.host.name

        def forward(stream: str, line: str) -> None:
            self.emit(StepOutput(host, step.phase, step.name, stream, line))

        return forward

    def _run_command(self, state: HostState, step: Step, action: RunCommand) -> Output:
        """A foreground command; a read-only kubectl one again after a passing server error."""
        out = self._run_once(state, step, action)
        retried = 0
        if action.kubectl and action.readonly and not action.interactive:
            out, retried = self._retry_transient(state, step, action, out)
        failed = out.timed_out or out.rc not in action.ok_codes
        message: Text = ""
        if out.timed_out:
            message = self._timed_out(state, action)
        elif failed and out.message:  # the watch of a wait found a pod that cannot start
            message = out.message
        elif failed and retried:
            message = msgn(
                "exit code {rc} after {n} more run ({reason})",
                "exit code {rc} after {n} more runs ({reason})",
                retried,
                rc=out.rc,
                reason=retry.transient_reason(out.stderr) or "",
            )
        elif failed:
            message = msg("exit code {rc}", rc=out.rc)
        return dataclasses.replace(out, changed=not action.readonly, failed=failed, message=message)

    def _run_once(self, state: HostState, step: Step, action: RunCommand) -> Output:
        """Run the command of a step once (a wait for pods: watched for hopeless pods; a verify
        step's may be one session for several hosts)."""
        if action.watch_pods:
            return self._run_watched(state, step, action)

        def run_one(action: RunCommand) -> Output:
            if action.checks is not None and self._warm is not None:  # none with -vv
                out = self._warm.run(action.command)  # a process started with the run
                if out is not None:
                    return out
            return process.run(
                action.command,
                on_output=self._output_callback(state, step),
                registry=self.registry,
                interactive=action.interactive and self.tty,
            )

        if action.checks is not None and state.checks is not None:
            return state.checks.run(state.plan.host.name, action, run_one)
        return run_one(action)

    def _run_watched(self, state: HostState, step: Step, action: RunCommand) -> Output:
        """A ``kubectl wait`` / ``rollout status``, ended early when a pod cannot start.

        The pods of the host's namespace are looked at after 2 s, then every 2-10 s (a minute's
        wait costs about 8 extra ``kubectl get``); the first hopeless container ends the wait
        with the kubelet's reason, and for a crash loop its last log lines.
        """
        groups: list[int] = []
        found: list[diagnose.PodTrouble] = []
        done = threading.Event()
        # --resume redoes the step that failed: its pods may still show last run's back-off
        # (the kubelet pulls or starts again when the back-off ends): only a new trouble counts
        known = OldTroubles() if state.plan.retried == (step.phase, step.name) else None

        lost: list[Text] = []

        def watch() -> None:
            for wait in POD_WATCH_WAITS:
                if done.wait(wait):
                    return
                if action.watch_nodes:
                    lost.extend(self._node_troubles(state, action, lost_only=True))
                    if lost:
                        for pgid in groups:
                            process.kill_group(pgid)
                        return
                    continue
                troubles, ready = self._pod_troubles(state, action)
                if known is not None:
                    troubles = self._new_troubles(state, step, troubles, known)
                if ready is not None and not troubles and not done.is_set():
                    self._progress(state, step, ready, None, None)
                if troubles:
                    found.extend(troubles)
                    for pgid in groups:
                        process.kill_group(pgid)
                    return

        watcher = threading.Thread(target=watch, name="labtools-pod-watch", daemon=True)
        watcher.start()
        try:
            out = process.run(
                action.command,
                on_output=self._output_callback(state, step),
                registry=self.registry,
                on_start=groups.append,
            )
        finally:
            done.set()
            watcher.join()
        if lost:
            message = joined(lost, "; ")
            return dataclasses.replace(out, rc=out.rc or 1, failed=True, message=message)
        if not found:
            return out
        return dataclasses.replace(
            out,
            rc=out.rc if out.rc not in action.ok_codes else 1,
            failed=True,
            stderr="\n".join(
                text for text in (out.stderr, self._crash_logs(state, action, found)) if text
            ),
            message=joined([trouble.text() for trouble in found[:3]], "; "),
        )

    def _new_troubles(
        self,
        state: HostState,
        step: Step,
        troubles: list[diagnose.PodTrouble],
        known: OldTroubles,
    ) -> list[diagnose.PodTrouble]:
        """Troubles not seen at the first look (a resumed step's old back-off is waited out;
        a new pod, another reason or one more restart is a new trouble); the first look
        remembers them all and says so."""
        if not known.looked:
            known.looked = True
            known.seen.update(map(OldTroubles.ident, troubles))
            for trouble in troubles:
                self._progress(
                    state,
                    step,
                    msg(
                        "pod {pod}: {reason} since the run resumed; waiting for the kubelet to "
                        "try again",
                        pod=trouble.pod,
                        reason=trouble.reason,
                    ),
                    None,
                    None,
                )
            return []
        return [trouble for trouble in troubles if OldTroubles.ident(trouble) not in known.seen]

    def _with_node_troubles(self, state: HostState, action: Action, message: Text) -> Text:
        """A failed wait's message, with the nodes that are not Ready and why (kubelet's words)."""
        if not (isinstance(action, RunCommand) and action.kubectl):
            return message
        troubles = self._node_troubles(state, action)
        return joined([message, *troubles], "; ") if troubles else message

    def _node_troubles(
        self, state: HostState, action: RunCommand, *, lost_only: bool = False
    ) -> list[Text]:
        """The nodes that are not Ready (``lost_only``: whose kubelet stopped reporting)."""
        argv = state.provider.kubectl(state.plan.host, ("get", "nodes", "-o", "json"))
        command = Command(argv, env=action.command.env, timeout=15)
        try:
            out = process.run(command, registry=self.registry)
        except LabError:
            return []
        if out.rc != 0:
            return []
        return list(diagnose.node_troubles(out.stdout, lost_only=lost_only))

    def _pod_troubles(
        self, state: HostState, action: RunCommand
    ) -> tuple[list[diagnose.PodTrouble], Text | None]:
        """Hopeless containers among the host's pods, and how many are Ready (for progress)."""
        argv = state.provider.kubectl(state.plan.host, ("get", "pods", "-o", "json"))
        command = Command(argv, env=action.command.env, timeout=15)
        try:
            out = process.run(command, registry=self.registry)
        except LabError:
            return [], None
        if out.rc != 0:
            return [], None
        return diagnose.pod_troubles(out.stdout), diagnose.pods_ready(out.stdout)

    def _crash_logs(
        self, state: HostState, action: RunCommand, troubles: list[diagnose.PodTrouble]
    ) -> str:
        """The last log lines of the first crashing container (``kubectl logs --previous``)."""
        crashing = next((trouble for trouble in troubles if trouble.crashing), None)
        if crashing is None:
            return ""
        args = ("logs", crashing.pod, "-c", crashing.container, "--previous", "--tail=10")
        command = Command(
            state.provider.kubectl(state.plan.host, args), env=action.command.env, timeout=15
        )
        try:
            out = process.run(command, registry=self.registry)
        except LabError:
            return ""
        title = english(
            msg(
                "last log lines of {pod} ({container}):",
                pod=crashing.pod,
                container=crashing.container,
            )
        )
        return f"{title}\n{out.stdout}" if out.stdout else ""

    def _retry_transient(
        self, state: HostState, step: Step, action: RunCommand, out: Output
    ) -> tuple[Output, int]:
        """Run a read-only kubectl command again while it meets the server's passing trouble.

        The policy is core/retry.py's: waits of 1, 2 and 4 s, never after a timeout. Returns the
        last output and how many extra runs it took.
        """
        total = len(retry.TRANSIENT_WAITS)
        for number, wait in enumerate(retry.TRANSIENT_WAITS, start=1):
            reason = None if out.timed_out else retry.transient_reason(out.stderr)
            if out.rc in action.ok_codes or reason is None:
                return out, number - 1
            note = msg(
                "{reason}: running it again in {seconds}s ({n}/{total})",
                reason=reason,
                seconds=f"{wait:g}",
                n=number,
                total=total,
            )
            self._progress(state, step, note, number, total)
            if self.registry.interrupted.wait(wait):
                raise Interrupted(process.INTERRUPTED)
            out = self._run_once(state, step, action)
        return out, total

    def _timed_out(self, state: HostState, action: RunCommand) -> Text:
        """A timeout's message; a kubectl one names the API server that did not answer."""
        seconds = f"{action.command.timeout:g}"
        if not action.kubectl:
            return msg("timed out after {seconds}s", seconds=seconds)
        host = state.plan.host
        query = ("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
        where = Command(state.provider.kubectl(host, query), env=action.command.env, timeout=10)
        try:
            server = process.run(where, registry=self.registry).stdout.strip()
        except LabError:
            server = ""
        return msg(
            "timed out after {seconds}s: the API server {server} did not answer",
            seconds=seconds,
            server=server or msg("of context {context}", context=_context_of(action.command)),
        )

    def _start_service(
        self, state: HostState, step: Step, action: StartService, again: bool = False
    ) -> Output:
        """A background service; ServiceError becomes a failed output."""
        started = time.perf_counter()
        service = process.Service(action.name, registry=self.registry)
        try:
            service.start(
                action.command,
                ready_http=action.ready_http,
                ready_tcp=action.ready_tcp,
                ready_timeout=action.ready_timeout,
                port=action.port,
            )
        except ServiceError:
            if again or action.port is None or process.port_is_free(action.port):
                raise
            # another process bound the port between our look and the start (a shared machine):
            # once more on another one (the port stays claimed: the build picks a free one)
            rebuilt = self._build(state, step, step_vars(state.plan, step, state.registered))
            assert isinstance(rebuilt, StartService)
            return self._start_service(state, step, rebuilt, again=True)
        fields = _service_fields(service)
        self.emit(ServiceStarted(host=state.plan.host.name, step=step.name, **fields))
        # A service lives only as long as the run and changes no cluster state: ok, not changed.
        return Output(
            rc=0,
            stdout=service.tail(),
            duration=time.perf_counter() - started,
            changed=False,
            extra={"url": service.url, "port": service.port, "pid": service.pid},
        )

    def _cluster(self, state: HostState, step: Step, action: Cluster) -> Output:
        """Probe; when done -> ok, else run (+ after, credentials, removals) -> changed."""
        op = action.op
        started = time.perf_counter()
        asked = not op.probe_needs or any(os.path.exists(path) for path in op.probe_needs)
        if op.probe and op.is_done and asked:
            probe = self._sub(op.probe, action, None)
            if op.is_done(probe):  # already done: ok, whatever the probe's own exit code
                return Output(0, probe.stdout, probe.stderr, probe.duration, changed=False)
        if not op.run:
            return Output(0, changed=False, duration=time.perf_counter() - started)
        on_output = self._progress_callback(state, step) if op.progress else None
        on_output = on_output or self._output_callback(state, step)
        with self._bound(op):
            result = self._sub(op.run, action, on_output, stdin=action.stdin)
        outputs = [result]
        for argv in op.after if result.rc == 0 else ():
            outputs.append(self._sub(argv, action, None))
        failed = next((out for out in outputs if out.rc != 0), None)
        out = Output(
            rc=failed.rc if failed else 0,
            stdout="".join(out.stdout for out in outputs),
            stderr="".join(out.stderr for out in outputs),
            duration=time.perf_counter() - started,
            failed=failed is not None,
            changed=op.changed_when(result) if op.changed_when else True,
            message=_cluster_failure(op.progress, failed) if failed else "",
        )
        if failed is None and (op.credentials or op.removes):
            out = self._participant_files(state, op, action, out)
        return out

    def _bound(self, op: ClusterOp) -> threading.Semaphore | contextlib.nullcontext[None]:
        """At most ``op.parallel`` hosts run this operation at once (``minikube start``)."""
        if not op.parallel:
            return contextlib.nullcontext()
        with self._emit_lock:
            return self._bounds.setdefault(op.name, threading.Semaphore(op.parallel))

    def _participant_files(
        self, state: HostState, op: ClusterOp, action: Cluster, out: Output
    ) -> Output:
        """Issue the participant's kubeconfig or remove it (secrets never reach an event)."""
        from labtools.effects import credentials

        host = state.plan.host.name
        if op.removes:
            removed = credentials.remove(op.removes)
            return dataclasses.replace(out, changed=out.changed or bool(removed))
        assert op.credentials is not None
        issued = credentials.issue(
            op.credentials, out.stdout, lambda argv: self._sub(argv, action, None)
        )
        self.redactor.add(*issued.secrets)
        for path in issued.written:
            self.emit(Artifact(what="kubeconfig", path=path, host=host, note="mode 0600"))
        if issued.failed:
            return dataclasses.replace(out, rc=1, failed=True, message=issued.message)
        note = f"{out.stdout.rstrip()}\n{issued.message}" if issued.message else out.stdout
        return dataclasses.replace(out, stdout=note, changed=out.changed or issued.changed)

    def _sub(
        self,
        argv: tuple[str, ...],
        action: Cluster,
        on_output: Callable[[str, str], None] | None,
        stdin: str | None = None,
    ) -> Output:
        """Run one command of a cluster operation."""
        command = Command(argv=argv, env=action.env, timeout=action.timeout, stdin=stdin)
        return process.run(command, on_output=on_output, registry=self.registry)

    def _progress_callback(self, state: HostState, step: Step) -> Callable[[str, str], None]:
        """Turn minikube JSON events into StepProgress events."""
        from labtools.providers.minikube_events import parse_event

        host = state.plan.host.name

        def forward(stream: str, line: str) -> None:
            event = parse_event(line) if stream == "stdout" else None
            if event is None or event.fraction is None:
                return
            message = event.message or event.name
            self.emit(StepProgress(host, step.phase, step.name, message, event.fraction))

        return forward

    def _wait(self, seconds: float) -> Output:
        """Sleep, but wake up on Ctrl-C."""
        started = time.perf_counter()
        if self.registry.interrupted.wait(seconds):
            raise Interrupted(process.INTERRUPTED)
        return Output(0, changed=False, duration=time.perf_counter() - started)


def run_plan(
    plan: Plan,
    providers: Mapping[str, Provider],
    *,
    reporters: Iterable[Reporter],
    run_dir: Path,
    templates_dir: Path | None,
    verbosity: int = 0,
    interactive: bool | None = None,
    forks: int = DEFAULT_FORKS,
    redactor: Redactor | None = None,
    info: RunInfo | None = None,
    on_failure: FailureHook | None = None,
    gate: StepGate | None = None,
) -> RunSummary:
    """Run ``plan``; every process it starts is stopped before this returns (or raises)."""
    runner = Runner(
        plan,
        providers,
        reporters=reporters,
        run_dir=run_dir,
        templates_dir=templates_dir,
        verbosity=verbosity,
        interactive=interactive,
        forks=forks,
        redactor=redactor,
        info=info,
        on_failure=on_failure,
        gate=gate,
    )
    return runner.run()


# --- helpers ------------------------------------------------------------------------------

SIGNAL_POLL = 0.2  # seconds


# when a wait's pods are looked at: 2 s in, then 3, 5, and every 10 s (a 5-minute wait: ~33)
@dataclasses.dataclass
class OldTroubles:
    """What a resumed step's pods showed at the first look (last run's back-off)."""

    seen: set[tuple[str, str, str, int]] = dataclasses.field(default_factory=set)
    looked: bool = False

    @staticmethod
    def ident(trouble: diagnose.PodTrouble) -> tuple[str, str, str, int]:
        """The same pod, container, reason and restart count: the same trouble."""
        return (trouble.pod, trouble.container, trouble.reason, trouble.restarts)


POD_WATCH_WAITS = (2.0, 3.0, 5.0, *([10.0] * 360))
FIRST_RETRY = 0.2  # seconds before an until-loop's first retry (then doubling up to `delay`)


def until_waits(retries: int, delay: float) -> tuple[float, ...]:
    """The waits between an until-loop's attempts: 0.2 s first, doubling up to ``delay``.

    A condition that holds at the second look costs 0.2 s instead of a whole ``delay``. The loop
    never gives up sooner than Ansible's fixed delay would: it keeps at least ``retries`` retries
    and goes on until the waits add up to ``retries * delay``.
    """
    patience = retries * delay
    waits: list[float] = []
    waited = 0.0
    wait = min(FIRST_RETRY, delay)
    while len(waits) < retries or waited < patience - 1e-9:
        waits.append(wait)
        waited += wait
        wait = min(wait * 2, delay)
    return tuple(waits)


def _context_of(command: Command) -> str:
    """The value of ``--context`` in a kubectl argv (empty when it has none)."""
    argv = list(command.argv)
    if "--context" in argv[:-1]:
        return argv[argv.index("--context") + 1]
    return ""


def _wait_interruptibly(future: Future[StepResult]) -> StepResult:
    """``future.result()``, waking up now and then so Ctrl-C and SIGTERM are handled.

    A process-directed signal may be delivered to any thread (sh's, the pool's); CPython then
    runs the handler in the main thread only when it next runs bytecode. A main thread blocked in
    a lock without a timeout would never get there, and the run would hang on Ctrl-C.
    """
    while True:
        try:
            return future.result(timeout=SIGNAL_POLL)
        except TimeoutError:
            continue


def _shares_checks(step: Step, first: Step) -> bool:
    """A ``verify:`` step other hosts run now too, without an until-loop (retried per host)."""
    return step.action == "verify" and step == first and not step.until


def _provider_for(host_plan: HostPlan, providers: Mapping[str, Provider]) -> Provider:
    """The provider for a host: by host name, else by the host's provider name."""
    host = host_plan.host
    provider = providers.get(host.name) or providers.get(host.provider)
    if provider is None:
        raise LabError(
            msg(
                "no provider {provider!r} for host {host!r}", provider=host.provider, host=host.name
            ),
            hint=msg("known providers: {names}", names=", ".join(sorted(providers)) or msg("none")),
        )
    return provider


def _truthy(expression: str | bool, variables: Mapping[str, Any], step: Step) -> bool:
    """Evaluate a control expression to a bool."""
    from labtools.core.render import evaluate

    return bool(evaluate(expression, variables, source=step.source))


def registered_value(output: Output) -> dict[str, Any]:
    """The value ``register:`` stores (and expressions see as ``result``)."""
    value: dict[str, Any] = {
        "rc": output.rc,
        "stdout": output.stdout,
        "stdout_lines": output.stdout.splitlines(),
        "stderr": output.stderr,
        "stderr_lines": output.stderr.splitlines(),
        "json": _json_or_none(output.stdout),
        "duration": round(output.duration, 3),
        "changed": output.changed,
        "failed": output.failed,
        "skipped": output.skipped,
    }
    if output.message:
        value["msg"] = output.message
    value.update(output.extra)
    return value


def _json_or_none(text: str) -> Any:
    """Parsed stdout when it is JSON, else None."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None


def _status(
    step: Step, variables: Mapping[str, Any], registered: dict[str, Any], output: Output
) -> tuple[Status, Text]:
    """Apply skipped / failed_when / changed_when to one attempt."""
    if output.skipped:
        return "skipped", output.message
    scope = {**variables, "result": registered}
    failed = output.failed
    message = output.message
    if step.failed_when is not None:
        failed = _truthy(step.failed_when, scope, step)
        message = _failed_when_message(step.failed_when, output) if failed else ""
    if failed:
        return "failed", message or msg("failed")
    changed = output.changed
    if step.changed_when is not None:
        changed = _truthy(step.changed_when, scope, step)
    return ("changed" if changed else "ok"), message


def _failed_when_message(expression: str, output: Output) -> Text:
    """``failed_when: EXPR`` and what the command itself said (its error, stderr's last line)."""
    causes: list[Text] = [output.message] if output.message else []
    last = next((line for line in reversed(output.stderr.splitlines()) if line.strip()), "")
    if last.strip() and last.strip() not in english(output.message):
        causes.append(msg("stderr: {line}", line=last.strip()))
    if not causes:
        return msg("failed_when: {expr}", expr=expression)
    return msg("failed_when: {expr} ({causes})", expr=expression, causes=joined(causes, "; "))


def _display_argv(action: Action) -> tuple[str, ...]:
    """The argv a result records (masked for no_log steps)."""
    if isinstance(action, RunCommand | StartService):
        return action.display or action.command.argv
    if isinstance(action, Cluster):
        return action.op.run or action.op.probe or ()
    return ()


def _secret_words(action: Action) -> list[str]:
    """What a no_log step's command carries that its display masks: its values and stdin."""
    if not isinstance(action, RunCommand | StartService):
        return []
    shown = set(action.display)
    words = [word for word in action.command.argv if word not in shown]
    if action.command.stdin:
        words.append(action.command.stdin)
    return words


def _service_fields(service: process.Service) -> dict[str, Any]:
    """name, pid, port and url of a service."""
    return {"name": service.name, "pid": service.pid, "port": service.port, "url": service.url}


def _cluster_failure(progress: str | None, failed: Output) -> Text:
    """Why a cluster operation failed, with minikube's own error message when it gave one."""
    if progress == "minikube-json":
        from labtools.providers.minikube_events import failure_message

        detail = failure_message(failed.stdout)
        if detail:
            return detail
    return msg("exit code {rc}", rc=failed.rc)


def http_request(action: HttpCheck) -> Output:
    """Make the request (headers, body) and compare status and body with the expectations."""
    started = time.perf_counter()
    request = urllib.request.Request(
        action.url,
        method=action.method,
        headers=dict(action.headers),
        data=action.body.encode("utf-8") if action.body is not None else None,
    )
    try:
        with urllib.request.urlopen(request, timeout=action.timeout) as response:
            status, body = int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode("utf-8", "replace")
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # HTTPException: a URL http.client refuses (a port that is not a number) or an answer
        # that is not HTTP (BadStatusLine); neither is an OSError
        duration = time.perf_counter() - started
        return Output(None, "", str(exc), duration, changed=False, failed=True, message=str(exc))
    problems: list[Text] = []
    if status != action.status:
        expected = action.status
        problems.append(
            msg("status {status}, expected {expected}", status=status, expected=expected)
        )
    if action.contains is not None and action.contains not in body:
        problems.append(msg("body does not contain {text!r}", text=action.contains))
    return Output(
        rc=0 if not problems else 1,
        stdout=body,
        duration=time.perf_counter() - started,
        changed=False,
        failed=bool(problems),
        message=joined(problems, msg("; ")),
        extra={"status": status},
    )


def _error_text(exc: LabError) -> Text:
    """A LabError as a step's message: its location, text and hint, still translatable."""
    where = f"{exc.location}: " if exc.location else ""
    if exc.hint_text is None:
        return msg("{where}{message}", where=where, message=exc.text) if where else exc.text
    return msg("{where}{message} (hint: {hint})", where=where, message=exc.text, hint=exc.hint_text)
