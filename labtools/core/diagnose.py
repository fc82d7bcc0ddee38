"""What keeps a wait from ever succeeding: pods that cannot start, nodes that are not Ready.

Pure: it reads the JSON of ``kubectl get pods -o json`` / ``kubectl get nodes -o json``. The
runner polls pods while a ``kubectl wait`` or ``kubectl rollout status`` runs and ends the wait
at the first hopeless pod, so a wrong image fails in seconds, not after the wait's timeout.

The waiting reasons are the kubelet's (pkg/kubelet/images/types.go ``ErrImagePullBackOff``,
``ErrInvalidImageName``, ``ErrImageNeverPull``; pkg/kubelet/kuberuntime/kuberuntime_manager.go
``CrashLoopBackOff``). ``ErrImagePull`` alone is not hopeless: the kubelet tries again, and only
after the next failure is the container in ``ImagePullBackOff``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labtools.core.messages import Msg, msg, msgn

HOPELESS = frozenset(
    {"ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CrashLoopBackOff"}
)
WAIT_VERBS = (("wait",), ("rollout", "status"))
# kubectl's words when a server took the connection and gave no answer in time
NO_ANSWER = re.compile(r"Client\.Timeout exceeded|context deadline exceeded|TLS handshake timeout")


@dataclass(frozen=True)
class PodTrouble:
    """One container of one pod that cannot start or keeps crashing."""

    pod: str
    container: str
    reason: str
    message: str
    image: str
    restarts: int = 0
    exit_code: int | None = None

    @property
    def crashing(self) -> bool:
        """True for CrashLoopBackOff: its last log lines say why."""
        return self.reason == "CrashLoopBackOff"

    def text(self) -> Msg:
        """One line for the console: the pod, the container, the kubelet's reason and message."""
        if self.crashing:
            return msgn(
                "pod {pod}: container {container} (image {image}) keeps crashing: {reason}, "
                "{n} restart, last exit code {code}",
                "pod {pod}: container {container} (image {image}) keeps crashing: {reason}, "
                "{n} restarts, last exit code {code}",
                self.restarts,
                pod=self.pod,
                container=self.container,
                image=self.image,
                reason=self.reason,
                code="?" if self.exit_code is None else self.exit_code,
            )
        return msg(
            "pod {pod}: container {container} cannot start: {reason}: {message} (image {image})",
            pod=self.pod,
            container=self.container,
            reason=self.reason,
            message=self.message or "-",
            image=self.image,
        )


def waits_for_nodes(args: Sequence[str]) -> bool:
    """True for a wait whose objects are nodes (``wait --for=condition=Ready nodes --all``)."""
    words = _words(args)
    return is_wait(args) and any(
        word.split("/")[0] in {"node", "nodes", "no"} for word in words[1:]
    )


def is_wait(args: Sequence[str]) -> bool:
    """True for kubectl arguments that wait for pods: ``wait ...``, ``rollout status ...``."""
    words = _words(args)
    return any(tuple(words[: len(verb)]) == verb for verb in WAIT_VERBS)


def _words(args: Sequence[str]) -> list[str]:
    """The arguments that are not flags nor the values of kubectl's global flags."""
    words: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _VALUE_FLAGS:
            skip = True  # its value is not a verb: `-n wait rollout status` waits
        elif not arg.startswith("-"):
            words.append(arg)
    return words


# kubectl's global flags that take a value as the next argument (kubectl options)
_VALUE_FLAGS = frozenset(
    {"-n", "--namespace", "--context", "--kubeconfig", "--cluster", "--user", "-s", "--server"}
)


def pod_troubles(text: str) -> list[PodTrouble]:
    """Hopeless containers in ``kubectl get pods -o json`` output (none when it does not parse)."""
    troubles = []
    for pod in list_items(text):
        name = str(pod.get("metadata", {}).get("name", "?"))
        spec_images = {
            str(c.get("name")): str(c.get("image", ""))
            for c in pod.get("spec", {}).get("containers", []) or []
        }
        status = pod.get("status", {}) or {}
        for container in status.get("containerStatuses", []) or []:
            trouble = _container_trouble(name, container, spec_images)
            if trouble is not None:
                troubles.append(trouble)
    return troubles


def _container_trouble(
    pod: str, container: Mapping[str, Any], images: Mapping[str, str]
) -> PodTrouble | None:
    """The trouble of one container status, or None when it may still start."""
    waiting = (container.get("state") or {}).get("waiting") or {}
    reason = str(waiting.get("reason", ""))
    if reason not in HOPELESS:
        return None
    name = str(container.get("name", "?"))
    terminated = (container.get("lastState") or {}).get("terminated") or {}
    code = terminated.get("exitCode")
    return PodTrouble(
        pod=pod,
        container=name,
        reason=reason,
        message=str(waiting.get("message", "")),
        image=images.get(name) or str(container.get("image", "")),
        restarts=int(container.get("restartCount", 0) or 0),
        exit_code=int(code) if isinstance(code, int) else None,
    )


def pods_ready(text: str) -> Msg | None:
    """How many pods are Ready, for a wait's progress (None when there are none to count)."""
    pods = list_items(text)
    if not pods:
        return None
    ready = sum(1 for pod in pods if _condition(pod, "Ready") == "True")
    return msgn(
        "{ready} of {n} pod in the namespace Ready",
        "{ready} of {n} pods in the namespace Ready",
        len(pods),
        ready=ready,
    )


def _condition(item: Mapping[str, Any], kind: str) -> str | None:
    """The status of one condition of an object (None when it has no such condition)."""
    conditions = (item.get("status") or {}).get("conditions") or []
    return next((str(c.get("status")) for c in conditions if c.get("type") == kind), None)


def node_troubles(text: str, *, lost_only: bool = False) -> list[Msg]:
    """Nodes whose Ready condition is not True, each with the condition's reason and message.

    ``lost_only``: only nodes whose Ready is ``Unknown`` (the node controller's word for a
    kubelet that stopped reporting: no wait for it ends well), not a node still starting
    (``False``, ``KubeletNotReady``).
    """
    found = []
    for node in list_items(text):
        name = str(node.get("metadata", {}).get("name", "?"))
        conditions = (node.get("status") or {}).get("conditions") or []
        ready = next((c for c in conditions if c.get("type") == "Ready"), None)
        if ready is None or ready.get("status") == "True":
            continue
        if lost_only and ready.get("status") != "Unknown":
            continue
        found.append(
            msg(
                "node {node} is not Ready ({status}): {reason}: {message}",
                node=name,
                status=ready.get("status", "?"),
                reason=ready.get("reason", "?"),
                message=ready.get("message", ""),
            )
        )
    return found


def list_items(text: str) -> list[dict[str, Any]]:
    """The ``items`` of a kubectl list in JSON (an empty list for anything else)."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    items = data.get("items") if isinstance(data, dict) else None
    return [item for item in items or [] if isinstance(item, dict)]
