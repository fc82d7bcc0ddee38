"""One read of a cluster's state for the checks: a single ``kubectl get ... -o json``."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labtools.core.errors import ClusterUnreachableError, MissingBinaryError

# Nodes are cluster-scoped: kubectl lists them even with `-n NS`, so one call reads everything.
KINDS = "nodes,deployments,replicasets,pods,services,endpoints"
Obj = dict[str, Any]


def parse_selector(selector: str | Mapping[str, str] | None) -> dict[str, str]:
    """``app=x,tier=web`` (or a mapping) as a dict; only equality terms are supported."""
    if selector is None:
        return {}
    if isinstance(selector, Mapping):
        return {str(k): str(v) for k, v in selector.items()}
    pairs = (term.split("=", 1) for term in selector.split(",") if term.strip())
    return {key.strip().rstrip("="): value.strip().lstrip("=") for key, value in pairs}


def matches(obj: Mapping[str, Any], selector: Mapping[str, str]) -> bool:
    """True when the object's labels contain every ``key=value`` of the selector."""
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    """The status condition of ``type == kind`` (empty when absent)."""
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def is_true(obj: Mapping[str, Any], kind: str) -> bool:
    """True when condition ``kind`` has status ``"True"`` (Ready, Available...)."""
    return condition(obj, kind).get("status") == "True"


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """Running and Ready (every container ready)."""
    return pod.get("status", {}).get("phase") == "Running" and is_true(pod, "Ready")


def name_of(obj: Mapping[str, Any]) -> str:
    """``metadata.name``."""
    return str(obj.get("metadata", {}).get("name", ""))


@dataclass(frozen=True)
class Snapshot:
    """The objects of one namespace (and the nodes) at one moment."""

    namespace: str
    items: tuple[Obj, ...]
    prefix: tuple[str, ...] = ()  # the kubectl argv prefix it was taken with
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def take(
        cls,
        kubectl_argv_prefix: Sequence[str],
        namespace: str,
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> Snapshot:
        """Read nodes, deployments, replicasets, pods, services, endpoints: one kubectl call."""
        argv = tuple(kubectl_argv_prefix)
        if "-n" not in argv and "--namespace" not in argv:
            argv += ("-n", namespace)
        argv += ("get", KINDS, "-o", "json")
        out = run_kubectl(argv, env or {}, timeout)
        try:
            items = json.loads(out).get("items") or []
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ClusterUnreachableError(f"`{' '.join(argv)}` did not print JSON") from exc
        return cls(namespace, tuple(items), tuple(kubectl_argv_prefix), dict(env or {}))

    def refresh(self) -> Snapshot:
        """A new snapshot taken the same way."""
        return Snapshot.take(self.prefix, self.namespace, env=self.env)

    def of_kind(self, kind: str) -> list[Obj]:
        """Every object of ``kind`` (``Pod``, ``Deployment``...)."""
        return [item for item in self.items if item.get("kind") == kind]

    def named(self, kind: str, name: str) -> Obj | None:
        """The object of ``kind`` called ``name``, or None."""
        return next((item for item in self.of_kind(kind) if name_of(item) == name), None)

    def nodes(self) -> list[Obj]:
        """Every node."""
        return self.of_kind("Node")

    def node(self, name: str | None = None) -> Obj | None:
        """The node called ``name`` (the first node when None)."""
        if name is None:
            nodes = self.nodes()
            return nodes[0] if nodes else None
        return self.named("Node", name)

    def deployment(self, name: str) -> Obj | None:
        """The Deployment called ``name``, or None."""
        return self.named("Deployment", name)

    def service(self, name: str) -> Obj | None:
        """The Service called ``name``, or None."""
        return self.named("Service", name)

    def endpoints(self, name: str) -> Obj | None:
        """The Endpoints of the service ``name``, or None."""
        return self.named("Endpoints", name)

    def pods(self, selector: str | Mapping[str, str] | None = None) -> list[Obj]:
        """The pods matching a label selector (``app=kubernetes-bootcamp``), all when None."""
        wanted = parse_selector(selector)
        return [pod for pod in self.of_kind("Pod") if matches(pod, wanted)]

    def replicasets(self, selector: str | Mapping[str, str] | None = None) -> list[Obj]:
        """The ReplicaSets matching a label selector."""
        wanted = parse_selector(selector)
        return [rs for rs in self.of_kind("ReplicaSet") if matches(rs, wanted)]


def run_kubectl(argv: tuple[str, ...], env: Mapping[str, str], timeout: float) -> str:
    """Run a read-only kubectl call and return its stdout; raise when it fails."""
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise MissingBinaryError(f"command not found: {argv[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ClusterUnreachableError(f"`{' '.join(argv)}` timed out after {timeout:g}s") from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ClusterUnreachableError(
            f"`{' '.join(argv)}` failed with exit {done.returncode}: {tail}",
            hint="is the cluster running? (`invoke lab.setup`)",
        )
    return done.stdout
