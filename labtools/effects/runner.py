"""Execute a ``Plan``: linear strategy over hosts, Ansible-style controls, events to reporters."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtools.core import actions
from labtools.core.actions import (
    Action,
    Cluster,
    Context,
    HttpCheck,
    RunCommand,
    Skip,
    StartService,
)
from labtools.core.errors import Interrupted, LabError, TemplateError
from labtools.core.model import Command, HostPlan, Plan, Step
from labtools.core.results import Event, HostRecap, RunSummary, Status, StepResult
from labtools.effects import process
from labtools.providers.base import ProcOutput, Provider
from labtools.report import Fanout, Reporter

DEFAULT_FORKS = 5
MASK = actions.MASK


@dataclass
class Outcome:
    """What executing an action produced, before the step's controls are applied."""

    rc: int | None = 0
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    changed: bool = True
    failed: bool = False
    skipped: bool = False
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # service: url, port, pid


@dataclass
class HostState:
    """Per-host run state: registered values and whether a failure stopped the host."""

    plan: HostPlan
    provider: Provider
    registered: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False


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
        verbose: bool = False,
        interactive: bool | None = None,
        forks: int = DEFAULT_FORKS,
    ) -> None:
        self.plan = plan
        self.fanout = Fanout(reporters)
        self.run_dir = Path(run_dir)
        self.templates_dir = templates_dir
        self.verbose = verbose
        self.tty = sys.stdin.isatty() if interactive is None else interactive
        self.forks = max(1, forks)
        self.registry = process.ProcessRegistry()
        self.ports = process.PortClaims()
        self.summary = RunSummary(run_dir=str(run_dir))
        self.states = [HostState(hp, _provider_for(hp, providers)) for hp in plan.hosts]
        self._emit_lock = threading.Lock()

    # --- events -------------------------------------------------------------------------

    def emit(self, kind: str, **fields: Any) -> None:
        """Send one event to every reporter (serialised: hosts run in threads)."""
        event = Event(kind=kind, time=time.time(), **fields)
        with self._emit_lock:
            self.fanout.handle(event)

    # --- the run ------------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Run every step on every host (linear strategy) and return the summary."""
        for state in self.states:
            self.summary.recaps[state.plan.host.name] = HostRecap(state.plan.host.name)
        self.emit("run_start", data=self._run_data())
        pool = ThreadPoolExecutor(max_workers=min(self.forks, max(1, len(self.states))))
        try:
            with process.stop_all_on_exit(self.registry):
                self._run_steps(pool)
        except Interrupted:
            self.summary.interrupted = True
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self._finish()
        return self.summary

    def _run_data(self) -> dict[str, Any]:
        """What run_start tells reporters."""
        return {
            "lab": self.plan.lab.name,
            "phases": list(self.plan.phases),
            "hosts": [state.plan.host.name for state in self.states],
            "check": self.plan.check,
            "run_dir": str(self.run_dir),
            "verbose": self.verbose,
        }

    def _run_steps(self, pool: ThreadPoolExecutor) -> None:
        """Step N on every host (in parallel), then step N+1."""
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
            phase = batch[0].plan.steps[index].phase
            if phase not in started_phases:
                started_phases.add(phase)
                self.emit("phase_start", phase=phase)
            futures: list[Future[None]] = [
                pool.submit(self._run_host_step, state, state.plan.steps[index]) for state in batch
            ]
            for future in futures:
                future.result()

    def _finish(self) -> None:
        """Stop services (service_stop events), emit run_end, close the reporters."""
        self.registry.stop_all()
        for service in self.registry.stopped:
            self.emit("service_stop", step=service.name, data=_service_data(service))
        recaps = {name: vars(recap) for name, recap in self.summary.recaps.items()}
        data = {
            "recaps": recaps,
            "failed": self.summary.failed,
            "interrupted": self.summary.interrupted,
        }
        self.emit("run_end", data=data)
        self.fanout.close()

    # --- one step on one host -----------------------------------------------------------

    def _run_host_step(self, state: HostState, step: Step) -> None:
        """Run ``step`` on one host, record and report its result."""
        host = state.plan.host.name
        result = self._step_result(state, step)
        self.summary.results.append(result)
        self.summary.recaps[host].add(result)
        if result.status == "failed" and not result.ignored:
            state.stopped = True
        self.emit("step_end", host=host, phase=step.phase, step=step.name, result=result)

    def _step_result(self, state: HostState, step: Step) -> StepResult:
        """Evaluate controls, run the action, register; template errors become failures."""
        host = state.plan.host.name
        try:
            variables = self._variables(state, step)
            if step.when is not None and not _truthy(step.when, variables, step):
                return self._skipped(state, step, f"when: {step.when} was false")
            action = self._build(state, step, variables)
            self.emit(
                "step_start",
                host=host,
                phase=step.phase,
                step=step.name,
                data=_start_data(step) | {"display": actions.display_text(action)},
            )
            if self.plan.check:
                shown = actions.display_text(action)
                return self._skipped(state, step, f"check mode, would run: {shown}", action)
            return self._execute(state, step, variables, action)
        except TemplateError as exc:
            return self._failed(state, step, exc.format())
        except Interrupted:
            raise
        except LabError as exc:
            return self._failed(state, step, exc.format())

    def _variables(self, state: HostState, step: Step) -> dict[str, Any]:
        """The step's variables (plan.step_vars: precedence including --set)."""
        return step_vars(state.plan, step, state.registered)

    def _build(self, state: HostState, step: Step, variables: Mapping[str, Any]) -> Action:
        """Render the step's action for this host."""
        ctx = Context(
            host=state.plan.host,
            provider=state.provider,
            templates_dir=self.templates_dir,
            tty=self.tty,
            choose_port=self.ports.choose if not self.plan.check else (lambda p: p or 0),
            run_dir=self.run_dir,
        )
        return actions.build(step, variables, ctx)

    def _skipped(
        self, state: HostState, step: Step, reason: str, action: Action | None = None
    ) -> StepResult:
        """A skipped result (registered as skipped, like Ansible)."""
        registered = {"skipped": True, "changed": False, "failed": False, "skip_reason": reason}
        if step.register:
            if self.plan.check:
                from labtools.core.render import Unresolved

                state.registered[step.register] = Unresolved(step.register)
            else:
                state.registered[step.register] = registered
        argv = _display_argv(action) if action is not None else ()
        return StepResult(
            host=state.plan.host.name,
            phase=step.phase,
            step=step.name,
            status="skipped",
            argv=argv,
            message=reason,
            no_log=step.no_log,
        )

    def _failed(self, state: HostState, step: Step, message: str) -> StepResult:
        """A failure before anything ran (template error, missing binary)."""
        if step.register:
            state.registered[step.register] = {"failed": True, "changed": False, "msg": message}
        return StepResult(
            host=state.plan.host.name,
            phase=step.phase,
            step=step.name,
            status="failed",
            message=message,
            ignored=step.ignore_errors,
            no_log=step.no_log,
        )

    def _execute(
        self, state: HostState, step: Step, variables: Mapping[str, Any], action: Action
    ) -> StepResult:
        """Run the action (again while ``until`` is false), apply controls, register."""
        attempts = 0
        total = step.retries + 1 if step.until else 1
        while True:
            attempts += 1
            outcome = self._perform(state, step, action)
            registered = _registered(outcome)
            status, message = _status(step, variables, registered, outcome)
            if not step.until or outcome.skipped:
                break
            if _truthy(step.until, {**variables, "result": registered}, step):
                break
            if attempts >= total:
                status = "failed"
                message = f"until: {step.until} still false after {attempts} attempt(s)"
                break
            if self.registry.interrupted.wait(step.delay):
                raise Interrupted("the run was interrupted")
        registered.update(changed=status == "changed", failed=status == "failed", attempts=attempts)
        if step.register:
            state.registered[step.register] = registered
        return self._result(state, step, action, outcome, status, message, attempts, registered)

    def _result(
        self,
        state: HostState,
        step: Step,
        action: Action,
        outcome: Outcome,
        status: Status,
        message: str,
        attempts: int,
        registered: Mapping[str, Any],
    ) -> StepResult:
        """The StepResult for events: masked when no_log."""
        secret = step.no_log
        return StepResult(
            host=state.plan.host.name,
            phase=step.phase,
            step=step.name,
            status=status,
            duration=outcome.duration,
            argv=_display_argv(action),
            rc=outcome.rc,
            stdout=_mask(outcome.stdout, secret),
            stderr=_mask(outcome.stderr, secret),
            attempts=attempts,
            message=MASK if secret and status == "failed" and message else message,
            ignored=status == "failed" and step.ignore_errors,
            registered=_mask_registered(registered) if secret else dict(registered),
            no_log=secret,
        )

    # --- performing actions ---------------------------------------------------------------

    def _perform(self, state: HostState, step: Step, action: Action) -> Outcome:
        """Execute one action once."""
        try:
            if isinstance(action, RunCommand):
                return self._run_command(state, step, action)
            if isinstance(action, StartService):
                return self._start_service(state, step, action)
            if isinstance(action, Cluster):
                return self._cluster(state, step, action)
            if isinstance(action, HttpCheck):
                return _http(action)
            if isinstance(action, Skip):
                return Outcome(rc=None, changed=False, skipped=True, message=action.reason)
            return self._wait(action.seconds)
        except Interrupted:
            raise
        except LabError as exc:
            return Outcome(rc=None, failed=True, changed=False, message=exc.format())

    def _output_callback(self, state: HostState, step: Step) -> Callable[[str, str], None] | None:
        """Live output lines as step_output events (verbose runs, never for no_log steps)."""
        if not self.verbose or step.no_log:
            return None
        host = state.plan.host.name

        def forward(stream: str, line: str) -> None:
            data = {"stream": stream, "line": line}
            self.emit("step_output", host=host, phase=step.phase, step=step.name, data=data)

        return forward

    def _run_command(self, state: HostState, step: Step, action: RunCommand) -> Outcome:
        """A foreground command."""
        proc = process.run(
            action.command,
            on_output=self._output_callback(state, step),
            registry=self.registry,
            interactive=action.interactive and self.tty,
        )
        message = ""
        if proc.timed_out:
            message = f"timed out after {action.command.timeout:g}s"
        elif proc.rc != 0:
            message = f"exit code {proc.rc}"
        return Outcome(
            rc=proc.rc,
            stdout=proc.stdout,
            stderr=proc.stderr,
            duration=proc.duration,
            changed=not action.readonly,
            failed=proc.rc != 0,
            message=message,
        )

    def _start_service(self, state: HostState, step: Step, action: StartService) -> Outcome:
        """A background service; ServiceError becomes a failed outcome."""
        started = time.perf_counter()
        service = process.Service(action.name, registry=self.registry)
        service.start(
            action.command,
            ready_http=action.ready_http,
            ready_tcp=action.ready_tcp,
            ready_timeout=action.ready_timeout,
            port=action.port,
        )
        data = _service_data(service)
        self.emit(
            "service_start", host=state.plan.host.name, phase=step.phase, step=step.name, data=data
        )
        # A service lives only as long as the run and changes no cluster state: ok, not changed.
        return Outcome(
            rc=0,
            stdout=service.tail(),
            duration=time.perf_counter() - started,
            changed=False,
            extra={"url": service.url, "port": service.port, "pid": service.pid},
        )

    def _cluster(self, state: HostState, step: Step, action: Cluster) -> Outcome:
        """Probe; when done -> ok, else run (+ after) -> changed."""
        op = action.op
        started = time.perf_counter()
        if op.probe and op.is_done:
            probe = self._sub(op.probe, action, None)
            if op.is_done(ProcOutput(probe.rc, probe.stdout, probe.stderr)):
                return Outcome(0, probe.stdout, probe.stderr, probe.duration, changed=False)
        if not op.run:
            return Outcome(0, changed=False, duration=time.perf_counter() - started)
        on_output = self._progress_callback(state, step) if op.progress else None
        result = self._sub(op.run, action, on_output or self._output_callback(state, step))
        outputs = [result]
        for argv in op.after if result.rc == 0 else ():
            outputs.append(self._sub(argv, action, None))
        failed = next((out for out in outputs if out.rc != 0), None)
        return Outcome(
            rc=failed.rc if failed else 0,
            stdout="".join(out.stdout for out in outputs),
            stderr="".join(out.stderr for out in outputs),
            duration=time.perf_counter() - started,
            failed=failed is not None,
            message=_cluster_failure(op.progress, failed) if failed else "",
        )

    def _sub(
        self,
        argv: tuple[str, ...],
        action: Cluster,
        on_output: Callable[[str, str], None] | None,
    ) -> process.ProcResult:
        """Run one command of a cluster operation."""
        command = Command(argv=argv, env=action.env, timeout=action.timeout)
        return process.run(command, on_output=on_output, registry=self.registry)

    def _progress_callback(self, state: HostState, step: Step) -> Callable[[str, str], None]:
        """Turn minikube JSON events into step_output progress events."""
        from labtools.providers.minikube_events import parse_event

        host = state.plan.host.name

        def forward(stream: str, line: str) -> None:
            event = parse_event(line) if stream == "stdout" else None
            if event is None or event.fraction is None:
                return
            data = {"progress": event.fraction, "message": event.message or event.name}
            self.emit("step_output", host=host, phase=step.phase, step=step.name, data=data)

        return forward

    def _wait(self, seconds: float) -> Outcome:
        """Sleep, but wake up on Ctrl-C."""
        started = time.perf_counter()
        if self.registry.interrupted.wait(seconds):
            raise Interrupted("the run was interrupted")
        return Outcome(0, changed=False, duration=time.perf_counter() - started)


