"""The provider contract: providers build commands and parse outputs; they never run anything."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from labtools.core.model import Host


@dataclass(frozen=True)
class ProcOutput:
    """What a probe command returned (the runner fills it in and hands it to the provider)."""

    rc: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class ClusterOp:
    """An idempotent cluster lifecycle operation, expressed as data.

    The runner runs ``probe`` (if any) and calls ``is_done`` on its output: when it returns True the
    step is ``ok`` and ``run`` is not started. Otherwise ``run`` runs and the step is ``changed``.
    ``progress`` names a parser for live progress ("minikube-json" for ``start --output json``).
    ``skip_reason`` set means the operation does not apply to this provider (step ``skipped``).
    """

    name: str
    probe: tuple[str, ...] | None = None
    is_done: Callable[[ProcOutput], bool] | None = None
    run: tuple[str, ...] | None = None
    after: tuple[tuple[str, ...], ...] = ()  # commands run after ``run`` (e.g. kubeconfig cleanup)
    progress: str | None = None
    skip_reason: str | None = None
    timeout: float | None = None


class Provider(Protocol):
    """Builds the argv for one host; ``kubectl``/``minikube`` get explicit --context / -p."""

    name: str
    has_minikube: bool

    def kubectl(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        """Full argv for ``kubectl ARGS`` against this host (binary, --context, -n if needed)."""
        ...

    def minikube(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        """Full argv for ``minikube ARGS`` for this host's profile (-p PROFILE)."""
        ...

    def env(self, host: Host) -> Mapping[str, str]:
        """Extra environment for every command of this host (KUBECONFIG, MINIKUBE_HOME...)."""
        ...

    def cluster(self, host: Host, op: str) -> ClusterOp:
        """The lifecycle operation ``op`` (start, stop, delete, status) as data."""
        ...


@dataclass(frozen=True)
class ProviderInfo:
    """What `lab.list` shows about a provider."""

    name: str
    description: str
    settings: Mapping[str, str] = field(default_factory=dict)
