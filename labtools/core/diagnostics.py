"""What to look at when a host fails, and what the cluster says went wrong (pure).

From one ``kubectl get pods,deployments,replicasets -o json`` of the lab's namespace: which
objects are not ready (to ``describe``), which containers fail (their logs, the previous
container's too after a restart), and the reason in one word, as ``kubectl get pods`` shows it
(``ImagePullBackOff``, ``CrashLoopBackOff``, ``FailedCreate: exceeded quota``...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labtools.core.messages import Msg, Text, msg
from labtools.core.results import StepResult

# Waiting reasons of the kubelet (pkg/kubelet/images/types.go, kuberuntime) that explain a failure.
WAITING_REASONS = (
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)
MAX_REASON = 120  # characters of a failure's reason in the summary line
LOG_TAIL = 200  # lines of each failing container's log


@dataclass(frozen=True)
class Findings:
    """Not-ready objects, failing containers (pod, container, restarted) and the reason."""

    not_ready: tuple[str, ...] = ()  # "pod/x", "deployment/y"
    containers: tuple[tuple[str, str, bool], ...] = ()
    reason: str | None = None
    details: tuple[str, ...] = field(default_factory=tuple)  # one line per finding


def _name(obj: Mapping[str, Any]) -> str:
    kind = str(obj.get("kind", "")).lower()
    return f"{kind}/{obj.get('metadata', {}).get('name', '')}"


def _conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in obj.get("status", {}).get("conditions") or []}


def pod_findings(pod: Mapping[str, Any]) -> tuple[bool, list[tuple[str, str, bool]], list[str]]:
    """(ready, failing containers, reasons) of one pod."""
    status = pod.get("status", {})
    name = str(pod.get("metadata", {}).get("name", ""))
    if status.get("phase") == "Succeeded":
        return True, [], []
    ready = _conditions(pod).get("Ready", {}).get("status") == "True"
    failing: list[tuple[str, str, bool]] = []
    reasons: list[str] = []
    statuses = [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]
    for cs in statuses:
        state = cs.get("state", {})
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        restarts = int(cs.get("restartCount") or 0)
        why = waiting.get("reason") or (terminated.get("reason") if terminated else None)
        if cs.get("ready") and not why:
            continue
        if why:
            reasons.append(str(why))
        failing.append((name, str(cs.get("name", "")), restarts > 0))
    scheduled = _conditions(pod).get("PodScheduled", {})
    if scheduled.get("status") == "False":
        reasons.append(str(scheduled.get("reason") or "Unschedulable"))
    return ready, failing, reasons


def workload_findings(obj: Mapping[str, Any]) -> tuple[bool, list[str]]:
    """(ready, reasons) of a Deployment or ReplicaSet: replicas available, no ReplicaFailure."""
    spec, status = obj.get("spec", {}), obj.get("status", {})
    wanted = int(spec.get("replicas", 1) or 0)
    ready = int(status.get("availableReplicas") or 0) >= wanted
    failure = _conditions(obj).get("ReplicaFailure", {})
    reasons = []
    if failure.get("status") == "True":
        message = str(failure.get("message") or "")
        detail = "exceeded quota" if "exceeded quota" in message else ""
        reasons.append(
            str(failure.get("reason") or "ReplicaFailure") + (f": {detail}" * bool(detail))
        )
    return ready and not reasons, reasons


def findings(items: Sequence[Mapping[str, Any]]) -> Findings:
    """Everything not ready in the namespace and the most telling reason."""
    not_ready: list[str] = []
    containers: list[tuple[str, str, bool]] = []
    pod_reasons: list[str] = []
    workload_reasons: list[str] = []
    details: list[str] = []
    for obj in items:
        kind = obj.get("kind")
        if kind == "Pod":
            ready, failing, reasons = pod_findings(obj)
            containers += failing
            pod_reasons += reasons
        elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
            ready, reasons = workload_findings(obj)
            workload_reasons += reasons
        else:
            continue
        if not ready:
            not_ready.append(_name(obj))
            details.append(f"{_name(obj)}: {', '.join(reasons) or 'not ready'}")
    return Findings(
        tuple(not_ready),
        tuple(containers),
        pick_reason(pod_reasons, workload_reasons),
        tuple(details),
    )


def pick_reason(pod_reasons: Sequence[str], workload_reasons: Sequence[str]) -> str | None:
    """The kubelet's reasons first (in WAITING_REASONS order), then a workload's, then any."""
    for known in WAITING_REASONS:
        if known in pod_reasons:
            return known
    if workload_reasons:
        return workload_reasons[0]
    return pod_reasons[0] if pod_reasons else None


def log_args(pod: str, container: str, previous: bool) -> tuple[str, ...]:
    """``kubectl logs`` arguments for one container (``--previous``: the one before a restart)."""
    args = ("logs", pod, "-c", container, f"--tail={LOG_TAIL}")
    return (*args, "--previous") if previous else args


def failure_reason(result: StepResult) -> Text:
    """A failed step in a few words: its message (kept as a catalogue message when it is one
    line), the last line it wrote to stderr when the message only gives the exit code."""
    message = result.message
    stderr = _lines(result.stderr)
    if isinstance(message, Msg) and message.id == "exit code {rc}" and stderr:
        return _short(stderr[-1])
    lines = _lines(str(message))
    if isinstance(message, Msg) and len(lines) == 1 and len(lines[0]) <= MAX_REASON:
        return message
    if lines:
        return _short(lines[0])
    for text in (result.stderr, result.stdout):
        if _lines(text):
            return _short(_lines(text)[-1])
    return msg("failed")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def _short(line: str) -> str:
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 3] + "..."
