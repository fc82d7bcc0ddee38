"""Preflight: does this machine have what the inventory asks for? Pure checks over gathered facts.

The generic part lives here (binaries on PATH, their versions, CPU, memory, disk); each provider
adds its own fact commands and checks (``Provider.fact_commands`` / ``Provider.preflight``).
The caller passes ``which`` and ``run`` (the real process runner); this module spawns nothing.
The commands are read-only probes: they run at once in threads (kubectl's start, ~40 ms, is
most of each), and identical ones (same argv, environment and timeout) run once per preflight.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from labtools.core.diagnose import NO_ANSWER
from labtools.core.errors import PreflightError
from labtools.core.inventory import compress_hosts
from labtools.core.messages import Msg, Text, english, msg, msgn
from labtools.core.model import Command, Host
from labtools.core.results import Output
from labtools.providers.base import (
    FactCommand,
    Facts,
    PreflightProblem,
    Provider,
    binary_of,
    kubectl_version_fact,
    where,
)
from labtools.providers.minikube_checks import minikube_home

Which = Callable[[str], str | None]
Run = Callable[[tuple[str, ...]], Output]
A = TypeVar("A")
R = TypeVar("R")
FACT_TIMEOUT = 30.0  # seconds, for a fact command
PROBES_AT_ONCE = 8  # threads of one preflight: each waits on a kubectl (mostly its start)

MINIKUBE_INSTALL = "https://minikube.sigs.k8s.io/docs/start/"
KUBECTL_INSTALL = "https://kubernetes.io/docs/tasks/tools/"
VERSIONED = ("kubectl", "minikube")  # tools whose `version -o json` must work
KUBECTL_VERSION = "version:kubectl"  # the fact a run's kubeconfig checks make unneeded


def gather_facts(host: Host, provider: Provider) -> list[FactCommand]:
    """The commands whose output preflight needs for this host."""
    return [kubectl_version_fact(host), *provider.fact_commands(host)]


def parse_version(key: str, out: Output) -> str | None:
    """The version in ``kubectl version --client -o json`` / ``minikube version -o json``."""
    if out.rc != 0:
        return None
    try:
        data = json.loads(out.stdout)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    if key == "version:kubectl":
        client = data.get("clientVersion")
        return str(client.get("gitVersion")) if isinstance(client, dict) else None
    value = data.get("minikubeVersion")
    return str(value) if value else None


def mem_available_mb(meminfo: str = "/proc/meminfo") -> int | None:
    """MemAvailable in MB, or None where /proc/meminfo does not exist (not Linux)."""
    try:
        with open(meminfo, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def disk_free_mb(path: str) -> int | None:
    """Free MB on the filesystem that holds ``path`` (its nearest existing parent)."""
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        return shutil.disk_usage(path).free // 2**20
    except OSError:
        return None


def collect_facts(
    host: Host,
    provider: Provider,
    *,
    which: Which,
    run: Run,
    meminfo: str = "/proc/meminfo",
    skip: frozenset[str] = frozenset(),
) -> Facts:
    """Gather the facts for one host: PATH look-ups, fact commands (but those ``skip`` names
    by key), CPU, memory and disk."""
    looked_up = (*provider.binaries(host), *provider.optional_binaries)
    binaries = {name: which(name) for name in dict.fromkeys(looked_up)}
    versions: dict[str, str | None] = {}
    drivers: dict[str, bool] = {}
    contexts: tuple[str, ...] | None = None
    for fact in gather_facts(host, provider):
        if fact.key in skip:
            continue
        binary = fact.command.argv[0]
        binaries.setdefault(binary, which(binary))
        if not binaries[binary]:
            continue  # a missing binary is its own problem; running it would only fail
        out = run(fact.command.argv)
        if fact.key.startswith("version:"):
            versions[fact.key.removeprefix("version:")] = parse_version(fact.key, out)
        elif fact.key.startswith("driver:"):
            drivers[fact.key.removeprefix("driver:")] = out.rc == 0
        elif fact.key == "contexts" and out.rc == 0:
            contexts = tuple(line.strip() for line in out.stdout.splitlines() if line.strip())
    kubeconfig = host.vars.get("kubeconfig")
    return Facts(
        binaries=binaries,
        versions=versions,
        cpu_count=os.cpu_count(),
        mem_available_mb=mem_available_mb(meminfo),
        disk_free_mb=disk_free_mb(minikube_home(host)),
        drivers=drivers,
        contexts=contexts,
        kubeconfig_exists=os.path.exists(str(kubeconfig)) if kubeconfig else None,
    )


def check(host: Host, facts: Facts, provider: str | None = None) -> list[PreflightProblem]:
    """Every problem that stops this host's lab (provider defaults to the host's)."""
    from labtools.providers import get_provider

    chosen = get_provider(provider or host.provider)
    return check_binaries(host, facts, chosen) + chosen.preflight(host, facts)


def check_binaries(host: Host, facts: Facts, provider: Provider) -> list[PreflightProblem]:
    """The provider's binaries on PATH, and the version commands of kubectl/minikube working."""
    problems: list[PreflightProblem] = []
    for binary in provider.binaries(host):
        tool = next((t for t in VERSIONED if binary == binary_of(host, t)), binary)
        if binary in facts.binaries and not facts.binaries[binary]:
            problems.append(missing_binary(host, tool, binary))
        elif tool in facts.versions and facts.versions[tool] is None:
            problems.append(
                PreflightProblem(
                    host.name,
                    tool,
                    msg("`{binary} version` failed for {where}", binary=binary, where=where(host)),
                    msg("check that `{binary} version -o json` works in a terminal", binary=binary),
                )
            )
    return problems


