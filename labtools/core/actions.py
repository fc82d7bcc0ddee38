"""Pure: turn a ``Step`` + variables + ``Host`` + ``Provider`` into a rendered action (data)."""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtools.core.diagnose import is_wait, waits_for_nodes
from labtools.core.errors import Location, TemplateError
from labtools.core.messages import Text, msg
from labtools.core.model import Command, Host, Lab, Step
from labtools.providers.base import ClusterOp, Provider

DEFAULT_TIMEOUT = 120.0
DEFAULT_READY_TIMEOUT = 30.0
MANIFEST_SUFFIXES = (".yaml.j2", ".yaml")  # a folder of manifests (templates/workshop/)
MASK = "********"
INTERACTIVE_SKIP = msg("needs a terminal (stdin is not a TTY)")

# First words (or first two) of kubectl/minikube arguments that only read (design.md).
READONLY_VERBS = frozenset(
    {
        "get",
        "describe",
        "logs",
        "version",
        "cluster-info",
        "explain",
        "api-resources",
        "api-versions",
        "top",
        "wait",
        "exec",
        "status",
        "ip",
    }
)
READONLY_PAIRS = frozenset(
    {
        ("rollout", "status"),
        ("rollout", "history"),
        ("profile", "list"),
        ("service", "--url"),
        ("addons", "list"),
        ("config", "view"),
        ("config", "current-context"),
        ("config", "get-contexts"),
        ("auth", "can-i"),
    }
)


@dataclass(frozen=True)
class ChecksCall:
    """What a ``verify:`` step's pytest command is made of, so that the hosts running the same
    step at the same time can share one pytest session (one process for all of them)."""

    root: str
    lab: str
    checks: tuple[str, ...]
    inventory: str
    host: str
    sets_json: str  # the --lab-set values (JSON): hosts share a session only when they agree
    proxy_url: str | None = None
    junit: str | None = None

    def key(self) -> tuple[str, ...]:
        """What hosts must have in common to be checked in one session."""
        return (self.root, self.lab, *self.checks, self.inventory, self.sets_json)

    def argv(self, calls: Sequence[ChecksCall], junit: str | None) -> tuple[str, ...]:
        """One pytest command checking the hosts of ``calls`` (each with its own proxy)."""
        from labtools.verify.run import verify_command

        proxies = {c.host: c.proxy_url for c in calls if c.proxy_url}
        return verify_command(
            self.root,
            lab=self.lab,
            checks=self.checks,
            inventory=self.inventory,
            hosts=[c.host for c in calls],
            sets=json.loads(self.sets_json),
            proxy_url=proxies or None,
            junit=junit,
        )


@dataclass(frozen=True)
class RunCommand:
    """Run a command to its end; ``readonly`` commands default to ``ok`` instead of ``changed``."""

    command: Command
    readonly: bool = False
    interactive: bool = False
    display: tuple[str, ...] = ()  # argv with no_log values masked
    ok_codes: tuple[int, ...] = (0,)  # exit codes that are not a failure (kubectl diff: 0, 1)
    stdin_from: str | None = None  # what stdin is, for display (``templates/x.yaml.j2``)
    checks: ChecksCall | None = None  # a verify step: may share one session with other hosts
    kubectl: bool = False  # a kubectl command: a read-only one is retried (core/retry.py)
    watch_pods: bool = False  # kubectl wait / rollout status: ends at a hopeless pod (diagnose)
    watch_nodes: bool = False  # ... of nodes: ends at a node whose kubelet stopped reporting


@dataclass(frozen=True)
class StartService:
    """Start a background process and wait for its readiness probe."""

    name: str
    command: Command
    port: int | None = None
    ready_http: str | None = None
    ready_tcp: int | None = None
    ready_timeout: float = DEFAULT_READY_TIMEOUT
    display: tuple[str, ...] = ()


@dataclass(frozen=True)
class HttpCheck:
    """An HTTP request with expectations (status, text contained in the body)."""

    url: str
    method: str = "GET"
    status: int = 200
    contains: str | None = None
    timeout: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True)
class Wait:
    """Sleep a number of seconds."""

    seconds: float


@dataclass(frozen=True)
class Cluster:
    """The provider's idempotent lifecycle operation (probe, then run when not done)."""

    op: ClusterOp
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    stdin: str | None = None  # the op's rendered manifests, piped to its ``run``


@dataclass(frozen=True)
class Skip:
    """The step does not apply here; the reason is shown to the user."""

    reason: Text


