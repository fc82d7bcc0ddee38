"""JUnit XML of step results: a ``testsuite`` per host, a ``testcase`` per step."""

from __future__ import annotations

import contextlib
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from labtools.core.messages import english
from labtools.core.results import Event, RunStarted, StepEnded, StepResult
from labtools.effects.rundir import run_dir_error

TAIL_LINES = 20


def _tail(text: str) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-TAIL_LINES:])


def _testcase(suite: ET.Element, result: StepResult, lab: str) -> None:
    """One step as a testcase: failure / skipped children as JUnit expects."""
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"{lab}.{result.phase}" if lab else result.phase,
        name=result.step,
        time=f"{result.duration:.3f}",
    )
    output = "\n".join(part for part in (_tail(result.stderr), _tail(result.stdout)) if part)
    if result.interrupted:  # not a failing check: the run was stopped while it ran
        error = ET.SubElement(case, "error", type="interrupted", message=english(result.message))
        error.text = output
    elif result.status == "failed" and not result.ignored:
        failure = ET.SubElement(case, "failure", message=english(result.message) or "failed")
        failure.text = output
    elif result.status == "skipped":
        ET.SubElement(case, "skipped", message=english(result.message))
    elif result.ignored:
        ET.SubElement(case, "system-out").text = f"ignored failure: {result.message}\n{output}"


def junit_xml(
    results: Iterable[StepResult], *, lab: str = "", hosts: Iterable[str] = ()
) -> ET.ElementTree:
    """The XML tree for ``results``, grouped by host (``hosts`` order, then first seen)."""
    root = ET.Element("testsuites", name=lab or "labtools")
    by_host: dict[str, list[StepResult]] = {host: [] for host in hosts}
    for result in results:
        by_host.setdefault(result.host, []).append(result)
    for host, items in by_host.items():
        if not items:
            continue
        errors = sum(r.interrupted for r in items)
        failures = sum(r.status == "failed" and not r.ignored for r in items) - errors
        suite = ET.SubElement(
            root,
            "testsuite",
            name=host,
            tests=str(len(items)),
            failures=str(failures),
            errors=str(errors),
            skipped=str(sum(r.status == "skipped" for r in items)),
            time=f"{sum(r.duration for r in items):.3f}",
        )
        for result in items:
            _testcase(suite, result, lab)
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(
    results: Iterable[StepResult], path: Path, *, lab: str = "", hosts: Iterable[str] = ()
) -> Path:
    """Write the JUnit XML of ``results`` to ``path``, whole or not at all (RunDirError)."""
    tree = junit_xml(results, lab=lab, hosts=hosts)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tree.write(tmp, encoding="utf-8", xml_declaration=True)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise run_dir_error(path.parent, exc, what=str(path)) from exc
    return path


class JUnitReporter:
    """Collects step results; writes ``<run_dir>/junit.xml`` when closed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lab = ""
        self.hosts: list[str] = []
        self.results: list[StepResult] = []

    def handle(self, event: Event) -> None:
        """Keep step results (and the lab name)."""
        if isinstance(event, RunStarted):
            self.lab = event.lab
            self.hosts = list(event.hosts)
        elif isinstance(event, StepEnded):
            self.results.append(event.result)

    def close(self) -> None:
        """Write the file."""
        write_junit(self.results, self.path, lab=self.lab, hosts=self.hosts)
