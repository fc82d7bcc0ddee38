"""The HTML run report and the handouts: built from a real run's events, opened in Chromium."""
# ruff: noqa: RUF001  (the zh-TW titles compared here use fullwidth punctuation)

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from test_report import SECRET, STEPS, StubProvider, step

from labtools.core.model import Host, HostPlan, Lab, Plan
from labtools.effects.runner import run_plan
from labtools.report.html import REPORT, ReportReporter, write_handouts, write_report
from labtools.report.journal import JournalReporter
from labtools.report.record import read_run
from tests.integration.chromium import chromium, open_page, pdf_pages

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
ONE_MB = 1024 * 1024


def run_hosts(run_dir: Path, hosts: list[str], steps: Any = STEPS, lang: str = "en") -> Path:
    """A real run (echo/sh commands) on ``hosts``, journaled and reported."""
    lab = Lab(name="t", path="t.yml", phases={"setup": steps})
    plans = tuple(HostPlan(Host(h, "stub", {}), {"pw": SECRET}, steps) for h in hosts)
    report = ReportReporter(run_dir, TEMPLATES, lang)
    run_plan(
        Plan(lab, ("setup",), plans),
        {"stub": StubProvider()},
        reporters=[JournalReporter(run_dir), report],
        run_dir=run_dir,
        templates_dir=None,
        forks=10,
    )
    assert report.path == run_dir / REPORT, report.error
    return report.path


def test_report_has_recap_timeline_failures_and_no_secret(tmp_path: Path) -> None:
    path = run_hosts(tmp_path, ["h1", "h2"])
    html = path.read_text(encoding="utf-8")
    assert "<title>Run report: t</title>" in html
    assert html.count('<g class="row"') == 2
    assert html.count('class="bar failed"') == 2  # boom, on each host
    assert "$ sh -c &#39;for i in $(seq 1 30)" in html  # the failed command, escaped
    assert "exit code: 2" in html
    assert "line30" in html
    assert SECRET not in html
    assert 'href="journal.jsonl"' in html
    assert "<script" not in html
    assert not re.search(r"(src|href)=\"https?:", html)  # nothing from the network


def test_report_of_an_older_run_is_the_same_report_in_another_language(tmp_path: Path) -> None:
    at_the_end = run_hosts(tmp_path, ["h1", "h2"]).read_text(encoding="utf-8")
    again = write_report(read_run(tmp_path), TEMPLATES, "en").read_text(encoding="utf-8")
    assert again == at_the_end  # one implementation: the journal gives the same events
    zh = write_report(read_run(tmp_path), TEMPLATES, "zh-TW").read_text(encoding="utf-8")
    assert "執行報告：t" in zh
    assert "時間軸" in zh
    assert "Timeline" not in zh


def test_a_report_for_30_hosts_stays_under_1_mb(tmp_path: Path) -> None:
    loud = step("loud", ["sh", "-c", "seq 1 5000; seq 1 5000 >&2; exit 3"], ignore_errors=True)
    steps = (*STEPS[:2], loud, *STEPS[4:])
    hosts = [f"lab-{n:02d}" for n in range(1, 31)]
    path = run_hosts(tmp_path, hosts, steps)
    size = path.stat().st_size
    html = path.read_text(encoding="utf-8")
    assert html.count('<g class="row"') == 30
    assert html.count('class="bar ignored"') == 30
    assert html.count("4970 earlier lines left out") == 60  # stderr and stdout, each host
    assert "<pre>4971\n" in html
    assert size < ONE_MB, f"{size} bytes"
    print(f"report for 30 hosts: {size} bytes")


def test_report_and_handout_render_in_chromium(tmp_path: Path) -> None:
    binary = chromium()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    hosts = [f"lab-{n:02d}" for n in range(1, 31)]
    report = run_hosts(run_dir, hosts, lang="zh-TW")
    shots = run_dir / "screenshots"
    shots.mkdir()
    page = open_page(
        binary,
        report,
        "[document.querySelectorAll('svg.timeline g.row').length,"
        " document.querySelector('svg.timeline').getBoundingClientRect().width,"
        " document.querySelectorAll('table.recap tbody tr').length]",
        tmp_path / "profile",
    )
    (shots / "report.png").write_bytes(page.screenshot)
    assert page.title == "執行報告：t"
    rows, width, recap_rows = page.value
    assert rows == 30
    assert recap_rows == 30
    assert width > 500  # the SVG was laid out, not an empty box
    assert page.console == []
    assert page.exceptions == []
    assert page.requests == []  # self-contained: nothing fetched
    assert page.screenshot.startswith(b"\x89PNG")

    handout = write_handouts(read_run(run_dir), TEMPLATES, lang="zh-TW", hosts=["lab-01"])
    html = next(p for p in handout if p.suffix == ".html")
    page = open_page(
        binary, html, "document.querySelectorAll('.step').length", tmp_path / "profile"
    )
    (shots / "handout.png").write_bytes(page.screenshot)
    (shots / "handout.pdf").write_bytes(page.pdf)
    assert page.title == "講義：t（主機 lab-01）"
    assert page.value == 6  # every step the host ran ("never" did not: "boom" failed)
    assert page.console == []
    assert page.exceptions == []
    assert page.requests == []
    assert pdf_pages(page.pdf) >= 2  # it prints: the checks start on a page of their own


