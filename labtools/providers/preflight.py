"""Preflight: does this machine have what the inventory asks for? Pure checks over gathered facts.

The caller passes ``which`` and ``run`` (the real process runner); this module spawns nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labtools.core.errors import PreflightError
from labtools.core.model import Command, Host
from labtools.providers.base import ProcOutput, Provider

Which = Callable[[str], str | None]
Run = Callable[[tuple[str, ...]], ProcOutput]

MIN_MEMORY_MB = 1800  # below this `minikube start` exits 23 (RSRC_INSUFFICIENT_REQ_MEMORY)
MIN_CPUS = 2  # below this `minikube start` exits 29 (RSRC_INSUFFICIENT_CORES)
DEFAULT_DISK_MB = 20000  # minikube's default --disk-size
MINIKUBE_INSTALL = "https://minikube.sigs.k8s.io/docs/start/"
KUBECTL_INSTALL = "https://kubernetes.io/docs/tasks/tools/"
DRIVER_BINARIES: Mapping[str, str] = {
    "docker": "docker",
    "podman": "podman",
    "kvm2": "virsh",
    "qemu2": "qemu-system-x86_64",
    "virtualbox": "VBoxManage",
}
DRIVERS_PROBED = ("docker", "podman")  # drivers whose daemon must answer `<bin> info`
SIZE_UNITS = {"b": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


@dataclass(frozen=True)
class FactCommand:
    """A command whose output is a fact named ``key`` (``version:kubectl``, ``driver:docker``)."""

    key: str
    command: Command


@dataclass(frozen=True)
class Facts:
    """What the machine has, as gathered for one host."""

    binaries: Mapping[str, str | None] = field(default_factory=dict)  # name -> path or None
    versions: Mapping[str, str | None] = field(default_factory=dict)  # name -> version or None
    cpu_count: int | None = None
    mem_available_mb: int | None = None
    disk_free_mb: int | None = None
    drivers: Mapping[str, bool] = field(default_factory=dict)  # driver -> `<bin> info` worked
    contexts: tuple[str, ...] | None = None  # kubeconfig contexts (provider context)
    kubeconfig_exists: bool | None = None


@dataclass(frozen=True)
class PreflightProblem:
    """One thing missing: what, for which host, and how to fix it."""

    host: str
    what: str
    message: str
    hint: str = ""

    def text(self) -> str:
        """``what: message; hint``."""
        return f"{self.what}: {self.message}" + (f"; {self.hint}" if self.hint else "")


def binary_of(host: Host, tool: str) -> str:
    """The binary the host uses for ``kubectl`` or ``minikube`` (``<tool>_bin`` var)."""
    return str(host.vars.get(f"{tool}_bin") or tool)


def where(host: Host) -> str:
    """``host lab-01 (inventory.yml:12)`` for messages."""
    src = host.source
    if src is None:
        return f"host {host.name}"
    place = src.file if src.line is None else f"{src.file}:{src.line}"
    return f"host {host.name} ({place})"


def size_mb(value: Any) -> int | None:
    """MB from an inventory size: ``2200`` (MB), ``"4g"``, ``"20000mb"``; None for max/no-limit."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)b?\s*", str(value).lower())
    if not match:
        return None
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2) or "m"])


def cpus_of(host: Host) -> int | None:
    """The requested CPU count, or None (unset, ``max``, ``no-limit``)."""
    try:
        return int(host.vars["cpus"])
    except (KeyError, TypeError, ValueError):
        return None


def gather_facts(host: Host, provider: Provider) -> list[FactCommand]:
    """The commands whose output preflight needs for this host."""
    kubectl = binary_of(host, "kubectl")
    commands = [
        FactCommand("version:kubectl", Command((kubectl, "version", "--client", "-o", "json")))
    ]
    if provider.name == "minikube":
        minikube = binary_of(host, "minikube")
        commands.append(
            FactCommand("version:minikube", Command((minikube, "version", "-o", "json")))
        )
        for driver in drivers_to_probe(host):
            commands.append(FactCommand(f"driver:{driver}", Command((driver, "info"))))
    if provider.name == "context":
        argv = [kubectl, "config", "get-contexts", "-o", "name"]
        if host.vars.get("kubeconfig"):
            argv[1:1] = ["--kubeconfig", str(host.vars["kubeconfig"])]
        commands.append(FactCommand("contexts", Command(tuple(argv))))
    return commands


def drivers_to_probe(host: Host) -> tuple[str, ...]:
    """The container drivers whose daemon must answer: the one asked for, or both when unset."""
    driver = host.vars.get("driver")
    if driver is None:
        return DRIVERS_PROBED
    return (str(driver),) if driver in DRIVERS_PROBED else ()


