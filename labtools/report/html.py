"""The HTML run report and the per-participant handouts, rendered from a ``RunRecord``.

One implementation for both moments: ``ReportReporter`` folds the events of a running lab and
writes ``runs/<run>/report.html`` when the run ends; ``lab.report`` and ``lab.handout`` fold an
older run's journal (``record.read_run``) and render the same templates. The pages are
self-contained (inline CSS and SVG, no script, no network) and come from the project's
``templates/report/`` and ``templates/handout/`` (Jinja2, every word through the catalogue).
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtools.core.errors import ConfigError, LabError
from labtools.core.i18n import SOURCE_LANGUAGE, Translator, translator
from labtools.core.messages import Text, msg
from labtools.core.results import Event, RunStarted, StepResult
from labtools.report.console import format_duration, phase_name, status_word
from labtools.report.record import Mask, RunRecord, fold

REPORT = "report.html"
HANDOUTS = "handouts"  # i18n: not text (a folder name)
REPORT_TEMPLATE = "report/report.html.j2"
HANDOUT_TEMPLATES = {"md": "handout/handout.md.j2", "html": "handout/handout.html.j2"}
TAIL_LINES = 30  # of a failure's output, in the report
HEAD_LINES, END_LINES = 15, 15  # of a step's output, in a handout
TIMELINE_WIDTH = 900  # px of the bars' area
ROW_HEIGHT = 20


# ---------------------------------------------------------------------------- views


@dataclass(frozen=True)
class Bar:
    """One step of one host on the timeline."""

    x: float
    width: float
    status: str  # ok, changed, failed, skipped, ignored (a CSS class)
    title: str


@dataclass(frozen=True)
class Row:
    """One host's line of the timeline."""

    host: str
    y: int
    bars: tuple[Bar, ...]
    failed: bool
    duration: float


@dataclass(frozen=True)
class Timeline:
    """A Gantt chart of the run: a row per host, a bar per step, ticks every few seconds."""

    rows: tuple[Row, ...]
    width: int
    height: int
    label_width: int
    ticks: tuple[tuple[float, str], ...]  # (x, label)


def status_of(result: StepResult) -> str:
    """The status a report shows (an ignored failure is ``ignored``)."""
    return "ignored" if result.ignored else result.status  # i18n: not text (a status key)


def check_word(tr: Translator, status: str) -> str:
    """A check's outcome (``passed``, ``failed``, ``skipped``) in the language."""
    words = {
        "passed": tr.pgettext("check", "passed"),
        "failed": tr.pgettext("check", "failed"),
        "skipped": tr.pgettext("check", "skipped"),
    }
    return words.get(status, status)


def detail_of(result: StepResult) -> Text:
    """Why a step failed or was skipped, unless it only repeats the exit code."""
    if result.rc is not None and result.message == msg("exit code {rc}", rc=result.rc):
        return ""
    return result.message


def command_of(result: StepResult) -> str:
    """The command line of a step, as the plan shows it."""
    return result.display or (shlex.join(result.argv) if result.argv else "")


def _tick_step(span: float) -> float:
    """A round interval giving about eight ticks over ``span`` seconds."""
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600):
        if span / step <= 8:
            return step
    return 7200.0


def timeline(record: RunRecord, tr: Translator) -> Timeline:
    """The run's timeline: bars placed by each step's wall-clock start and whole duration."""
    ran = [e.result for e in record.results if e.result.started]
    start = min((r.started for r in ran), default=record.started) or record.started
    end = max((r.started + r.duration for r in ran), default=start)
    span = max(end - start, 0.001)
    scale = TIMELINE_WIDTH / span
    label_width = max(80, min(220, 8 * max((len(h) for h in record.hosts), default=4) + 16))
    rows = []
    for index, host in enumerate(record.hosts):
        bars = []
        for event in record.host_results(host):
            result = event.result
            if not result.started:
                continue
            title = tr.gettext(
                "{host}: {phase} / {step}: {status}, {duration}",
                host=host,
                phase=result.phase,
                step=result.step,
                status=status_word(tr, status_of(result)),
                duration=format_duration(result.duration),
            )
            x = label_width + (result.started - start) * scale
            bars.append(
                Bar(
                    round(x, 1),
                    round(max(result.duration * scale, 1.5), 1),
                    status_of(result),
                    title,
                )
            )
        recap = record.recaps.get(host)
        rows.append(
            Row(
                host=host,
                y=index * ROW_HEIGHT + ROW_HEIGHT,
                bars=tuple(bars),
                failed=bool(recap and recap.failed),
                duration=recap.duration if recap else 0.0,
            )
        )
    every = _tick_step(span)
    ticks = []
    second = 0.0
    while second <= span + 1e-9:
        ticks.append((round(label_width + second * scale, 1), format_duration(second)))
        second += every
    height = len(rows) * ROW_HEIGHT + ROW_HEIGHT + 8
    return Timeline(
        tuple(rows), label_width + TIMELINE_WIDTH + 10, height, label_width, tuple(ticks)
    )


