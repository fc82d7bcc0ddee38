"""Suite-wide guard: after all tests, no process the suite started may still be running."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest


def _leftovers(basetemp: str) -> list[str]:
    """Processes (not zombies) whose command line or environment points into ``basetemp``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and (basetemp in cmdline or basetemp in environ):
            found.append(f"{entry.name}: {cmdline.strip()[:200]}")
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a fake API server, pod sandbox or kubectl proxy outlived the suite."""
    if not Path("/proc").is_dir() or hasattr(session.config, "workerinput"):
        return
    try:
        basetemp = str(session.config._tmp_path_factory.getbasetemp())  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return
    deadline = time.monotonic() + 10
    left = _leftovers(basetemp)
    while left and time.monotonic() < deadline:
        time.sleep(0.25)
        left = _leftovers(basetemp)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("processes started by the suite are still running:", red=True)
            for line in left:
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
