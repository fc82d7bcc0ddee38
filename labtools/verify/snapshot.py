"""One read of a cluster's state for the checks: a single ``kubectl get ... -o json``.

A run's checks process may start that read when the checks start (``prefetch``), beside
pytest's own start; ``Snapshot.take`` then finds it by its exact command and environment, as
long as no check has run yet (the plugin ``discard``s them when a check or a fixture of the
checks' own runs first): what the first check sees is the cluster when the checks started.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from labtools.core.errors import ClusterUnreachableError, MissingBinaryError

# Nodes are cluster-scoped: kubectl lists them even with `-n NS`, so one call reads everything.
KINDS = "nodes,deployments,replicasets,pods,services,endpoints"
Obj = dict[str, Any]
Key = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]
TIMEOUT = 60.0
PYTEST_OWN = frozenset({"PYTEST_CURRENT_TEST", "PYTEST_VERSION"})  # not kubectl's business
_prefetched: dict[Key, Future[str]] = {}
_lock = threading.Lock()


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
        timeout: float = TIMEOUT,
    ) -> Snapshot:
        """Read nodes, deployments, replicasets, pods, services, endpoints: one kubectl call."""
        argv = snapshot_argv(kubectl_argv_prefix, namespace)
        found = _take_prefetched(argv, env or {})
        out = found.result() if found is not None else run_kubectl(argv, env or {}, timeout)
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


def snapshot_argv(kubectl_argv_prefix: Sequence[str], namespace: str) -> tuple[str, ...]:
    """``kubectl ... -n NS get nodes,deployments,... -o json``: the one call of a snapshot."""
    argv = tuple(kubectl_argv_prefix)
    if "-n" not in argv and "--namespace" not in argv:
        argv += ("-n", namespace)
    return (*argv, "get", KINDS, "-o", "json")


def _key(argv: tuple[str, ...], env: Mapping[str, str]) -> Key:
    """A call as it runs: its argv and its whole environment (this process's, then ``env``),
    but the variables pytest sets for its own bookkeeping (the test running, its version)."""
    whole = {**os.environ, **env}
    return argv, tuple(sorted((k, v) for k, v in whole.items() if k not in PYTEST_OWN))


def prefetch(kubectl_argv_prefix: Sequence[str], namespace: str, env: Mapping[str, str]) -> None:
    """Start the snapshot read of one host now, in a thread; ``Snapshot.take`` with the same
    command and environment gets its answer (or its error) instead of reading again."""
    argv = snapshot_argv(kubectl_argv_prefix, namespace)
    future: Future[str] = Future()

    def read() -> None:
        try:
            future.set_result(run_kubectl(argv, env, TIMEOUT))
        except Exception as exc:  # the check that takes it raises it, as its own read would
            future.set_exception(exc)

    with _lock:
        _prefetched[_key(argv, env)] = future
    threading.Thread(target=read, name="snapshot-prefetch", daemon=True).start()


def discard() -> None:
    """Forget the reads started ahead: a check (or a fixture of the checks) has run, and what
    it did may have changed the cluster since they started."""
    with _lock:
        _prefetched.clear()


def _take_prefetched(argv: tuple[str, ...], env: Mapping[str, str]) -> Future[str] | None:
    """The read started ahead for exactly this call, once (None: read now)."""
    with _lock:
        return _prefetched.pop(_key(argv, env), None)


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