def clock(seconds: float) -> str:
    """A wall-clock time for people: ``2026-11-25 17:15:00``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def tail_lines(text: str, lines: int = TAIL_LINES) -> tuple[str, int]:
    """The last ``lines`` lines of ``text`` and how many were left out."""
    kept = text.rstrip("\n").splitlines()
    return "\n".join(kept[-lines:]), max(0, len(kept) - lines)


def trimmed(text: str, head: int = HEAD_LINES, end: int = END_LINES) -> tuple[str, str, int]:
    """A step's output for a handout: its first and last lines, and how many were left out."""
    lines = text.rstrip("\n").splitlines()
    if len(lines) <= head + end:
        return "\n".join(lines), "", 0
    return "\n".join(lines[:head]), "\n".join(lines[-end:]), len(lines) - head - end


def run_files(run_dir: Path) -> list[tuple[str, int]]:
    """The files of a run directory (relative paths and sizes), diagnostics included."""
    found = []
    for path in sorted(Path(run_dir).rglob("*")):
        relative = path.relative_to(run_dir).as_posix()
        if path.is_file() and relative != REPORT and not relative.startswith(HANDOUTS + "/"):
            found.append((relative, path.stat().st_size))
    return found


# ---------------------------------------------------------------------------- rendering


def environment(templates_dir: Path, tr: Translator, *, html: bool) -> Any:
    """A Jinja environment over the project's templates, speaking the reader's language."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        _=tr.gettext,
        gettext=tr.gettext,
        ngettext=tr.ngettext,
        pgettext=tr.pgettext,
        render=tr.render,
        status_word=lambda status: status_word(tr, status),
        phase_name=lambda phase: phase_name(tr, phase),
        check_word=lambda status: check_word(tr, status),
        lang=tr.lang,
    )
    env.filters["duration"] = format_duration
    env.filters["clock"] = clock
    return env


def _template(env: Any, name: str, templates_dir: Path) -> Any:
    import jinja2

    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise ConfigError(
            msg("template not found: {path}", path=Path(templates_dir) / name),
            hint=msg(
                "the report and handout templates live in templates/report/ and templates/handout/"
            ),
        ) from exc


def report_template(templates_dir: Path, lang: str = SOURCE_LANGUAGE) -> Any:
    """The report's compiled template (Jinja2 compiles it to Python: ~20 ms, more under load)."""
    env = environment(templates_dir, translator(lang), html=True)
    return _template(env, REPORT_TEMPLATE, templates_dir)


def render_report(
    record: RunRecord,
    templates_dir: Path,
    lang: str = SOURCE_LANGUAGE,
    template: Any = None,
) -> str:
    """The HTML report of a run (``template``: ``report_template``'s, compiled beforehand)."""
    tr = translator(lang)
    if template is None:
        template = report_template(templates_dir, lang)
    failures = [
        {
            "result": e.result,
            "command": command_of(e.result),
            "detail": detail_of(e.result),
            "stderr": tail_lines(e.result.stderr),
            "stdout": tail_lines(e.result.stdout),
        }
        for e in record.results
        if e.result.status == "failed"
    ]
    return str(
        template.render(
            record=record,
            timeline=timeline(record, tr),
            failures=failures,
            files=run_files(record.run_dir),
            handouts=_handout_links(record.run_dir),
        )
    )


def _handout_links(run_dir: Path) -> list[str]:
    folder = Path(run_dir) / HANDOUTS
    return sorted(p.name for p in folder.glob("*.html")) if folder.is_dir() else []