def missing_binary(host: Host, tool: str, binary: str) -> PreflightProblem:
    """The problem for a binary that is not on PATH, with where to get it."""
    if tool == "minikube":
        hint = msg("install it: {url} or use provider: fake to rehearse", url=MINIKUBE_INSTALL)
    elif tool == "kubectl":
        hint = msg("install it: {url}", url=KUBECTL_INSTALL)
    else:
        hint = msg("install {binary} or change the inventory", binary=binary)
    message = msg(
        "{binary} not found on PATH (needed by {where})", binary=binary, where=where(host)
    )
    return PreflightProblem(host.name, tool, message, hint)


def preflight_error(problems: Sequence[PreflightProblem]) -> PreflightError:
    """All problems in one message: one line per problem, identical ones across hosts grouped."""
    groups = group_problems(problems)
    body: Text = groups[0] if len(groups) == 1 else "".join(f"\n  - {line}" for line in groups)
    return PreflightError(
        msgn(
            "preflight found {n} problem: {problems}",
            "preflight found {n} problems: {problems}",
            len(problems),
            problems=body,
        ),
        hint=msg("fix these, then run again"),
    )


_THEM = "\0"


def _where_pattern(host: str) -> re.Pattern[str]:
    """``host NAME`` with its optional ``(file:line)``, as ``where()`` writes it."""
    return re.compile(rf"host {re.escape(host)}(?: \(([^()]*)\))?")


def group_problems(problems: Sequence[PreflightProblem]) -> list[str]:
    """One text per distinct problem; hosts with the same problem share it (``31 hosts: ...``)."""
    groups: dict[tuple[str, str], tuple[list[str], set[str]]] = {}
    for problem in problems:
        hosts = [name.strip() for name in problem.host.split(",") if name.strip()]
        text = english(problem.text())
        places: set[str] = set()
        for host in hosts:
            pattern = _where_pattern(host)
            places.update(m.group(1) for m in pattern.finditer(text) if m.group(1))
            text = pattern.sub(_THEM, text)
        names, where_set = groups.setdefault((problem.what, text), ([], set()))
        names.extend(h for h in hosts if h not in names)
        where_set.update(places)
    lines = []
    for (_what, text), (names, places) in groups.items():
        if len(names) <= 1:
            single = f"host {names[0]}" if names else "a host"
            if places:
                single += f" ({', '.join(sorted(places))})"
            lines.append(text.replace(_THEM, single))
            continue
        if _THEM not in text:  # a problem of the hosts together names them itself
            lines.append(f"{text} ({compress_hosts(names)})")
            continue
        at = f"; {', '.join(sorted(places))}" if places else ""
        lines.append(
            f"{len(names)} hosts ({compress_hosts(names)}{at}): " + text.replace(_THEM, "them")
        )
    return lines