def run_plan(
    plan: Plan,
    providers: Mapping[str, Provider],
    *,
    reporters: Iterable[Reporter],
    run_dir: Path,
    templates_dir: Path | None,
    verbose: bool = False,
    interactive: bool | None = None,
    forks: int = DEFAULT_FORKS,
) -> RunSummary:
    """Run ``plan``; every process it starts is stopped before this returns (or raises)."""
    runner = Runner(
        plan,
        providers,
        reporters=reporters,
        run_dir=run_dir,
        templates_dir=templates_dir,
        verbose=verbose,
        interactive=interactive,
        forks=forks,
    )
    return runner.run()


# --- helpers ------------------------------------------------------------------------------


def step_vars(host_plan: HostPlan, step: Step, registered: Mapping[str, Any]) -> dict[str, Any]:
    """plan.step_vars when plan.py provides it, else host vars < step vars < registered."""
    try:
        from labtools.core.plan import step_vars as plan_step_vars
    except ImportError:
        from labtools.core.render import render_value

        merged = {**host_plan.vars, "phase": step.phase}
        merged.update(render_value(dict(step.vars), merged, source=step.source))
        merged.update(registered)
        return merged
    return dict(plan_step_vars(host_plan, step, registered))


def _provider_for(host_plan: HostPlan, providers: Mapping[str, Provider]) -> Provider:
    """The provider for a host: by host name, else by the host's provider name."""
    host = host_plan.host
    provider = providers.get(host.name) or providers.get(host.provider)
    if provider is None:
        raise LabError(
            f"no provider {host.provider!r} for host {host.name!r}",
            hint=f"known providers: {', '.join(sorted(providers)) or 'none'}",
        )
    return provider