def handout_steps(record: RunRecord, host: str, lang: str) -> list[dict[str, Any]]:
    """What a participant did, step by step: explanation, command, output, time, status."""
    steps = []
    for event in record.host_results(host):
        result = event.result
        explain = record.explain.get((result.phase, result.step), {})
        head, end, omitted = trimmed(result.stdout)
        err_head, err_end, err_omitted = trimmed(result.stderr)
        steps.append(
            {
                "result": result,
                "status": status_of(result),
                "explain": (explain.get(lang) or explain.get(SOURCE_LANGUAGE) or "").strip(),
                "command": command_of(result),
                "detail": detail_of(result),
                "stdout": (head, end, omitted),
                "stderr": (err_head, err_end, err_omitted),
            }
        )
    return steps


def render_handout(
    record: RunRecord,
    host: str,
    templates_dir: Path,
    *,
    kind: str,
    lang: str = SOURCE_LANGUAGE,
    mask: Mask | None = None,
) -> str:
    """One participant's handout, as Markdown (``kind="md"``) or HTML (``"html"``)."""
    tr = translator(lang)
    env = environment(templates_dir, tr, html=kind == "html")
    template = _template(env, HANDOUT_TEMPLATES[kind], templates_dir)
    return str(
        template.render(
            record=record,
            host=host,
            steps=handout_steps(record, host, tr.lang),
            checks=record.checks(host, mask),
            recap=record.recaps.get(host),
            provider=record.providers.get(host, ""),
        )
    )


def write_report(
    record: RunRecord, templates_dir: Path, lang: str = SOURCE_LANGUAGE, template: Any = None
) -> Path:
    """Write ``<run>/report.html``."""
    path = record.run_dir / REPORT
    path.write_text(render_report(record, templates_dir, lang, template), encoding="utf-8")
    return path


def write_handouts(
    record: RunRecord,
    templates_dir: Path,
    *,
    lang: str = SOURCE_LANGUAGE,
    hosts: Sequence[str] | None = None,
    mask: Mask | None = None,
) -> list[Path]:
    """Write ``<run>/handouts/<host>.md`` and ``.html`` for each participant."""
    folder = record.run_dir / HANDOUTS
    folder.mkdir(exist_ok=True)
    written = []
    for host in hosts if hosts is not None else record.hosts:
        for kind in HANDOUT_TEMPLATES:
            path = folder / f"{host}.{kind}"
            text = render_handout(record, host, templates_dir, kind=kind, lang=lang, mask=mask)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


class ReportReporter:
    """Keeps the run's events; writes ``report.html`` from them when the run is over.

    The template is compiled in a thread from the run's start, while the steps run, so the end
    of a run (between its last step and the prompt) does not wait for Jinja's compiler.
    """

    def __init__(self, run_dir: Path, templates_dir: Path, lang: str = SOURCE_LANGUAGE) -> None:
        self.run_dir = Path(run_dir)
        self.templates_dir = Path(templates_dir)
        self.lang = lang
        self.events: list[Event] = []
        self.path: Path | None = None
        self.error = ""
        self._template: Future[Any] | None = None

    def handle(self, event: Event) -> None:
        """Keep one event (already redacted, like every reporter's)."""
        self.events.append(event)
        if isinstance(event, RunStarted) and self._template is None:
            self._template = Future()
            threading.Thread(target=self._compile, name="report-template", daemon=True).start()

    def _compile(self) -> None:
        """The template, or the error compiling it (raised by ``close``, as if compiled there)."""
        assert self._template is not None
        try:
            self._template.set_result(report_template(self.templates_dir, self.lang))
        except BaseException as exc:
            self._template.set_exception(exc)

    def close(self) -> None:
        """Write the report (a failure disables this reporter, never the run)."""
        try:
            template = self._template.result() if self._template is not None else None
            record = fold(self.run_dir, self.events)
            self.path = write_report(record, self.templates_dir, self.lang, template)
        except Exception as exc:  # kept for the run's last line, then the Fanout's rule
            self.error = (
                exc.format() if isinstance(exc, LabError) else f"{type(exc).__name__}: {exc}"
            )
            raise