def once(call: Callable[[A], R], key: Callable[[A], Hashable]) -> Callable[[A], R]:
    """``call`` that runs once per ``key``: a caller asking while it runs waits for that answer
    (thread-safe: the probes of many hosts ask at the same time)."""
    lock = threading.Lock()
    asked: dict[Hashable, Future[R]] = {}

    def call_once(arg: A) -> R:
        with lock:
            future = asked.get(key(arg))
            first = future is None
            if future is None:
                future = asked[key(arg)] = Future()
        if first:
            try:
                future.set_result(call(arg))
            except BaseException as exc:  # the callers waiting on it get the same error
                future.set_exception(exc)
                raise
        return future.result()

    return call_once


def cached(run: Run) -> Run:
    """``run`` that runs each argv once."""
    return once(run, key=lambda argv: argv)


def probe_key(command: Command) -> Hashable:
    """What makes two probes the same call: argv, environment, stdin and timeout."""
    return (command.argv, tuple(sorted(command.env.items())), command.stdin, command.timeout)


def all_at_once(call: Callable[[A], R], items: Iterable[A]) -> list[R]:
    """``call`` on every item in threads, the answers in the items' order.

    On an error (Ctrl-C in this thread, a probe that raised) nothing queued starts and this
    returns at once: the caller's process registry ends the probes still running.
    """
    todo = list(items)
    if len(todo) <= 1:
        return [call(item) for item in todo]
    pool = ThreadPoolExecutor(max_workers=min(PROBES_AT_ONCE, len(todo)))
    try:
        answers = [future.result() for future in [pool.submit(call, item) for item in todo]]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return answers


def _settle(future: Future[R], call: Callable[[], R]) -> None:
    """``future`` gets what ``call`` returns, or the error it raised (raised where it is used)."""
    try:
        future.set_result(call())
    except Exception as exc:
        future.set_exception(exc)


def _fact_runs(
    hosts: Sequence[Host],
    provider_of: Callable[[Host], Provider],
    which: Which,
    starting: bool,
    skip: frozenset[str] = frozenset(),
) -> list[tuple[str, ...]]:
    """Every distinct fact command of these hosts whose binary is on PATH, but those ``skip``
    names by key (a run that starts no cluster gathers none)."""
    if not starting:
        return []
    argvs = (
        fact.command.argv
        for host in hosts
        for fact in gather_facts(host, provider_of(host))
        if fact.key not in skip and which(fact.command.argv[0])
    )
    return list(dict.fromkeys(argvs))


def run_preflight(
    hosts: Sequence[Host],
    providers: Mapping[str, Provider],
    *,
    which: Which,
    run: Run,
    meminfo: str = "/proc/meminfo",
    starting: bool = True,
    extra: Callable[[], Sequence[PreflightProblem]] | None = None,
    extra_runs_kubectl: bool = False,
) -> None:
    """Check every host (providers keyed by host name); raise PreflightError with all problems.

    ``starting`` (the run starts clusters: its phases include setup) adds the providers' own
    checks (driver, CPU, memory, disk); binaries are checked for every run. ``extra`` gives
    more problems (the kubeconfig, the cluster answering) once the binaries are there.

    ``extra_runs_kubectl``: ``extra`` runs every host's kubectl (``access_problems``). When it
    finds nothing, kubectl works and ``kubectl version --client`` is not asked (a kubectl start
    less beside the lab's loading); when it finds a problem, the version tells a kubectl that
    does not run from a kubeconfig it cannot load, as before.
    """

    def provider_of(host: Host) -> Provider:
        return providers[host.name] if host.name in providers else providers[host.provider]

    which = once(which, key=lambda name: name)
    run = cached(run)  # twenty hosts need one `docker info`, not twenty
    # the facts of every host and the access checks, all read-only, at once; the access
    # checks' answer counts only when the binaries are there, as when they ran after them
    access: Future[Sequence[PreflightProblem]] = Future()
    later = frozenset({KUBECTL_VERSION} if extra is not None and extra_runs_kubectl else ())
    jobs: list[Callable[[], object]] = [
        functools.partial(run, argv)
        for argv in _fact_runs(hosts, provider_of, which, starting, skip=later)
    ]
    jobs.append(functools.partial(_settle, access, extra or list))
    all_at_once(lambda job: job(), jobs)
    # kubectl ran for every host and every check passed: its version adds nothing
    skip = later if access.exception() is None and not access.result() else frozenset()
    problems: list[PreflightProblem] = []
    by_provider: dict[str, tuple[Provider, list[Host], list[Facts]]] = {}
    for host in hosts:
        provider = provider_of(host)
        if not starting:
            facts = Facts(binaries={b: which(b) for b in provider.binaries(host)})
            problems += check_binaries(host, facts, provider)
            continue
        facts = collect_facts(host, provider, which=which, run=run, meminfo=meminfo, skip=skip)
        problems += check_binaries(host, facts, provider) + provider.preflight(host, facts)
        group = by_provider.setdefault(provider.name, (provider, [], []))
        group[1].append(host)
        group[2].append(facts)
    for provider, group_hosts, group_facts in by_provider.values():
        problems += provider.preflight_together(group_hosts, group_facts[-1])
    if not problems:
        problems += access.result()
    if problems:
        raise preflight_error(problems)