def _truthy(expression: str | bool, variables: Mapping[str, Any], step: Step) -> bool:
    """Evaluate a control expression to a bool."""
    from labtools.core.render import evaluate

    return bool(evaluate(expression, variables, source=step.source))


def _registered(outcome: Outcome) -> dict[str, Any]:
    """The value ``register:`` stores (and expressions see as ``result``)."""
    value: dict[str, Any] = {
        "rc": outcome.rc,
        "stdout": outcome.stdout,
        "stdout_lines": outcome.stdout.splitlines(),
        "stderr": outcome.stderr,
        "stderr_lines": outcome.stderr.splitlines(),
        "json": _json_or_none(outcome.stdout),
        "duration": round(outcome.duration, 3),
        "changed": outcome.changed,
        "failed": outcome.failed,
        "skipped": outcome.skipped,
    }
    if outcome.message:
        value["msg"] = outcome.message
    value.update(outcome.extra)
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
    step: Step, variables: Mapping[str, Any], registered: dict[str, Any], outcome: Outcome
) -> tuple[Status, str]:
    """Apply skipped / failed_when / changed_when to one attempt."""
    if outcome.skipped:
        return "skipped", outcome.message
    scope = {**variables, "result": registered}
    failed = outcome.failed
    message = outcome.message
    if step.failed_when is not None:
        failed = _truthy(step.failed_when, scope, step)
        message = f"failed_when: {step.failed_when}" if failed else ""
    if failed:
        return "failed", message or "failed"
    changed = outcome.changed
    if step.changed_when is not None:
        changed = _truthy(step.changed_when, scope, step)
    return ("changed" if changed else "ok"), message