Action = RunCommand | StartService | HttpCheck | Wait | Cluster | Skip


@dataclass(frozen=True)
class Context:
    """What building an action needs besides the step and its variables."""

    host: Host
    provider: Provider
    templates_dir: Path | None = None
    lab: Lab | None = None  # its folder (checks/) and secrets, for `verify:`
    extra_vars: Mapping[str, Any] = field(default_factory=dict)  # --set, passed on to checks
    tty: bool = False
    hosts: int = 1  # how many hosts the run has: an interactive step is for one at a time
    choose_port: Callable[[int | None], int] = lambda port: port or 0
    run_dir: Path | None = None


def spec_at(step: Step) -> Location:
    """Where the step's action value is (its key's line), for errors in rendering it."""
    return step.spec_source or step.source


def timeout_for(step: Step, variables: Mapping[str, Any]) -> float:
    """Step ``timeout``, else the lab var ``command_timeout``, else 120 s."""
    if step.timeout is not None:
        return float(step.timeout)
    value = variables.get("command_timeout")
    return float(value) if value not in (None, "") else DEFAULT_TIMEOUT


def is_readonly(args: Sequence[str]) -> bool:
    """True when kubectl/minikube arguments start with a read-only verb."""
    if not args:
        return False
    if args[0] in READONLY_VERBS:
        return True
    return any(args[0] == first and second in args[1:] for first, second in READONLY_PAIRS)