# ---------------------------------------------------------------------------- cluster access

Probe = Callable[[Command], Output]
REACH_TIMEOUT = "5s"  # kubectl's --request-timeout for the "does the cluster answer" probe
UP_FIRST = msg("is the lab up? run `invoke lab.up` first (or `invoke lab.setup`)")


def effective_kubeconfig(host: Host, provider: Provider, *, admin: bool = False) -> str:
    """The kubeconfig kubectl reads for this host: the provider's, $KUBECONFIG or the default.

    ``admin``: the one of the cluster's owner (the instructor on a shared cluster, where the lab
    itself runs as the participant with a kubeconfig labtools wrote).
    """
    env = provider.admin_env(host) if admin else provider.env(host)
    return (
        env.get("KUBECONFIG")
        or os.environ.get("KUBECONFIG")
        or os.path.join("~", ".kube", "config")
    )


def kubeconfig_command(host: Host, provider: Provider, *, admin: bool = False) -> Command:
    """``kubectl config view``: kubectl must be able to load the host's kubeconfig at all."""
    argv = (binary_of(host, "kubectl"), "config", "view", "-o", "jsonpath={.current-context}")
    env = provider.admin_env(host) if admin else provider.env(host)
    return Command(argv, env=env, timeout=30.0)


def reach_command(host: Host, provider: Provider, *, admin: bool = False) -> Command:
    """``kubectl --context C version``: the host's cluster answers (``/version`` is public)."""
    args = ("version", "-o", "json", f"--request-timeout={REACH_TIMEOUT}")
    if admin:
        argv = _cluster_scoped(provider.admin_kubectl(host, args), args)
        return Command(argv, env=provider.admin_env(host), timeout=30.0)
    return Command(
        _cluster_scoped(provider.kubectl(host, args), args), env=provider.env(host), timeout=30.0
    )


def _cluster_scoped(argv: tuple[str, ...], args: tuple[str, ...]) -> tuple[str, ...]:
    """``argv`` without the ``-n NAMESPACE`` the provider put before ``args``: ``/version`` is
    the same in every namespace, so the hosts of one cluster and kubeconfig are one probe."""
    base = list(argv[: len(argv) - len(args)])
    if "-n" in base[1:]:
        at = len(base) - 1 - base[::-1].index("-n")
        del base[at : at + 2]
    return (*base, *args)