def required_binaries(host: Host, provider: Provider) -> tuple[str, ...]:
    """The binaries that must be on PATH for this host."""
    needed = [binary_of(host, "kubectl")]
    if provider.name == "minikube":
        needed.append(binary_of(host, "minikube"))
        driver = host.vars.get("driver")
        if driver in DRIVER_BINARIES:
            needed.append(DRIVER_BINARIES[str(driver)])
    return tuple(needed)


def parse_version(key: str, out: ProcOutput) -> str | None:
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


def minikube_home(host: Host) -> str:
    """Where minikube keeps its machines (MINIKUBE_HOME, else ~/.minikube)."""
    return os.environ.get("MINIKUBE_HOME") or os.path.join(os.path.expanduser("~"), ".minikube")


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
    host: Host, provider: Provider, *, which: Which, run: Run, meminfo: str = "/proc/meminfo"
) -> Facts:
    """Gather the facts for one host: PATH look-ups, fact commands, CPU, memory and disk."""
    binaries = {name: which(name) for name in required_binaries(host, provider)}
    binaries.update({b: which(b) for b in DRIVER_BINARIES.values() if b not in binaries})
    versions: dict[str, str | None] = {}
    drivers: dict[str, bool] = {}
    contexts: tuple[str, ...] | None = None
    for fact in gather_facts(host, provider):
        if not which(fact.command.argv[0]):
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
        disk_free_mb=disk_free_mb(minikube_home(host)) if provider.name == "minikube" else None,
        drivers=drivers,
        contexts=contexts,
        kubeconfig_exists=os.path.exists(str(kubeconfig)) if kubeconfig else None,
    )


def check(host: Host, facts: Facts, provider: str | None = None) -> list[PreflightProblem]:
    """Every problem that stops this host's lab (provider defaults to the host's)."""
    name = provider or host.provider
    problems = check_binaries(host, facts, name)
    if name == "minikube":
        problems += check_driver(host, facts)
        problems += check_resources(host, facts)
    if name == "context":
        problems += check_context(host, facts)
    return problems


def check_binaries(host: Host, facts: Facts, provider: str) -> list[PreflightProblem]:
    """kubectl (and minikube) on PATH, and their version commands working."""
    problems: list[PreflightProblem] = []
    tools = ["kubectl", "minikube"] if provider == "minikube" else ["kubectl"]
    for tool in tools:
        binary = binary_of(host, tool)
        if binary in facts.binaries and not facts.binaries[binary]:
            problems.append(missing_binary(host, tool, binary, provider))
        elif tool in facts.versions and facts.versions[tool] is None:
            problems.append(
                PreflightProblem(
                    host.name,
                    tool,
                    f"`{binary} version` failed for {where(host)}",
                    f"check that `{binary} version -o json` works in a terminal",
                )
            )
    return problems


def missing_binary(host: Host, tool: str, binary: str, provider: str) -> PreflightProblem:
    """The problem for a binary that is not on PATH, with where to get it."""
    if tool == "minikube":
        hint = f"install it: {MINIKUBE_INSTALL} or use provider: fake to rehearse"
    else:
        hint = f"install it: {KUBECTL_INSTALL}"
    return PreflightProblem(
        host.name, tool, f"{binary} not found on PATH (needed by {where(host)})", hint
    )


def check_driver(host: Host, facts: Facts) -> list[PreflightProblem]:
    """The driver the inventory asks for works, or (when unset) some driver is there."""
    driver = host.vars.get("driver")
    if driver is None:
        found = [d for d, b in DRIVER_BINARIES.items() if facts.binaries.get(b)]
        usable = [d for d in found if facts.drivers.get(d, d not in DRIVERS_PROBED)]
        if usable:
            return []
        message = (
            f"no minikube driver found for {where(host)} (looked for {', '.join(DRIVER_BINARIES)})"
        )
        if found:
            message = (
                f"{', '.join(found)} found but not answering (`info` failed) for {where(host)}"
            )
        return [PreflightProblem(host.name, "driver", message, "start Docker or set `driver`")]
    driver = str(driver)
    binary = DRIVER_BINARIES.get(driver)
    if binary and not facts.binaries.get(binary):
        message = f"inventory asks driver {driver} for {where(host)} but {binary} is not on PATH"
        return [
            PreflightProblem(host.name, "driver", message, f"install {binary} or change `driver`")
        ]
    if driver in DRIVERS_PROBED and not facts.drivers.get(driver, False):
        message = f"inventory asks driver {driver} for {where(host)} but `{binary} info` failed"
        hint = f"start the {driver} daemon (and check your user may use it) or change `driver`"
        return [PreflightProblem(host.name, "driver", message, hint)]
    return []


