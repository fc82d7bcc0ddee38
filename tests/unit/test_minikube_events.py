"""minikube ``--output json`` CloudEvents -> progress (verbatim samples of the facts)."""

from __future__ import annotations

import pytest

from labtools.providers.minikube_events import failure_message, parse_event, parse_events

DOCS_STEP_0 = (
    '{"data":{"currentstep":"0","message":"minikube v1.12.1 on Darwin 10.14.6\\n",'
    '"name":"Initial Minikube Setup","totalsteps":"10"},"datacontenttype":"application/json",'
    '"id":"68ff70ae-202b-4b13-8351-e9f060e8c56e","source":"https://minikube.sigs.k8s.io/",'
    '"specversion":"1.0","type":"io.k8s.sigs.minikube.step"}'
)
DOCS_STEP_3 = (
    '{"data":{"currentstep":"3","message":"Starting control plane node minikube in cluster '
    'minikube\\n","name":"Starting Node","totalsteps":"10"},"datacontenttype":"application/json",'
    '"id":"7c80bc53-3ac4-4a42-a493-92e269cc56c9","source":"https://minikube.sigs.k8s.io/",'
    '"specversion":"1.0","type":"io.k8s.sigs.minikube.step"}'
)
TEST_ERROR = (
    '{"data":{"a":"b","c":"d","exitcode":"5","message":"error"},"datacontenttype":'
    '"application/json","id":"random-id","source":"https://minikube.sigs.k8s.io/",'
    '"specversion":"1.0","type":"io.k8s.sigs.minikube.error"}'
)
TEST_WARNING = (
    '{"data":{"message":"warning"},"datacontenttype":"application/json","id":"random-id",'
    '"source":"https://minikube.sigs.k8s.io/","specversion":"1.0",'
    '"type":"io.k8s.sigs.minikube.warning"}'
)
# sdk-go v2.16 key order (specversion first), as minikube v1.37 writes it
DRIVER_ERROR = (
    '{"specversion":"1.0","id":"0f6a","source":"https://minikube.sigs.k8s.io/",'
    '"type":"io.k8s.sigs.minikube.error","datacontenttype":"application/json",'
    '"data":{"advice":"","exitcode":"56","issues":"","message":"The driver \'fail\' is not '
    'supported on linux/amd64","name":"DRV_UNSUPPORTED_OS","url":""}}'
)
DOWNLOAD_PROGRESS = (
    '{"specversion":"1.0","id":"2","source":"https://minikube.sigs.k8s.io/",'
    '"type":"io.k8s.sigs.minikube.download.progress","datacontenttype":"application/json",'
    '"data":{"artifact":"preloaded-images-k8s","currentstep":"2","progress":"0.512345",'
    '"totalsteps":"19"}}'
)


@pytest.mark.parametrize(
    ("line", "kind", "step", "total", "text"),
    [
        (
            DOCS_STEP_0,
            "step",
            0,
            10,
            "[0/10] Initial Minikube Setup: minikube v1.12.1 on Darwin 10.14.6",
        ),
        (
            DOCS_STEP_3,
            "step",
            3,
            10,
            "[3/10] Starting Node: Starting control plane node minikube in cluster minikube",
        ),
        (TEST_WARNING, "warning", None, None, "warning: warning"),
        (TEST_ERROR, "error", None, None, "error: error"),
        (
            DRIVER_ERROR,
            "error",
            None,
            None,
            "error: The driver 'fail' is not supported on linux/amd64"
            " (DRV_UNSUPPORTED_OS, exit 56)",
        ),
        (
            DOWNLOAD_PROGRESS,
            "download.progress",
            2,
            19,
            "[2/19] downloading preloaded-images-k8s: 51%",
        ),
    ],
)
def test_parse_event(line: str, kind: str, step: int | None, total: int | None, text: str) -> None:
    event = parse_event(line)
    assert event is not None
    assert event.kind == kind
    assert event.step == step
    assert event.total == total
    assert event.text() == text


def test_step_fraction_and_exit_code() -> None:
    step = parse_event(DOCS_STEP_3)
    assert step is not None
    assert step.fraction == pytest.approx(0.3)
    error = parse_event(DRIVER_ERROR)
    assert error is not None
    assert error.exitcode == 56
    assert error.name == "DRV_UNSUPPORTED_OS"
    assert error.fraction is None


@pytest.mark.parametrize(
    "line",
    ["", "* minikube v1.37.0 on Ubuntu 22.04", "{not json", '{"type":"other.event"}', "[1, 2]"],
)
def test_other_lines_are_not_events(line: str) -> None:
    assert parse_event(line) is None


def test_parse_events_and_failure_message() -> None:
    output = "\n".join([DOCS_STEP_0, "plain text", DOCS_STEP_3, DRIVER_ERROR])
    events = parse_events(output)
    assert [e.kind for e in events] == ["step", "step", "error"]
    message = failure_message(output)
    assert message is not None
    assert "DRV_UNSUPPORTED_OS" in message
    assert failure_message([DOCS_STEP_0]) is None