def test_handouts_show_each_step_in_the_language_without_secrets(tmp_path: Path) -> None:
    run_hosts(tmp_path, ["h1", "h2"])
    paths = write_handouts(read_run(tmp_path), TEMPLATES, lang="zh-TW")
    assert sorted(p.name for p in paths) == ["h1.html", "h1.md", "h2.html", "h2.md"]
    markdown = (tmp_path / "handouts" / "h1.md").read_text(encoding="utf-8")
    assert markdown.startswith("# 講義：t（主機 h1）")
    assert "打個招呼。" in markdown  # the explanation in the chosen language
    assert "$ echo hello" in markdown  # the exact command
    assert "hello\n" in markdown  # its real output
    assert "when: false 為 false" in markdown  # why a step was skipped
    assert "line30" in markdown
    assert SECRET not in markdown
    assert SECRET not in (tmp_path / "handouts" / "h1.html").read_text(encoding="utf-8")
    english = write_handouts(read_run(tmp_path), TEMPLATES, lang="en", hosts=["h2"])
    text = next(p for p in english if p.suffix == ".md").read_text(encoding="utf-8")
    assert "Say hello." in text
    assert "What the checks proved" in text


def test_handout_shows_what_the_checks_proved(tmp_path: Path) -> None:
    run_hosts(tmp_path, ["h1"])
    (tmp_path / "verify-h1.xml").write_text(
        '<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="2">'
        '<testcase classname="checks" name="test_nodes_ready" time="0.12"/>'
        '<testcase classname="checks" name="test_app_answers" time="0.30">'
        f'<failure message="got 503 with token {SECRET}">boom</failure></testcase>'
        "</testsuite></testsuites>",
        encoding="utf-8",
    )
    record = read_run(tmp_path)
    masked = write_handouts(record, TEMPLATES, lang="en", mask=lambda t: t.replace(SECRET, "***"))
    text = next(p for p in masked if p.suffix == ".md").read_text(encoding="utf-8")
    assert "| `test_nodes_ready` | passed |" in text
    assert "| `test_app_answers` (got 503 with token ***) | failed |" in text
    unmasked = write_handouts(record, TEMPLATES, lang="zh-TW")  # no redactor: no messages
    text = next(p for p in unmasked if p.suffix == ".md").read_text(encoding="utf-8")
    assert "| `test_app_answers` | 未通過 |" in text
    assert SECRET not in text


def test_handout_outputs_are_trimmed_to_their_first_and_last_lines() -> None:
    from labtools.report.html import trimmed

    text = "\n".join(f"line{n}" for n in range(1, 101))
    head, end, omitted = trimmed(text)
    assert head.splitlines() == [f"line{n}" for n in range(1, 16)]
    assert end.splitlines() == [f"line{n}" for n in range(86, 101)]
    assert omitted == 70
    assert trimmed("a\nb") == ("a\nb", "", 0)


def test_the_template_compiled_from_the_run_start_gives_its_errors_at_the_end(
    tmp_path: Path,
) -> None:
    import shutil
    import threading

    import pytest

    from labtools.core.errors import ConfigError
    from labtools.core.results import RunEnded, RunStarted

    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES / "report", templates / "report")
    (templates / "report" / "report.html.j2").write_text("{% if %}\n")  # Jinja cannot compile
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    report = ReportReporter(run_dir, templates)
    report.handle(RunStarted(lab="t", phases=("setup",), hosts=("h1",), run_dir=str(run_dir)))
    assert "report-template" in {thread.name for thread in threading.enumerate()} or (
        report._template is not None and report._template.done()
    )  # compiling beside the run, from its start
    report.handle(RunEnded(recaps={}, failed=False, interrupted=False, run_dir=str(run_dir)))
    with pytest.raises(Exception, match="Expected an expression"):
        report.close()
    assert report.path is None
    assert "Expected an expression" in report.error
    assert not (run_dir / REPORT).exists()

    (templates / "report" / "report.html.j2").unlink()
    missing = ReportReporter(run_dir, templates)
    missing.handle(RunStarted(lab="t", phases=("setup",), hosts=("h1",), run_dir=str(run_dir)))
    with pytest.raises(ConfigError):
        missing.close()
    assert f"template not found: {templates / 'report' / 'report.html.j2'}" in missing.error
