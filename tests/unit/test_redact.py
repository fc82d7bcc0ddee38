"""redact: the one place secrets are masked, for every kind of event."""

from __future__ import annotations

import pytest

from labtools.core.redact import MASK, Redactor, mask_registered
from labtools.core.results import HostRecap, RunEnded, StepEnded, StepResult, StepStarted


def result(**fields: object) -> StepResult:
    base: dict[str, object] = {"host": "h", "phase": "p", "step": "s", "status": "ok"}
    return StepResult(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("secrets", "text", "masked"),
    [
        (["hunter2"], "pw=hunter2;", f"pw={MASK};"),
        (["hunter2\n"], "echo hunter2", f"echo {MASK}"),  # output lines without their newline
        (["ab"], "ab cab", "ab cab"),  # too short to mask safely
        (["abc", "abcdef"], "x abcdef y abc", f"x {MASK} y {MASK}"),  # longest first
        ([1234567], "id 1234567", f"id {MASK}"),
        (["line one\nline two"], "line two is here", f"{MASK} is here"),
        # as `kubectl get secret -o yaml` prints it
        (["39528$vdg7Jb"], "password: Mzk1MjgkdmRnN0pi\n", f"password: {MASK}\n"),
    ],
)
def test_text_masking(secrets: list[object], text: str, masked: str) -> None:
    assert Redactor(secrets).text(text) == masked  # type: ignore[arg-type]


def test_every_text_field_of_every_event_is_masked() -> None:
    redactor = Redactor(["s3cret"])
    started = StepStarted(
        "h", "p", "s", "command", display="login s3cret", explain={"en": "s3cret"}
    )
    ended = StepEnded(result(stdout="s3cret", argv=("a", "s3cret"), registered={"x": ["s3cret"]}))
    events = [redactor.event(started), redactor.event(ended)]
    assert "s3cret" not in repr(events)
    assert events[1].result.registered == {"x": [MASK]}


def test_no_log_results_are_masked_whole() -> None:
    ended = StepEnded(
        result(
            status="failed",
            stdout="out",
            stderr="err",
            message="why",
            no_log=True,
            registered={"rc": 1, "stdout": "out", "changed": False},
        )
    )
    masked = Redactor().event(ended).result
    assert (masked.stdout, masked.stderr, masked.message) == (MASK, MASK, MASK)
    assert masked.registered == {"rc": 1, "stdout": MASK, "changed": False}


def test_recaps_survive_redaction() -> None:
    recap = HostRecap("h", ok=3, changed=1)
    event = Redactor(["secret-value"]).event(RunEnded(recaps={"h": recap}))
    assert event.recaps["h"].ok == 3


def test_secrets_can_be_added_during_a_run() -> None:
    redactor = Redactor()
    assert redactor.text("token abc123") == "token abc123"
    redactor.add("abc123\n")
    assert redactor.text("token abc123") == f"token {MASK}"


def test_mask_registered_keeps_numbers_and_flags() -> None:
    assert mask_registered({"rc": 0, "ok": True, "out": "x", "json": {"a": 1}, "n": None}) == {
        "rc": 0,
        "ok": True,
        "out": MASK,
        "json": MASK,
        "n": None,
    }