def check_resources(host: Host, facts: Facts) -> list[PreflightProblem]:
    """CPU, memory and disk: minikube's minimums and what the machine has."""
    problems: list[PreflightProblem] = []
    cpus = cpus_of(host)
    if cpus is not None and cpus < MIN_CPUS:
        message = f"inventory asks {cpus} CPU for {where(host)}; minikube needs at least {MIN_CPUS}"
        problems.append(PreflightProblem(host.name, "cpus", message, "set `cpus: 2` or more"))
    elif cpus is not None and facts.cpu_count is not None and cpus > facts.cpu_count:
        message = f"inventory asks {cpus} CPUs for {where(host)} but {facts.cpu_count} exist"
        problems.append(PreflightProblem(host.name, "cpus", message, "lower `cpus`"))
    problems += check_memory(host, facts)
    disk = size_mb(host.vars.get("disk_size", DEFAULT_DISK_MB))
    if disk is not None and facts.disk_free_mb is not None and disk > facts.disk_free_mb:
        message = (
            f"inventory asks {disk} MB for {where(host)} but {facts.disk_free_mb} MB is free "
            f"where minikube keeps its machines ({minikube_home(host)})"
        )
        problems.append(
            PreflightProblem(host.name, "disk", message, "lower `disk_size` or free some disk")
        )
    return problems


def check_memory(host: Host, facts: Facts) -> list[PreflightProblem]:
    """The requested memory is above minikube's minimum and available."""
    memory = size_mb(host.vars.get("memory"))
    if memory is None:
        return []
    if memory < MIN_MEMORY_MB:
        message = f"inventory asks {memory} MB for {where(host)}; minikube needs {MIN_MEMORY_MB} MB"
        return [PreflightProblem(host.name, "memory", message, "raise `memory` to 2200 or more")]
    available = facts.mem_available_mb
    if available is not None and memory > available:
        message = f"inventory asks {memory} MB for {where(host)} but {available} MB is available"
        return [PreflightProblem(host.name, "memory", message, "lower `memory` or close programs")]
    return []


def check_context(host: Host, facts: Facts) -> list[PreflightProblem]:
    """The kubeconfig exists and has the context the inventory names."""
    context = host.vars.get("kube_context")
    kubeconfig = host.vars.get("kubeconfig")
    if not context:
        message = f"provider context needs `kube_context` for {where(host)}"
        hint = "set it to one of `kubectl config get-contexts -o name`"
        return [PreflightProblem(host.name, "kube_context", message, hint)]
    if kubeconfig and facts.kubeconfig_exists is False:
        message = f"kubeconfig {kubeconfig} of {where(host)} does not exist"
        return [PreflightProblem(host.name, "kubeconfig", message, "fix the `kubeconfig` path")]
    if facts.contexts is not None and context not in facts.contexts:
        known = ", ".join(facts.contexts) or "none"
        message = f"context {context} of {where(host)} is not in the kubeconfig (it has: {known})"
        return [PreflightProblem(host.name, "kube_context", message, "fix `kube_context`")]
    return []


def check_total_memory(hosts: Sequence[Host], available: int | None) -> list[PreflightProblem]:
    """minikube clusters on one machine share its memory: their sum must fit too."""
    asked = {h.name: size_mb(h.vars.get("memory")) for h in hosts}
    sized = {name: mb for name, mb in asked.items() if mb}
    total = sum(sized.values())
    if len(sized) < 2 or available is None or total <= available:
        return []
    message = f"{len(sized)} minikube hosts together ask {total} MB but {available} MB is available"
    hint = "run fewer hosts at once (--limit) or lower `memory`"
    return [PreflightProblem(", ".join(sized), "memory", message, hint)]


def preflight_error(problems: Sequence[PreflightProblem]) -> PreflightError:
    """All problems in one paragraph."""
    count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
    body = " ".join(f"{p.text()}." for p in problems)
    return PreflightError(f"preflight found {count}: {body}", hint="fix these, then run again")


def cached(run: Run) -> Run:
    """``run`` that runs each argv once."""
    seen: dict[tuple[str, ...], ProcOutput] = {}

    def run_once(argv: tuple[str, ...]) -> ProcOutput:
        if argv not in seen:
            seen[argv] = run(argv)
        return seen[argv]

    return run_once


def run_preflight(
    hosts: Sequence[Host],
    providers: Mapping[str, Provider],
    *,
    which: Which,
    run: Run,
    meminfo: str = "/proc/meminfo",
) -> None:
    """Check every host (providers keyed by host name); raise PreflightError with all problems."""
    problems: list[PreflightProblem] = []
    minikube_hosts: list[Host] = []
    available: int | None = None
    run = cached(run)  # twenty hosts need one `docker info`, not twenty
    for host in hosts:
        provider = providers[host.name] if host.name in providers else providers[host.provider]
        facts = collect_facts(host, provider, which=which, run=run, meminfo=meminfo)
        problems += check(host, facts, provider.name)
        if provider.name == "minikube":
            minikube_hosts.append(host)
            available = facts.mem_available_mb
    problems += check_total_memory(minikube_hosts, available)
    if problems:
        raise preflight_error(problems)