def access_problems(
    hosts: Sequence[Host], providers: Mapping[str, Provider], *, probe: Probe, reach: bool
) -> list[PreflightProblem]:
    """Every host's kubeconfig loads (once per file), and with ``reach`` its cluster answers.

    The owner's kubeconfig is checked first (the instructor's on a shared cluster); a
    participant's own kubeconfig (labtools wrote it at setup) must then exist and answer too.
    With ``reach``, the kubeconfigs are looked at only for hosts whose cluster did not answer:
    a kubeconfig kubectl cannot load fails ``kubectl version`` too, so a run against clusters
    that answer makes one call per kubeconfig, not two.
    """
    probe = once(probe, key=probe_key)  # thirty participants of one cluster: one admin probe

    def provider_of(host: Host) -> Provider:
        return providers[host.name] if host.name in providers else providers[host.provider]

    def kubeconfig_problems(of: Sequence[Host]) -> list[PreflightProblem]:
        readers = _kubeconfig_readers(of, provider_of)
        together = kubeconfigs_together(readers, provider_of)
        if together is not None and probe(together).rc == 0:
            return []  # every file loads: no need to ask each
        loaded = all_at_once(
            lambda item: _kubeconfig_problem(item[0], provider_of(item[0]), probe, item[1]),
            readers,
        )
        return [problem for problem in loaded if problem is not None]

    if not reach:
        return kubeconfig_problems(hosts)
    answers = all_at_once(lambda host: _reach_problem(host, provider_of(host), probe), hosts)
    unreached = [problem for problem in answers if problem is not None]
    if not unreached:
        return []
    names = {problem.host for problem in unreached}
    # a kubeconfig that does not load is the cause to name (and the only one shown)
    return kubeconfig_problems([h for h in hosts if h.name in names]) or unreached


def _kubeconfig_readers(
    hosts: Sequence[Host], provider_of: Callable[[Host], Provider]
) -> list[tuple[Host, bool]]:
    """(host, admin) to load each kubeconfig once with: the owner's, and a participant's own
    where it exists (labtools writes it at setup)."""
    files: dict[tuple[str, str], tuple[Host, bool]] = {}  # (kubectl, kubeconfig) -> reader
    for host in hosts:
        for admin in (True, False):
            key = (
                binary_of(host, "kubectl"),
                effective_kubeconfig(host, provider_of(host), admin=admin),
            )
            if admin or os.path.exists(os.path.expanduser(key[1])):
                files.setdefault(key, (host, admin))
    return list(files.values())


def kubeconfigs_together(
    readers: Sequence[tuple[Host, bool]], provider_of: Callable[[Host], Provider]
) -> Command | None:
    """One ``kubectl config view`` loading every reader's kubeconfig at once (``KUBECONFIG`` is
    a list: kubectl loads each file of it and fails naming the first it cannot load), or None
    for fewer than two files, several kubectl binaries, or a path holding the list separator.
    A workshop machine's 30 profiles' kubeconfigs are then one call, not 30; when it fails, each
    file is asked on its own to name the ones that do not load.
    """
    if len(readers) < 2:
        return None
    # the rest of each reader's environment must be the same (the fake's KUBECACHEDIR keeps
    # kubectl's cache out of HOME): the call has it, with the files as one KUBECONFIG
    envs = [
        {
            key: value
            for key, value in (
                provider_of(host).admin_env(host) if admin else provider_of(host).env(host)
            ).items()
            if key != "KUBECONFIG"
        }
        for host, admin in readers
    ]
    if any(env != envs[0] for env in envs):
        return None
    binaries = {binary_of(host, "kubectl") for host, _ in readers}
    files = [
        os.path.expanduser(path)
        for host, admin in readers
        for path in effective_kubeconfig(host, provider_of(host), admin=admin).split(os.pathsep)
        if path
    ]
    if len(binaries) != 1 or any(os.pathsep in path for path in files):
        return None
    argv = (binaries.pop(), "config", "view", "-o", "jsonpath={.current-context}")
    env = {**envs[0], "KUBECONFIG": os.pathsep.join(dict.fromkeys(files))}
    return Command(argv, env=env, timeout=30.0)


def first_probes(
    hosts: Sequence[Host],
    providers: Mapping[str, Provider],
    *,
    which: Which,
    starting: bool,
    reach: bool,
) -> list[Command]:
    """The probes a preflight of these hosts makes whatever they answer (the facts, and the
    kubeconfigs or the owners' clusters), to start before the lab has loaded: all read-only.
    ``run_preflight`` and ``access_problems`` ask them again, through the caller's cache.
    kubectl's version is not among them: the access probes run kubectl (``run_preflight``'s
    ``extra_runs_kubectl``), and its version is asked only when they fail."""

    def provider_of(host: Host) -> Provider:
        return providers[host.name] if host.name in providers else providers[host.provider]

    later = frozenset({KUBECTL_VERSION})
    facts = [
        Command(argv, timeout=FACT_TIMEOUT)
        for argv in _fact_runs(hosts, provider_of, which, starting, skip=later)
    ]
    if reach:
        access = [reach_command(host, provider_of(host), admin=True) for host in hosts]
    else:
        readers = _kubeconfig_readers(hosts, provider_of)
        together = kubeconfigs_together(readers, provider_of)
        access = (
            [together]
            if together is not None
            else [
                kubeconfig_command(host, provider_of(host), admin=admin) for host, admin in readers
            ]
        )
    return list({probe_key(command): command for command in [*facts, *access]}.values())


