"""The ``minikube`` provider: a local cluster per host, one minikube profile each."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from labtools.core.errors import ConfigError, Location
from labtools.core.messages import msg
from labtools.core.model import Command, Host
from labtools.core.results import Output
from labtools.providers import minikube_checks as checks
from labtools.providers.base import (
    ClusterOp,
    FactCommand,
    Facts,
    Leftover,
    PreflightProblem,
    binary_of,
    isolation_on,
    participant_kubeconfig,
)

START_TIMEOUT = 900.0
WAIT_COMPONENTS = "apiserver,system_pods,default_sa,node_ready"
EXIT_PROFILE_NOT_FOUND = 85  # minikube's GUEST_NOT_FOUND
# minikube's machines lock (pkg/minikube/machine/start.go, acquireMachinesLock) is per machine
# for the container drivers ("With KIC, it's safe to provision multiple hosts simultaneously")
# but per DRIVER for VM drivers, held while the VM is created (about a minute), timing out after
# 13 minutes: more VM starts at once only queue on the lock, and the 14th waits too long.
KIC_DRIVERS = frozenset({"docker", "podman"})
VM_START_FORKS = 2  # one VM being created while the previous one boots Kubernetes
# The inventory var -> the `minikube start` flag it sets; only vars the inventory sets are passed.
START_FLAGS: tuple[tuple[str, str], ...] = (
    ("driver", "--driver"),
    ("cpus", "--cpus"),
    ("memory", "--memory"),
    ("disk_size", "--disk-size"),
    ("kubernetes_version", "--kubernetes-version"),
    ("container_runtime", "--container-runtime"),
)


def profile_of(host: Host) -> str:
    """The minikube profile of a host (``profile`` var, default the host name)."""
    return str(host.vars.get("profile") or host.name)


def namespace_of(host: Host, default: str = "default") -> str:
    """The namespace the lab runs in on this host."""
    return str(host.vars.get("namespace") or default)


def list_var(host: Host, key: str) -> list[str]:
    """A list-of-strings var (``addons``, ``extra_start_args``); a plain string is one item."""
    value = host.vars.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    raise ConfigError(
        msg(
            "host {host}: `{key}` must be a list, got {type}",
            host=host.name,
            key=key,
            type=type(value).__name__,
        ),
        location=_location(host, key),
        hint=msg("write `{key}: [a, b]`", key=key),
    )


def _location(host: Host, key: str) -> Location | None:
    if host.source is None:
        return None
    return Location(host.source.file, host.source.line, f"{host.name}.{key}")


def insert_before_dashdash(args: Sequence[str], extra: Sequence[str]) -> tuple[str, ...]:
    """``args`` with ``extra`` put before a ``--`` separator (or at the end when there is none)."""
    items = list(args)
    cut = items.index("--") if "--" in items else len(items)
    return (*items[:cut], *extra, *items[cut:])


def parse_status(out: str) -> dict[str, Any]:
    """Parse ``minikube status -o json`` (one object, or a list for many nodes): the control plane.

    Returns ``{}`` when the output is not a status (a missing profile prints CloudEvents instead).
    """
    text = out.strip()
    if not text.startswith(("{", "[")):
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {}
    if isinstance(data, list):
        data = data[0] if data else {}
    if not isinstance(data, dict) or "Host" not in data:
        return {}
    return data


def status_is_running(status: Mapping[str, Any]) -> bool:
    """True when Host, APIServer and Kubelet are Running and Kubeconfig is Configured."""
    return (
        status.get("Host") == "Running"
        and status.get("APIServer") == "Running"
        and status.get("Kubelet") == "Running"
        and status.get("Kubeconfig") == "Configured"
    )


def parse_profiles(out: str) -> list[dict[str, Any]]:
    """Parse ``minikube profile list -o json`` into the list of valid and invalid profiles."""
    try:
        data = json.loads(out.strip() or "{}")
    except json.JSONDecodeError:
        return []
    if not isinstance(data, dict):
        return []
    profiles: list[dict[str, Any]] = []
    for key in ("valid", "invalid"):
        profiles.extend(p for p in data.get(key) or [] if isinstance(p, dict))
    return profiles


def profile_names(out: str) -> list[str]:
    """The profile names in ``minikube profile list -o json`` output."""
    return [str(p.get("Name")) for p in parse_profiles(out)]


def start_is_done(out: Output) -> bool:
    """Probe check for ``start``: the status says the cluster is up (exit 0)."""
    return out.rc == 0 and status_is_running(parse_status(out.stdout))


def stop_is_done(out: Output) -> bool:
    """Probe check for ``stop``: the host is Stopped, or there is no such profile at all."""
    if out.rc == EXIT_PROFILE_NOT_FOUND:
        return True
    return parse_status(out.stdout).get("Host") in {"Stopped", "Nonexistent"}


def absent_from(profile: str) -> Callable[[Output], bool]:
    """Probe check for ``delete``: ``profile list`` worked and does not name the profile."""

    def is_done(out: Output) -> bool:
        return out.rc == 0 and profile not in profile_names(out.stdout)

    return is_done


class MinikubeProvider:
    """Builds minikube/kubectl argv for a host backed by a minikube profile."""

    name = "minikube"
    description = "a local minikube cluster per host (one profile each)"
    has_minikube = True
    settings: Mapping[str, str] = {
        "profile": "the host name",
        "kube_context": "the profile",
        "namespace": "default",
        "driver": "minikube's choice",
        "keep": "false",
    }
    optional_binaries: tuple[str, ...] = tuple(checks.DRIVER_BINARIES.values())  # any one will do

    def defaults(self, host: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """Profile = the host name, context = the profile (minikube names it so), ``default``."""
        profile = variables.get("profile") or host
        return {"profile": profile, "kube_context": profile, "namespace": "default"}

    def binaries(self, host: Host) -> tuple[str, ...]:
        """kubectl, minikube and the binary of the driver the inventory asks for."""
        needed = [binary_of(host, "kubectl"), binary_of(host, "minikube")]
        driver = host.vars.get("driver")
        if driver in checks.DRIVER_BINARIES:
            needed.append(checks.DRIVER_BINARIES[str(driver)])
        return tuple(needed)

    def fact_commands(self, host: Host) -> tuple[FactCommand, ...]:
        """``minikube version -o json`` and ``<driver> info`` for the drivers to probe."""
        minikube = binary_of(host, "minikube")
        facts = [FactCommand("version:minikube", Command((minikube, "version", "-o", "json")))]
        facts += [
            FactCommand(f"driver:{driver}", Command((driver, "info")))
            for driver in checks.drivers_to_probe(host)
        ]
        return tuple(facts)

    def preflight(self, host: Host, facts: Facts) -> list[PreflightProblem]:
        """The driver works; CPU, memory and disk are enough for minikube."""
        return checks.check_driver(host, facts) + checks.check_resources(host, facts)

    def preflight_together(self, hosts: Sequence[Host], facts: Facts) -> list[PreflightProblem]:
        """minikube clusters on one machine share its memory, cores and disk: N x each must fit."""
        return (
            checks.check_total_memory(hosts, facts.mem_available_mb)
            + checks.check_total_cpus(hosts, facts.cpu_count)
            + checks.check_total_disk(hosts, facts.disk_free_mb)
        )

    def start_forks(self, host: Host) -> int:
        """How many ``minikube start`` run at once: var ``start_forks``, else by driver.

        A container driver's start (kubeadm init in the node container) keeps about two cores
        busy for most of a minute, so half the machine's cores; a VM driver's starts queue on
        minikube's machines lock, so two (see VM_START_FORKS).
        """
        if host.vars.get("start_forks"):
            return max(1, int(host.vars["start_forks"]))
        driver = host.vars.get("driver")
        if driver is not None and str(driver) not in KIC_DRIVERS:
            return VM_START_FORKS
        return max(1, (os.cpu_count() or 2) // 2)

    def own_kubeconfig(self, host: Host) -> str | None:
        """With ``isolation`` (a workshop machine), the host's own KUBECONFIG file."""
        return participant_kubeconfig(host) if isolation_on(host, False) else None

    def lock_name(self, host: Host) -> str:
        """One run at a time per minikube profile (of one MINIKUBE_HOME)."""
        return f"minikube profile {profile_of(host)} ({checks.minikube_home(host)})"

    def leftovers(self, host: Host) -> tuple[Leftover, ...]:
        """~/.minikube is minikube's own: nothing of labtools to remove."""
        return ()

    def minikube_base(self, host: Host) -> tuple[str, ...]:
        """The argv that runs minikube (the ``minikube_bin`` var, default ``minikube``)."""
        return (str(host.vars.get("minikube_bin") or "minikube"),)

    def kube_context(self, host: Host) -> str:
        """The kubeconfig context: minikube names it after the profile."""
        return str(host.vars.get("kube_context") or profile_of(host))

    def kubectl(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        """``kubectl --context PROFILE [-n NS] ARGS`` (``-n`` only outside ``default``)."""
        argv: list[str] = [str(host.vars.get("kubectl_bin") or "kubectl")]
        argv += ["--context", self.kube_context(host)]
        namespace = namespace_of(host)
        if namespace != "default":
            argv += ["-n", namespace]
        return (*argv, *args)

    def admin_kubectl(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        """The same as ``kubectl``: the profile's user owns its cluster."""
        return self.kubectl(host, args)

    def admin_env(self, host: Host) -> dict[str, str]:
        """The host's own environment."""
        return dict(self.env(host))

    def minikube(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        """``minikube ARGS -p PROFILE`` (``-p`` stays before ``--`` of ``minikube kubectl --``)."""
        return (*self.minikube_base(host), *insert_before_dashdash(args, ("-p", profile_of(host))))

    def env(self, host: Host) -> dict[str, str]:
        """``MINIKUBE_IN_STYLE=false`` (plain output), ``KUBECONFIG`` when the host sets one."""
        env = {"MINIKUBE_IN_STYLE": "false"}
        own = self.own_kubeconfig(host)
        if own or host.vars.get("kubeconfig"):
            env["KUBECONFIG"] = own or str(host.vars["kubeconfig"])
        return env

    def shell_env(self, host: Host) -> dict[str, str]:
        """``KUBECONFIG`` when the host sets one; minikube's own defaults otherwise."""
        return {"KUBECONFIG": str(host.vars["kubeconfig"])} if host.vars.get("kubeconfig") else {}

    def shell_commands(self, host: Host) -> dict[str, tuple[str, ...]]:
        """Nothing: minikube and kubectl are on PATH."""
        return {}

    def start_args(self, host: Host, *, machine_output: bool = True) -> tuple[str, ...]:
        """The ``minikube start`` arguments for the flags the inventory sets.

        ``machine_output``: ``--output json`` for the runner's progress; a person reads text.
        """
        args: list[str] = ["start"]
        for var, flag in START_FLAGS:
            if host.vars.get(var) not in (None, ""):
                args += [flag, str(host.vars[var])]
        addons = list_var(host, "addons")
        if addons:
            args += ["--addons", ",".join(addons)]
        args += [f"--wait={WAIT_COMPONENTS}"]
        args += ["--output", "json"] if machine_output else []
        if not self.own_kubeconfig(host):
            # the user's kubeconfig: never switch its current context. A participant's own
            # file is theirs alone: its context is made current, so `export KUBECONFIG=FILE`
            # and a plain `kubectl get pods` reach their cluster, as the card says
            args += ["--keep-context"]
        args += list_var(host, "extra_start_args")
        return tuple(args)

    def profile_config(self, host: Host) -> str:
        """``<MiniPath>/profiles/<profile>/config.json``: the profile's ClusterConfig, which
        ``minikube start`` writes first. Without it ``minikube status`` can only answer
        "Profile not found", so a start does not ask (one minikube start-up less)."""
        home = self.env(host).get("MINIKUBE_HOME") or os.environ.get("MINIKUBE_HOME")
        return str(checks.mini_path(home) / "profiles" / profile_of(host) / "config.json")

    def cluster(self, host: Host, op: str) -> ClusterOp:
        """The idempotent lifecycle operation ``op`` (start, stop, delete, status)."""
        status = self.minikube(host, ("status", "-o", "json"))
        if op == "start":
            timeout = float(host.vars.get("start_timeout") or START_TIMEOUT)
            run = self.minikube(host, self.start_args(host))
            shown = self.minikube(host, self.start_args(host, machine_output=False))
            return ClusterOp(
                "start",
                status,
                start_is_done,
                run,
                probe_needs=(self.profile_config(host),),
                progress="minikube-json",
                timeout=timeout,
                parallel=self.start_forks(host),
                shown=shown,
            )
        if op == "stop":
            return ClusterOp("stop", status, stop_is_done, self.minikube(host, ("stop",)))
        if op == "delete":
            if _truthy(host.vars.get("keep")):
                reason = msg(
                    "keep: true for host {host} (profile {profile} kept)",
                    host=host.name,
                    profile=profile_of(host),
                )
                return ClusterOp("delete", skip_reason=reason)
            probe = (*self.minikube_base(host), "profile", "list", "-o", "json")
            run = self.minikube(host, ("delete",))
            own = self.own_kubeconfig(host)
            removes = (own,) if own else ()
            return ClusterOp("delete", probe, absent_from(profile_of(host)), run, removes=removes)
        if op == "status":
            # ok when running; otherwise the same command runs and its non-zero exit fails the step
            return ClusterOp("status", status, start_is_done, status)
        raise unknown_op(host, op)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def unknown_op(host: Host, op: str) -> ConfigError:
    """The error for a ``cluster:`` value that is not a lifecycle operation."""
    return ConfigError(
        msg("host {host}: unknown cluster operation {op!r}", host=host.name, op=op),
        hint=msg("use one of: {names}", names="start, stop, delete, status"),
    )
