"""core/diagnose.py and core/retry.py: what ends a wait early, what is worth running again."""

from __future__ import annotations

import json

import pytest

from labtools.core import diagnose, retry


def pods(*statuses: dict[str, object]) -> str:
    """``kubectl get pods -o json`` with one pod per container status."""
    items = [
        {
            "metadata": {"name": f"web-{index}"},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            "status": {"containerStatuses": [{"name": "web", **status}]},
        }
        for index, status in enumerate(statuses)
    ]
    return json.dumps({"kind": "List", "items": items})


@pytest.mark.parametrize(
    ("reason", "hopeless"),
    [
        ("ImagePullBackOff", True),
        ("InvalidImageName", True),
        ("ErrImageNeverPull", True),
        ("CrashLoopBackOff", True),
        ("ErrImagePull", False),  # the kubelet pulls again; BackOff follows if it fails again
        ("ContainerCreating", False),
        ("CreateContainerConfigError", False),  # a ConfigMap created later mends it
    ],
)
def test_only_a_container_the_kubelet_gave_up_on_is_hopeless(reason: str, hopeless: bool) -> None:
    text = pods({"state": {"waiting": {"reason": reason, "message": "m"}}, "restartCount": 0})
    assert bool(diagnose.pod_troubles(text)) is hopeless


def test_a_crash_loop_names_restarts_and_the_last_exit_code() -> None:
    status = {
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}},
        "lastState": {"terminated": {"exitCode": 3}},
        "restartCount": 2,
    }
    (trouble,) = diagnose.pod_troubles(pods(status))
    assert trouble.crashing
    assert str(trouble.text()) == (
        "pod web-0: container web (image nginx:1.27) keeps crashing: CrashLoopBackOff, "
        "2 restarts, last exit code 3"
    )


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"items": null}', '{"items": [1]}'])
def test_output_that_is_not_a_list_of_pods_has_no_trouble(text: str) -> None:
    assert diagnose.pod_troubles(text) == []
    assert diagnose.node_troubles(text) == []
    assert diagnose.pods_ready(text) is None


def test_a_node_not_ready_is_named_with_its_condition() -> None:
    ready = {"type": "Ready", "status": "True"}
    unknown = {
        "type": "Ready",
        "status": "Unknown",
        "reason": "NodeStatusUnknown",
        "message": "Kubelet stopped posting node status.",
    }
    nodes = {
        "items": [
            {"metadata": {"name": "a"}, "status": {"conditions": [ready]}},
            {"metadata": {"name": "b"}, "status": {"conditions": [unknown]}},
        ]
    }
    starting = {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "m"}
    nodes["items"].append({"metadata": {"name": "c"}, "status": {"conditions": [starting]}})
    lost = "node b is not Ready (Unknown): NodeStatusUnknown: Kubelet stopped posting node status."
    text = json.dumps(nodes)
    assert [str(t) for t in diagnose.node_troubles(text)] == [
        lost,
        "node c is not Ready (False): KubeletNotReady: m",
    ]
    assert [str(t) for t in diagnose.node_troubles(text, lost_only=True)] == [lost]


@pytest.mark.parametrize(
    ("args", "nodes"),
    [
        (("wait", "--for=condition=Ready", "nodes", "--all"), True),
        (("wait", "--for=condition=Ready", "node/minikube"), True),
        (("wait", "--for=condition=Ready", "pod", "-l", "app=nodes"), False),
        (("get", "nodes"), False),
    ],
)
def test_which_waits_are_for_nodes(args: tuple[str, ...], nodes: bool) -> None:
    assert diagnose.waits_for_nodes(args) is nodes


@pytest.mark.parametrize(
    ("args", "waits"),
    [
        (("wait", "--for=condition=Ready", "pod", "-l", "app=web"), True),
        (("rollout", "status", "deployment/web"), True),
        (("-n", "x", "rollout", "status", "deployment/web"), True),
        (("rollout", "restart", "deployment/web"), False),
        (("get", "pods", "--wait"), False),
    ],
)
def test_which_kubectl_commands_wait_for_pods(args: tuple[str, ...], waits: bool) -> None:
    assert diagnose.is_wait(args) is waits


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        ("Error from server (InternalError): Internal error occurred: x", "InternalError (500)"),
        ("Error from server (ServiceUnavailable): x", "ServiceUnavailable (503)"),
        ("Error from server (Timeout): x", "Timeout (504)"),
        ("Error from server (TooManyRequests): x", "TooManyRequests (429)"),
        (
            "The connection to the server 127.0.0.1:8443 was refused - did you specify the right "
            "host or port?",
            "connection refused",
        ),
        ("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer", "connection reset"),
        ('Error from server (NotFound): pods "x" not found', None),
        ('Error from server (Forbidden): pods is forbidden: User "u" cannot list', None),
        ('error: the server doesn\'t have a resource type "podz"', None),
    ],
)
def test_which_failures_are_the_servers_passing_trouble(stderr: str, reason: str | None) -> None:
    assert retry.transient_reason(stderr) == reason