def literal_words(template: Any) -> frozenset[str]:
    """Words of a command template that hold no ``{{ }}`` (shown even when no_log)."""
    if not isinstance(template, str):
        return frozenset()
    lexer = shlex.shlex(template, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return frozenset(word for word in lexer if "{{" not in word and "{%" not in word)
    except ValueError:
        return frozenset()


def mask_argv(argv: Sequence[str], args_from: int, template: Any) -> tuple[str, ...]:
    """Mask every argument at or after ``args_from`` that is not literal template text."""
    shown = literal_words(template)
    return tuple(
        word if index < args_from or word in shown else MASK for index, word in enumerate(argv)
    )


def build(step: Step, variables: Mapping[str, Any], ctx: Context) -> Action:
    """Render ``step`` into an action (raises TemplateError on a bad template)."""
    builder = _BUILDERS.get(step.action)
    if builder is None:
        raise TemplateError(f"unknown action {step.action!r}", location=step.source)
    return builder(step, variables, ctx)


def _env(
    step: Step,
    variables: Mapping[str, Any],
    ctx: Context,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Provider environment (or ``base``) plus the step's rendered ``env:``."""
    from labtools.core.render import render_text

    env = dict(ctx.provider.env(ctx.host) if base is None else base)
    for key, value in step.env.items():
        env[str(key)] = render_text(
            str(value), variables, source=step.source, templates_dir=ctx.templates_dir
        )
    return env


def _command(
    step: Step, variables: Mapping[str, Any], ctx: Context, argv: Sequence[str]
) -> Command:
    """A Command with the step's stdin, environment, timeout and no_log flag."""
    from labtools.core.render import render_text

    stdin = (
        render_text(step.stdin, variables, source=step.source, templates_dir=ctx.templates_dir)
        if step.stdin
        else None
    )
    return Command(
        argv=tuple(argv),
        stdin=stdin,
        env=_env(step, variables, ctx),
        timeout=timeout_for(step, variables),
        secret=step.no_log,
    )


def _tool_argv(
    step: Step, spec: Any, variables: Mapping[str, Any], ctx: Context, tool: str
) -> tuple[tuple[str, ...], int, tuple[str, ...]]:
    """(full argv, index where the user's arguments start, those arguments)."""
    from labtools.core.render import render_argv

    args = render_argv(spec, variables, source=spec_at(step), templates_dir=ctx.templates_dir)
    if tool == "kubectl":
        argv = ctx.provider.kubectl(ctx.host, args)
    elif tool == "minikube":
        argv = ctx.provider.minikube(ctx.host, args)
    else:
        argv = args
    return tuple(argv), len(argv) - len(args), tuple(args)


def _display(step: Step, argv: Sequence[str], args_from: int, template: Any) -> tuple[str, ...]:
    """argv as events show it: masked when the step is no_log."""
    return mask_argv(argv, args_from, template) if step.no_log else tuple(argv)


def _build_run(step: Step, variables: Mapping[str, Any], ctx: Context) -> Action:
    """command / kubectl / minikube."""
    if step.action == "minikube" and not ctx.provider.has_minikube:
        return Skip(msg("provider {provider} has no minikube", provider=ctx.provider.name))
    if step.interactive and not ctx.tty:
        return Skip(INTERACTIVE_SKIP)
    if step.interactive and ctx.hosts > 1:
        # a terminal is one person's: 30 participants' shells in a row is nobody's lab
        return Skip(
            msg(
                "an interactive step is for one host at a time and this run has {n}: "
                "run it for one with --limit HOST",
                n=ctx.hosts,
            )
        )
    argv, args_from, args = _tool_argv(step, step.spec, variables, ctx, step.action)
    readonly = step.action != "command" and is_readonly(args)
    return RunCommand(
        command=_command(step, variables, ctx, argv),
        readonly=readonly,
        kubectl=step.action == "kubectl",
        watch_pods=step.action == "kubectl" and is_wait(args),
        watch_nodes=step.action == "kubectl" and waits_for_nodes(args),
        interactive=step.interactive,
        display=_display(step, argv, args_from, step.spec),
    )


@dataclass(frozen=True)
class Manifest:
    """A ``manifest:`` step's value: a template, applied (or only diffed), client or server side."""

    template: str
    diff: bool = False  # kubectl diff: exit 0 no differences, 1 differences, >1 an error
    server_side: bool = False  # no last-applied annotation (which would hold a Secret's data)

    @classmethod
    def of(cls, spec: Any) -> Manifest:
        """From ``manifest: PATH`` or ``manifest: {template: PATH, diff: .., server_side: ..}``."""
        if isinstance(spec, Mapping):
            return cls(
                str(spec.get("template")), bool(spec.get("diff")), bool(spec.get("server_side"))
            )
        return cls(str(spec))

    def args(self) -> tuple[str, ...]:
        """``apply -f -``, ``diff --server-side -f -``..."""
        verb = "diff" if self.diff else "apply"
        return (verb, *(("--server-side",) if self.server_side else ()), "-f", "-")


def _build_manifest(step: Step, variables: Mapping[str, Any], ctx: Context) -> Action:
    """Render the manifest and pipe it to ``kubectl apply -f -`` (or ``kubectl diff -f -``)."""
    from labtools.core.render import render_manifest, render_text

    manifest = Manifest.of(step.spec)
    name = render_text(manifest.template, variables, source=spec_at(step))
    argv = ctx.provider.kubectl(ctx.host, manifest.args())
    if ctx.templates_dir is None:
        raise TemplateError("no templates directory to find the manifest in", location=step.source)
    text, _docs = render_manifest(name, variables, templates_dir=ctx.templates_dir)
    command = dataclasses.replace(_command(step, variables, ctx, argv), stdin=text)
    return RunCommand(
        command=command,
        readonly=manifest.diff,
        display=tuple(argv),
        ok_codes=(0, 1) if manifest.diff else (0,),
        stdin_from=f"templates/{name}",
    )


def service_port(step: Step, variables: Mapping[str, Any]) -> int | None:
    """The service's preferred ``port:`` (rendered), or None."""
    from labtools.core.render import render_value

    spec = step.spec if isinstance(step.spec, Mapping) else {}
    value = render_value(spec.get("port"), variables, source=spec_at(step))
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise TemplateError(
            f"service port must be a number, got {value!r}", location=spec_at(step)
        ) from exc


def _build_service(step: Step, variables: Mapping[str, Any], ctx: Context) -> Action:
    """Pick the port, then render the command and readiness probe with ``port`` set."""
    from labtools.core.render import render_text, render_value

    spec: Mapping[str, Any] = step.spec if isinstance(step.spec, Mapping) else {}
    preferred = service_port(step, variables)
    port = ctx.choose_port(preferred) if preferred is not None else None
    scope = {**variables, "port": port} if port is not None else variables
    tool = "kubectl" if "kubectl" in spec else "command"
    argv, args_from, _args = _tool_argv(step, spec.get(tool, ""), scope, ctx, tool)
    ready: Mapping[str, Any] = spec.get("ready") or {}
    http = (
        render_text(
            str(ready["http"]), scope, source=spec_at(step), templates_dir=ctx.templates_dir
        )
        if "http" in ready
        else None
    )
    tcp = render_value(ready.get("tcp"), scope, source=spec_at(step))
    timeout = step.timeout if step.timeout is not None else DEFAULT_READY_TIMEOUT
    return StartService(
        name=str(spec.get("name") or step.name),
        command=_command(step, scope, ctx, argv),
        port=port,
        ready_http=http,
        ready_tcp=int(tcp) if tcp not in (None, "") else None,
        ready_timeout=float(timeout),
        display=_display(step, argv, args_from, spec.get(tool)),
    )


def _build_http(step: Step, variables: Mapping[str, Any], ctx: Context) -> Action:
    """An HTTP check from a URL or a mapping."""
    from labtools.core.render import render_value

    spec = step.spec if isinstance(step.spec, Mapping) else {"url": step.spec}
    values = render_value(
        dict(spec), variables, source=spec_at(step), templates_dir=ctx.templates_dir
    )
    headers = {str(k): str(v) for k, v in (values.get("headers") or {}).items()}
    body = values.get("body")
    if isinstance(body, Mapping | list):
        # a structured body is sent as JSON, as Ansible's uri module does with body_format: json
        body = json.dumps(body)
        headers = {"Content-Type": "application/json", **headers}
    method = str(values.get("method") or ("POST" if body is not None else "GET")).upper()
    return HttpCheck(
        url=url_text(str(values["url"])),
        method=method,
        status=int(values.get("status", 200)),
        contains=str(values["contains"]) if values.get("contains") is not None else None,
        timeout=timeout_for(step, variables) if step.timeout else 10.0,
        headers=headers,
        body=None if body is None else str(body),
    )


# What may stay as it is in a URL: RFC 3986's reserved and unreserved characters, and '%' (an
# escape the author wrote). Anything else (space, newline, NUL, quotes, non-ASCII) is
# percent-encoded as UTF-8, as curl and requests do, so a value inside a URL can never split it,
# end the request line or add a header: it stays in its place, encoded.
URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


def url_text(url: str) -> str:
    """A rendered URL with every character a URL cannot hold percent-encoded (UTF-8)."""
    from urllib.parse import quote

    return quote(url, safe=URL_SAFE)


def _build_wait(step: Step, variables: Mapping[str, Any], ctx: Context) -> Action:
    """Sleep."""
    from labtools.core.render import render_value

    return Wait(float(render_value(step.spec, variables, source=spec_at(step))))


def _build_cluster(step: Step, variables: Mapping[str, Any], ctx: Context) -> Action:
    """The provider's lifecycle operation, or Skip when it does not apply."""
    from labtools.core.render import render_text

    op = ctx.provider.cluster(
        ctx.host, render_text(str(step.spec), variables, source=spec_at(step))
    )
    if op.skip_reason:
        return Skip(op.skip_reason)
    timeout = step.timeout or op.timeout or timeout_for(step, variables)
    stdin = render_folder(op.manifests, variables, ctx.templates_dir) if op.manifests else None
    env = _env(step, variables, ctx, op.env)
    return Cluster(op=op, env=env, timeout=float(timeout), stdin=stdin)


def render_folder(folder: str, variables: Mapping[str, Any], templates_dir: Path | None) -> str:
    """Every manifest of ``templates/<folder>/`` (``*.yaml.j2`` rendered, ``*.yaml`` as it is),
    in name order, as one YAML stream."""
    from labtools.core.render import render_manifest

    where = templates_dir / folder if templates_dir is not None else None
    names = (
        sorted(p.name for p in where.iterdir() if p.name.endswith(MANIFEST_SUFFIXES))
        if (where and where.is_dir())
        else []
    )
    if not names or templates_dir is None:
        shown = str(where or "templates/" + folder) + "/"
        files = "templates/" + folder + "/*.yaml.j2"
        raise TemplateError(
            msg("no manifest templates in {folder}", folder=shown),
            location=Location(str(where or folder)),
            hint=msg(
                "a shared cluster's participants are made from {files}: copy them from the "
                "labtools repository, or set `isolation: false`",
                files=files,
            ),
        )
    texts = [
        render_manifest(f"{folder}/{name}", variables, templates_dir=templates_dir)[0]
        for name in names
    ]
    return "\n---\n".join(text.strip("\n") for text in texts) + "\n"


def _build_verify(step: Step, variables: Mapping[str, Any], ctx: Context) -> Action:
    """Run the lab's pytest-testinfra checks against this host (JUnit XML in the run dir).

    The command is short and can be pasted into CI: the checks load the lab's variables
    themselves; only --set values and the step's own ``vars:`` travel on it, secrets never.
    """
    from labtools.core.render import render_text
    from labtools.verify.run import shown

    lab, folder = lab_folder(ctx, step.source)
    checks = render_text(str(step.spec), variables, source=spec_at(step))
    junit = ctx.run_dir / f"verify-{ctx.host.name}.xml" if ctx.run_dir is not None else None
    own = {k: variables[k] for k in step.vars if k != "proxy_url" and k in variables}
    call = checks_call(variables, ctx, lab, [folder / "checks" / f"test_{checks}.py"], own, junit)
    argv = call.argv([call], call.junit)
    command = _command(step, variables, ctx, argv)
    env = {**command.env, **CHECKS_ENV}
    command = dataclasses.replace(command, cwd=call.root, env=env)
    return RunCommand(command=command, readonly=True, display=shown(argv), checks=call)


# Only the plugins the checks need (named with -p): every installed pytest11 plugin would
# load otherwise (hypothesis, labtools' own fake-cluster fixtures...), a third of the start.
CHECKS_ENV: Mapping[str, str] = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def lab_folder(ctx: Context, location: Location) -> tuple[Lab, Path]:
    """The running lab and its ``playbooks/<lab>/``, where its ``checks/`` are."""
    if ctx.lab is None or not ctx.lab.folder:
        raise TemplateError("no lab folder to find the checks in", location=location)
    return ctx.lab, Path(ctx.lab.folder)


def checks_call(
    variables: Mapping[str, Any],
    ctx: Context,
    lab: Lab,
    checks: Sequence[str | Path],
    own: Mapping[str, Any],
    junit: Path | None = None,
) -> ChecksCall:
    """pytest on ``checks`` against this host, run in the project root (``call.root``).

    ``checks`` are files or ``file::test`` ids; ``own`` are values the step adds to --set.
    """
    from labtools.core.plan import INTERNAL_VARS

    root = Path(str(variables.get("project_root") or "."))
    proxy = variables.get("proxy_url")
    passed = {k: v for k, v in ctx.extra_vars.items() if k not in INTERNAL_VARS}
    passed.update(own)
    return ChecksCall(
        root=str(root),
        lab=Path(lab.folder).name,
        checks=tuple(str(path) for path in checks),
        inventory=str(variables.get("inventory_file") or "inventory.yml"),
        host=ctx.host.name,
        sets_json=json.dumps(_without_secrets(passed, lab, variables), default=str, sort_keys=True),
        proxy_url=str(proxy) if proxy not in (None, "") else None,
        junit=str(junit) if junit is not None else None,
    )


def _without_secrets(
    values: Mapping[str, Any], lab: Lab, variables: Mapping[str, Any]
) -> dict[str, Any]:
    """``values`` without the lab's secrets (and what its no_log steps use), by name or inside
    another value."""
    from labtools.core.plan import no_log_names
    from labtools.core.redact import Redactor

    secret = set(lab.secrets) | no_log_names(lab)
    redactor = Redactor(str(variables[name]) for name in secret if name in variables)
    return {
        key: value
        for key, value in values.items()
        if key not in secret and redactor.value(value) == value
    }


_BUILDERS: Mapping[str, Callable[[Step, Mapping[str, Any], Context], Action]] = {
    "command": _build_run,
    "kubectl": _build_run,
    "minikube": _build_run,
    "manifest": _build_manifest,
    "service": _build_service,
    "http": _build_http,
    "wait": _build_wait,
    "cluster": _build_cluster,
    "verify": _build_verify,
}


def display_text(action: Action) -> str:
    """One line for an action: the shell-quoted argv (masked when no_log)."""
    if isinstance(action, RunCommand | StartService):
        text = shlex.join(action.display or action.command.argv)
        if isinstance(action, RunCommand) and action.stdin_from:
            return f"{text} < {action.stdin_from}"
        if isinstance(action, RunCommand) and action.command.stdin and action.display:
            return text + (" < (stdin)" if not action.command.secret else "")
        return text
    if isinstance(action, Cluster):
        op = action.op
        parts = [shlex.join(op.probe)] if op.probe else []
        run = shlex.join(op.run) if op.run else ""
        if op.manifests:
            run += f" < templates/{op.manifests}/*.yaml.j2"
        parts += [run] if run else []
        text = f"cluster {op.name}: " + " || ".join(parts)
        if op.credentials:
            text += f"; {shlex.join(op.credentials.token)} > {op.credentials.path} (0600)"
        if op.removes:
            text += f"; rm {shlex.join(op.removes)}"
        return text
    if isinstance(action, HttpCheck):
        text = f"http {action.method} {action.url} (expect {action.status}"
        return text + (f", contains {action.contains!r})" if action.contains else ")")
    if isinstance(action, Wait):
        return f"wait {action.seconds:g}s"
    return f"skip: {action.reason}"
