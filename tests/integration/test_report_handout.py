"""The HTML report and the handouts of a real lab run (invoke, real kubectl, the fake cluster)."""
# ruff: noqa: RUF001  (zh-TW output is compared with fullwidth punctuation)

from __future__ import annotations

from pathlib import Path

from tests.integration.chromium import chromium, open_page, pdf_pages
from tests.integration.helpers import LabProject


def test_a_lab_run_ends_naming_its_report_and_gives_handouts(
    context_project: tuple[LabProject, object], tmp_path: Path
) -> None:
    project, _cluster = context_project
    up = project.invoke("lab.up", "--lang", "zh-TW")
    assert up.returncode == 0, up.stdout + up.stderr
    run = project.latest_run()
    report = run / "report.html"
    assert up.stdout.rstrip().splitlines()[-1] == f"執行報告：{report}"  # the run's last line
    assert "總結" in up.stdout
    html = report.read_text(encoding="utf-8")
    assert html.count('<g class="row"') == 2  # team-a and team-b
    assert 'href="verify-team-a.xml"' in html  # the checks' JUnit, linked

    handout = project.invoke("lab.handout", "--lang", "zh-TW", "--limit", "team-b")
    assert handout.returncode == 0, handout.stdout + handout.stderr
    assert handout.stdout.splitlines() == [
        f"講義：{run / 'handouts' / 'team-b.md'}",
        f"講義：{run / 'handouts' / 'team-b.html'}",
    ]
    markdown = (run / "handouts" / "team-b.md").read_text(encoding="utf-8")
    # the exact commands this participant ran: as themselves (isolation is on by default on a
    # shared cluster: their own kubeconfig, docs/workshops.md), in their namespace
    assert "$ kubectl --kubeconfig " in markdown
    assert "team-b.kubeconfig --context lab-team-b -n lab-team-b get nodes" in markdown
    assert "kubernetes-bootcamp" in markdown  # their real output
    assert "檢查證實了什麼" in markdown
    assert "| 通過 |" in markdown  # the verify checks passed on this host
    assert "| 未通過 |" not in markdown

    binary = chromium()
    shots = run / "screenshots"
    shots.mkdir()
    page = open_page(
        binary, report, "document.querySelectorAll('svg.timeline g.row').length", tmp_path / "p"
    )
    (shots / "report.png").write_bytes(page.screenshot)
    assert page.title == "執行報告：basics"
    assert page.value == 2
    assert (page.console, page.exceptions, page.requests) == ([], [], [])
    page = open_page(
        binary,
        run / "handouts" / "team-b.html",
        "document.querySelectorAll('.step').length",
        tmp_path / "p",
    )
    (shots / "handout.png").write_bytes(page.screenshot)
    assert page.title == "講義：basics（主機 team-b）"
    assert page.value >= 10
    assert (page.console, page.exceptions, page.requests) == ([], [], [])
    assert pdf_pages(page.pdf) >= 4  # a page per phase, and one for the checks

    again = project.invoke("lab.report", "--lang", "en")  # an older run, in another language
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"report: {report}"
    assert "<title>Run report: basics</title>" in report.read_text(encoding="utf-8")

    down = project.invoke("lab.down")
    assert down.returncode == 0, down.stdout + down.stderr


def test_a_failed_run_names_its_report_last(context_project: tuple[LabProject, object]) -> None:
    project, _cluster = context_project
    bad = project.invoke("lab.up", "--set", "image=", "--lang", "en")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    report = project.latest_run() / "report.html"
    assert report.is_file()
    assert bad.stderr.rstrip().splitlines()[-1] == (
        f"  hint: the recap above has the details; the report is {report}"
    )
    html = report.read_text(encoding="utf-8")
    assert "Failures" in html
    assert "exit code:" in html
