"""The provider contract: providers build commands and parse outputs; they never run anything.

Each provider owns its settings and their defaults, the binaries it needs, the facts preflight
gathers for it and the checks preflight makes; ``labtools.providers`` registers them in one place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from labtools.core.messages import Text, msg
from labtools.core.model import Command, Host
from labtools.core.results import Output


@dataclass(frozen=True)
class ClusterOp:
    """An idempotent cluster lifecycle operation, expressed as data.

    The runner runs ``probe`` (if any) and calls ``is_done`` on its output: when it returns True the
    step is ``ok`` and ``run`` is not started. Otherwise ``run`` runs and the step is ``changed``.
    ``progress`` names a parser for live progress ("minikube-json" for ``start --output json``).
    ``skip_reason`` set means the operation does not apply to this provider (step ``skipped``).

    A participant's place on a shared cluster adds: ``manifests`` (a folder under ``templates/``
    whose ``*.yaml.j2`` files are rendered with the host's variables and piped to ``run``),
    ``changed_when`` (``run``'s own output says whether anything changed: ``kubectl apply``),
    ``credentials`` (a kubeconfig to issue once ``run`` succeeded) and ``removes`` (files to
    delete once it succeeded). ``env`` replaces the host's environment for these commands (the
    instructor's, not the participant's).
    """

    name: str
    probe: tuple[str, ...] | None = None
    is_done: Callable[[Output], bool] | None = None
    run: tuple[str, ...] | None = None
    after: tuple[tuple[str, ...], ...] = ()  # commands run after ``run`` (e.g. kubeconfig cleanup)
    progress: str | None = None
    skip_reason: Text | None = None
    timeout: float | None = None
    manifests: str | None = None
    changed_when: Callable[[Output], bool] | None = None
    credentials: Credentials | None = None
    removes: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None
    parallel: int | None = None  # at most this many hosts run ``run`` at once (minikube start)
    shown: tuple[str, ...] | None = None  # what a person types for it (no machine output)
    # files the probe's answer depends on: when none of them exists the operation is not done,
    # and the probe is not run (minikube's profile config: no profile, no cluster to ask about)
    probe_needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Credentials:
    """A participant's kubeconfig to issue: a ServiceAccount token and the cluster's CA.

    ``token`` prints a TokenRequest token (``kubectl create token SA --duration D``) and
    ``cluster`` the instructor context's cluster entry as JSON (server, CA data). Both outputs are
    secrets handled by the runner alone: they reach the file, never an event.
    """

    path: str  # the kubeconfig written, mode 0600
    token: tuple[str, ...]
    cluster: tuple[str, ...]
    context: str
    user: str
    namespace: str
    account: str  # the ServiceAccount: when `run` (re)created it, older tokens are void
    duration: float  # seconds asked for; a token with less than half of it left is renewed


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
    disk_free_mb: int | None = None  # where minikube keeps its machines
    drivers: Mapping[str, bool] = field(default_factory=dict)  # driver -> `<bin> info` worked
    contexts: tuple[str, ...] | None = None  # kubeconfig contexts (provider context)
    kubeconfig_exists: bool | None = None


@dataclass(frozen=True)
class Leftover:
    """A directory a provider keeps for its clusters; a teardown removes it once none is left.

    ``in_use`` is a glob: while it matches anything (a profile), the directory stays.
    """

    path: str
    in_use: str


@dataclass(frozen=True)
class PreflightProblem:
    """One thing missing: what, for which host, and how to fix it."""

    host: str
    what: str
    message: Text
    hint: Text = ""

    def text(self) -> Text:
        """``what: message; hint``."""
        if not self.hint:
            return msg("{what}: {message}", what=self.what, message=self.message)
        return msg(
            "{what}: {message}; {hint}", what=self.what, message=self.message, hint=self.hint
        )


class Provider(Protocol):
    """Builds the argv for one host; ``kubectl``/``minikube`` get explicit --context / -p."""

    name: str
    description: str
    has_minikube: bool
    settings: Mapping[str, str]  # setting -> its default, as `lab.list` shows it
    optional_binaries: tuple[str, ...]  # looked up for preflight, not required (minikube drivers)

    def defaults(self, host: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """The settings this provider fills in where the lab and the inventory leave them unset."""
        ...

    def kubectl(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        """Full argv for ``kubectl ARGS`` against this host (binary, --context, -n if needed)."""
        ...

    def minikube(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        """Full argv for ``minikube ARGS`` for this host's profile (-p PROFILE)."""
        ...

    def admin_kubectl(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        """``kubectl ARGS`` in the lab's namespace as the cluster's owner (diagnostics, prepare):
        the instructor on a shared cluster, where ``kubectl`` runs as the participant."""
        ...

    def admin_env(self, host: Host) -> Mapping[str, str]:
        """The environment of ``admin_kubectl`` (never the participant's KUBECONFIG)."""
        ...

    def env(self, host: Host) -> Mapping[str, str]:
        """Extra environment for every command of this host (KUBECONFIG, MINIKUBE_HOME...)."""
        ...

    def shell_env(self, host: Host) -> Mapping[str, str]:
        """What a person's shell needs to reach this host as the runner does (tutor, lab.shell)."""
        ...

    def shell_commands(self, host: Host) -> Mapping[str, tuple[str, ...]]:
        """Commands a person's shell needs by name that are not on PATH (the fake's minikube)."""
        ...

    def cluster(self, host: Host, op: str) -> ClusterOp:
        """The lifecycle operation ``op`` (start, stop, delete, status) as data."""
        ...

    def binaries(self, host: Host) -> tuple[str, ...]:
        """The binaries that must be on PATH for this host."""
        ...

    def fact_commands(self, host: Host) -> tuple[FactCommand, ...]:
        """Read-only commands whose output preflight needs for this host."""
        ...

    def preflight(self, host: Host, facts: Facts) -> list[PreflightProblem]:
        """What stops this host's lab on this machine, from the gathered facts."""
        ...

    def preflight_together(self, hosts: Sequence[Host], facts: Facts) -> list[PreflightProblem]:
        """What the hosts of this provider lack together (they share one machine)."""
        ...

    def lock_name(self, host: Host) -> str:
        """What one run at a time may use (a profile, a namespace), in words, unique per target."""
        ...

    def leftovers(self, host: Host) -> tuple[Leftover, ...]:
        """Directories of this provider's state that a teardown removes once they are unused."""
        ...


def binary_of(host: Host, tool: str) -> str:
    """The binary the host uses for ``kubectl`` or ``minikube`` (``<tool>_bin`` var)."""
    return str(host.vars.get(f"{tool}_bin") or tool)


def where(host: Host) -> Text:
    """``host lab-01 (inventory.yml:12)`` for messages."""
    src = host.source
    if src is None:
        return msg("host {host}", host=host.name)
    place = src.file if src.line is None else f"{src.file}:{src.line}"
    return msg("host {host} ({place})", host=host.name, place=place)


PARTICIPANTS_DIR = ("runs", "participants")  # under the project root: <host>.kubeconfig


def isolation_on(host: Host, default: bool) -> bool:
    """The host's ``isolation`` var (a participant of a workshop), else ``default``."""
    value = host.vars.get("isolation", default)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def participant_kubeconfig(host: Host) -> str:
    """Where a participant's own kubeconfig is: ``<participants_dir>/<host>.kubeconfig``.

    The default folder, ``runs/participants`` under the project, outlives the runs (each run
    directory links to it as ``participants``, so ``runs/latest/participants/`` has them all).
    """
    folder = host.vars.get("participants_dir")
    if not folder:
        root = str(host.vars.get("project_root") or os.getcwd())
        folder = os.path.join(root, *PARTICIPANTS_DIR)
    return os.path.join(os.path.abspath(str(folder)), f"{host.name}.kubeconfig")


def kubectl_version_fact(host: Host) -> FactCommand:
    """``kubectl version --client -o json``: every provider needs a working kubectl."""
    kubectl = binary_of(host, "kubectl")
    return FactCommand("version:kubectl", Command((kubectl, "version", "--client", "-o", "json")))