def _kubeconfig_problem(
    host: Host, provider: Provider, probe: Probe, admin: bool
) -> PreflightProblem | None:
    """A kubeconfig kubectl cannot load (garbage, not YAML), named with kubectl's own error."""
    out = probe(kubeconfig_command(host, provider, admin=admin))
    if out.rc == 0:
        return None
    path = effective_kubeconfig(host, provider, admin=admin)
    return PreflightProblem(
        host.name,
        "kubeconfig",
        msg(
            "kubectl cannot load the kubeconfig {path} of {where}: {why}",
            path=path,
            where=where(host),
            why=_why(out),
        ),
        msg(
            "fix or move {path} away (`kubectl config view` must work); labtools reads it and "
            "only minikube adds its own entries",
            path=path,
        ),
    )


def _reach_problem(host: Host, provider: Provider, probe: Probe) -> PreflightProblem | None:
    """A cluster that does not answer (down, context missing, server gone), or a participant's
    kubeconfig that is not there yet or no longer lets them in."""
    problem = _answer_problem(host, provider, probe, admin=True)
    own = effective_kubeconfig(host, provider)
    if problem is not None or own == effective_kubeconfig(host, provider, admin=True):
        return problem
    if not os.path.exists(own):
        return PreflightProblem(
            host.name,
            "kubeconfig",
            msg(
                "the participant's kubeconfig {path} of {where} does not exist yet",
                path=own,
                where=where(host),
            ),
            msg(
                "labtools writes it when it sets the participant up: run `invoke lab.up` first "
                "(or `invoke lab.setup --limit {host}`)",
                host=host.name,
            ),
        )
    return _answer_problem(host, provider, probe, admin=False)


def _answer_problem(
    host: Host, provider: Provider, probe: Probe, *, admin: bool
) -> PreflightProblem | None:
    """The problem when ``kubectl version`` (as the owner, or as the participant) fails."""
    out = probe(reach_command(host, provider, admin=admin))
    if out.rc == 0:
        return None
    context = host.vars.get("kube_context") or host.vars.get("profile") or host.name
    # labtools starts minikube's clusters itself; an existing cluster (context) is not its own
    hint = (
        UP_FIRST
        if provider.has_minikube
        else msg("check that `kubectl --context {context} version` answers", context=context)
    )
    if not admin:
        hint = msg(
            "the participant's token may have expired or their account been removed: "
            "`invoke lab.setup --limit {host}` issues a new kubeconfig",
            host=host.name,
        )
    elif (NO_ANSWER.search(out.stderr) or out.timed_out) and provider.has_minikube:
        hint = msg(
            "the server took the connection but gave no answer within {timeout}: it is "
            "stuck or overloaded; restart the cluster (`invoke lab.down`, then `invoke lab.up`)",
            timeout=REACH_TIMEOUT,
        )
    return PreflightProblem(
        host.name,
        "cluster",
        msg(
            "the cluster of {where} (context {context}, kubeconfig {kubeconfig}) does not "
            "answer: {why}",
            where=where(host),
            context=context,
            kubeconfig=effective_kubeconfig(host, provider, admin=admin),
            why=_why(out),
        ),
        hint,
    )


def _why(out: Output) -> Msg | str:
    """kubectl's own error (its last line of stderr), or the exit code."""
    return _last_line(out.stderr) or msg("exit code {rc}", rc=out.rc)


def _last_line(text: str) -> str:
    """The last non-empty line (kubectl's error), without kubectl's ``error: `` prefix."""
    line = next((item.strip() for item in reversed(text.splitlines()) if item.strip()), "")
    return line.removeprefix("error: ")
