"""Reporters: console (plain output, recap, failures), journal, JUnit, plan view, run dirs."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from labtools.core.errors import Location
from labtools.core.model import Host, HostPlan, Lab, Plan, Step
from labtools.core.preview import PlannedStep
from labtools.core.results import StepResult
from labtools.effects.rundir import new_run_dir
from labtools.effects.runner import run_plan
from labtools.providers.base import ClusterOp
from labtools.report.console import ConsoleReporter, format_duration
from labtools.report.journal import JournalReporter, read_journal
from labtools.report.junit import JUnitReporter
from labtools.report.plan_view import plan_lines, print_plan

LOC = Location("playbooks/t.yml", 3)
SECRET = "hunter2-secret"


class StubProvider:
    name = "stub"
    has_minikube = False

    def kubectl(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        return ("echo", *args)

    def minikube(self, host: Host, args: Sequence[str]) -> tuple[str, ...]:
        return ("echo", *args)

    def env(self, host: Host) -> Mapping[str, str]:
        return {}

    def cluster(self, host: Host, op: str) -> ClusterOp:
        return ClusterOp(name=op)


def step(name: str, spec: Any, **controls: Any) -> Step:
    return Step(name=name, phase="setup", action="command", spec=spec, source=LOC, **controls)


STEPS = (
    step("hello", "echo hello", explain={"en": "Say hello.", "zh-TW": "打個招呼。"}),
    step("read", "echo read", changed_when=False),
    step("secret", "echo {{ pw }}", no_log=True, register="sec"),
    step("secret fails", "sh -c 'echo {{ pw }}; exit 4'", no_log=True, ignore_errors=True),
    step("skipped", "true", when="false"),
    step("boom", ["sh", "-c", "for i in $(seq 1 30); do echo line$i >&2; done; exit 2"]),
    step("never", "true"),
)


def run_all(tmp_path: Path, reporters: Sequence[Any]) -> None:
    lab = Lab(name="t", path="t.yml", phases={"setup": STEPS})
    hosts = tuple(HostPlan(Host(h, "stub", {}), {"pw": SECRET}, STEPS) for h in ("h1", "h2"))
    run_plan(
        Plan(lab, ("setup",), hosts),
        {"stub": StubProvider()},
        reporters=reporters,
        run_dir=tmp_path,
        templates_dir=None,
    )


def console_run(tmp_path: Path, lang: str) -> str:
    buffer = io.StringIO()
    run_all(tmp_path, [ConsoleReporter(buffer, verbosity=1, lang=lang, color=False)])
    return buffer.getvalue()


@pytest.fixture
def console_text(tmp_path: Path) -> str:
    return console_run(tmp_path, "en")


@pytest.fixture
def console_zh(tmp_path: Path) -> str:
    return console_run(tmp_path, "zh-TW")


def test_console_plain_output_has_no_escape_codes(console_text: str) -> None:
    assert "\x1b" not in console_text
    assert "changed  hello [h1]" in console_text


def test_console_failure_shows_command_rc_and_tail(console_text: str) -> None:
    assert "failed   boom [h1]" in console_text
    assert "exit code: 2" in console_text
    assert "line30" in console_text
    assert "line11" in console_text
    assert "line10\n" not in console_text  # only the last 20 lines


def test_console_explain_in_the_chosen_language(console_text: str, console_zh: str) -> None:
    assert "打個招呼。" in console_zh
    assert "Say hello." not in console_zh
    assert "Say hello." in console_text


def test_console_recap_numbers(console_text: str) -> None:
    recap = console_text[console_text.index("RECAP") :]
    rows = [line for line in recap.splitlines() if line.startswith(("| h1", "| h2"))]
    # Ansible's PLAY RECAP: ok counts changed and ignored steps too (hello, read, secret,
    # secret fails); changed: hello, secret; failed: boom; skipped; ignored: secret fails
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert [c[:6] for c in cells] == [
        ["h1", "4", "2", "1", "1", "1"],
        ["h2", "4", "2", "1", "1", "1"],
    ]
    assert "STEP TIMES" in console_text


def test_no_log_is_masked_in_console_journal_and_junit(tmp_path: Path, console_text: str) -> None:
    run_dir = tmp_path / "second"
    run_dir.mkdir()
    run_all(run_dir, [JournalReporter(run_dir), JUnitReporter(run_dir / "junit.xml")])
    assert SECRET not in console_text
    assert SECRET not in (run_dir / "journal.jsonl").read_text()
    assert SECRET not in (run_dir / "junit.xml").read_text()
    assert "********" in (run_dir / "journal.jsonl").read_text()


def test_journal_one_record_per_event(tmp_path: Path) -> None:
    run_all(tmp_path, [JournalReporter(tmp_path)])
    records = read_journal(tmp_path / "journal.jsonl")
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "run_start"
    assert kinds[-1] == "run_end"
    assert kinds.count("step_end") == 12  # 6 steps x 2 hosts ("never" does not run)
    assert records[-1]["recaps"]["h1"]["failed"] == 1


def test_junit_suites_cases_and_failures(tmp_path: Path) -> None:
    run_all(tmp_path, [JUnitReporter(tmp_path / "junit.xml")])
    root = ET.parse(tmp_path / "junit.xml").getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["h1", "h2"]
    assert suites[0].get("tests") == "6"
    assert suites[0].get("failures") == "1"  # the ignored failure is not a JUnit failure
    assert suites[0].get("skipped") == "1"
    failure = suites[0].find("testcase[@name='boom']/failure")
    assert failure is not None
    assert "line30" in (failure.text or "")


def test_colour_on_a_terminal_like_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    buffer = io.StringIO()
    reporter = ConsoleReporter(buffer, color=True)
    reporter._print_result(StepResult(host="h", phase="p", step="s", status="ok", duration=0.1))
    assert "\x1b[" in buffer.getvalue()


@pytest.mark.parametrize(("seconds", "text"), [(0.123, "0.12s"), (12.34, "12.3s"), (125, "2m05s")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_plan_view_numbers_steps_per_host_and_phase() -> None:
    s1 = step("a", "true", when="x", tags=("t",))
    s2 = Step(name="b", phase="deploy", action="command", spec="true", source=LOC)
    planned = [
        PlannedStep("h1", "setup", s1, "true", ("when: x", "tags: t")),
        PlannedStep("h1", "deploy", s2, "kubectl get pods", ()),
    ]
    lines = plan_lines(planned)
    assert lines == [
        "HOST h1",
        "  setup:",
        "     1. a",
        "        $ true",
        "        (when: x)",
        "        (tags: t)",
        "  deploy:",
        "     1. b",
        "        $ kubectl get pods",
    ]
    buffer = io.StringIO()
    print_plan(planned, buffer)
    assert buffer.getvalue() == "\n".join(lines) + "\n"


def test_new_run_dir_is_unique_with_latest_link(tmp_path: Path) -> None:
    first = new_run_dir(tmp_path, "basics", "up")
    second = new_run_dir(tmp_path, "basics", "up")
    assert first != second
    assert first.is_dir()
    assert second.is_dir()
    assert first.name.endswith("-basics-up")
    assert (tmp_path / "latest").resolve() == second.resolve()
    assert json.dumps(str(first))


def test_journal_keeps_messages_and_reads_back_as_typed_events(tmp_path: Path) -> None:
    from labtools.core.results import StepEnded
    from labtools.report.journal import read_events

    journal = JournalReporter(tmp_path)
    run_all(tmp_path, [journal])
    records = read_journal(tmp_path / "journal.jsonl")
    skipped = next(r for r in records if r["kind"] == "step_end" and r["step"] == "skipped")
    # plain English for people and jq, the message beside it for other languages
    assert skipped["result"]["message"] == "when: false was false"
    assert skipped["result"]["message_msg"] == {
        "id": "when: {expr} was false",
        "args": {"expr": "false"},
    }
    events = list(read_events(tmp_path / "journal.jsonl"))
    assert [type(e).__name__ for e in events][:2] == ["RunStarted", "PhaseStarted"]
    ends = [e for e in events if isinstance(e, StepEnded)]
    reason = next(e.result.message for e in ends if e.result.step == "skipped")
    assert reason == "when: false was false"
    assert getattr(reason, "id", None) == "when: {expr} was false"
    boom = next(e.result for e in ends if e.result.step == "boom")
    assert boom.argv[0] == "sh"
    assert boom.rc == 2
    assert "line30" in boom.stderr
    assert SECRET not in repr(events)


def test_spinner_names_each_host_with_its_own_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.text import Text

    from labtools.core.results import StepProgress, StepStarted

    monkeypatch.delenv("NO_COLOR", raising=False)
    reporter = ConsoleReporter(io.StringIO(), color=True)
    try:
        for host in ("h1", "h2"):
            reporter.handle(StepStarted(host=host, phase="setup", step="flaky", action="command"))
        for host, attempt in (("h1", 7), ("h2", 2)):
            message = f"attempt {attempt}/30"
            reporter.handle(StepProgress(host, "setup", "flaky", message, attempt=attempt))
        shown = Text.from_markup(str(reporter._status.status)).plain
    finally:
        reporter.close()
    # `[h1]` is text, not a markup tag that swallows the host name
    assert shown == "flaky [h1] attempt 7/30, flaky [h2] attempt 2/30"