def _display_argv(action: Action) -> tuple[str, ...]:
    """The argv events show (masked for no_log steps)."""
    if isinstance(action, RunCommand | StartService):
        return action.display or action.command.argv
    if isinstance(action, Cluster):
        return action.op.run or action.op.probe or ()
    return ()


def _mask(text: str, secret: bool) -> str:
    """``********`` in place of any text of a no_log step."""
    return MASK if secret and text else text


def _mask_registered(registered: Mapping[str, Any]) -> dict[str, Any]:
    """Registered values with every text (and parsed JSON) masked."""
    masked: dict[str, Any] = {}
    for key, value in registered.items():
        if isinstance(value, bool | int | float) or value is None:
            masked[key] = value
        else:
            masked[key] = MASK
    return masked


def _start_data(step: Step) -> dict[str, Any]:
    """What step_start tells reporters (explain texts for verbose consoles)."""
    return {"action": step.action, "explain": dict(step.explain), "no_log": step.no_log}


def _service_data(service: process.Service) -> dict[str, Any]:
    """name, pid, port and url of a service, for service_start / service_stop."""
    return {"name": service.name, "pid": service.pid, "port": service.port, "url": service.url}


def _cluster_failure(progress: str | None, failed: process.ProcResult) -> str:
    """Why a cluster operation failed, with minikube's own error message when it gave one."""
    if progress == "minikube-json":
        from labtools.providers.minikube_events import failure_message

        detail = failure_message(failed.stdout)
        if detail:
            return detail
    return f"exit code {failed.rc}"


def _http(action: HttpCheck) -> Outcome:
    """Make the request and compare status and body with the expectations."""
    started = time.perf_counter()
    request = urllib.request.Request(action.url, method=action.method)
    try:
        with urllib.request.urlopen(request, timeout=action.timeout) as response:
            status, body = int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode("utf-8", "replace")
    except (OSError, ValueError) as exc:
        duration = time.perf_counter() - started
        return Outcome(None, "", str(exc), duration, changed=False, failed=True, message=str(exc))
    problems = []
    if status != action.status:
        problems.append(f"status {status}, expected {action.status}")
    if action.contains is not None and action.contains not in body:
        problems.append(f"body does not contain {action.contains!r}")
    return Outcome(
        rc=0 if not problems else 1,
        stdout=body,
        duration=time.perf_counter() - started,
        changed=False,
        failed=bool(problems),
        message="; ".join(problems),
        extra={"status": status},
    )
