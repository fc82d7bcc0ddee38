"""Checks processes started ahead of their command (labtools.verify.warm, process.Prestarted,
checks.WarmChecks), with real processes: the command's output and exit code are a cold start's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labtools.core.model import Command
from labtools.effects import process
from labtools.effects.checks import WARM, WarmChecks

TESTS = """
import os

def test_passes():
    print("cwd", os.getcwd())
    assert os.environ["CHECK_ME"] == "given"

def test_fails():
    assert 1 + 1 == 3
"""


def pytest_command(tmp_path: Path, *extra: str, timeout: float = 60.0) -> Command:
    (tmp_path / "test_here.py").write_text(TESTS)
    argv = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull)
    return Command(
        argv=(*argv, "--rootdir", ".", *extra, "test_here.py"),
        env={"CHECK_ME": "given", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        cwd=str(tmp_path),
        timeout=timeout,
    )


def cold(command: Command) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **command.env}
    return subprocess.run(
        command.argv, cwd=command.cwd, env=env, capture_output=True, text=True, check=False
    )


def untimed(text: str) -> str:
    """pytest's summary without its duration (``2 passed in 0.19s``)."""
    return re.sub(r" in \d+\.\d+s", "", text)


def group_gone(pgid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_a_started_process_runs_pytest_as_a_cold_start_does(tmp_path: Path) -> None:
    command = pytest_command(tmp_path, "-rA")
    registry = process.ProcessRegistry()
    warm = process.Prestarted(WARM, registry, cwd=str(tmp_path))
    assert warm.alive
    out = warm.run(command)
    assert out is not None
    done = cold(command)
    assert (out.rc, done.returncode) == (1, 1)  # one test fails: pytest's exit code 1
    for text in (out.stdout, done.stdout):
        assert "PASSED test_here.py::test_passes" in text
        assert "FAILED test_here.py::test_fails - assert (1 + 1) == 3" in text  # rewritten
        assert f"cwd {tmp_path}" in text
    assert "PytestAssertRewriteWarning" not in out.stdout + out.stderr
    assert "Deprecat" not in out.stdout + out.stderr
    assert registry.running() == []


def test_the_labtools_plugin_loads_without_a_rewrite_warning(tmp_path: Path) -> None:
    (tmp_path / "inventory.yml").write_text("all:\n  hosts:\n    h1:\n")
    command = pytest_command(tmp_path, "-p", "labtools.verify.plugin", "-W", "error")
    warm = process.Prestarted(WARM, process.ProcessRegistry(), cwd=str(tmp_path))
    out = warm.run(command)
    assert out is not None
    assert out.rc == 1, out.stdout + out.stderr  # test_fails only: no warning turned error
    assert "1 failed, 1 passed" in out.stdout


@pytest.mark.parametrize(
    "why", ["not pytest", "another directory", "another Python setting"], ids=str
)
def test_what_it_cannot_run_itself_it_executes(tmp_path: Path, why: str) -> None:
    """The command as given, exactly: its output, exit code, directory and environment."""
    other = tmp_path / "other"
    other.mkdir()
    command = Command(
        argv=("sh", "-c", 'echo "$PWD $CHECK_ME ${PYTHONSAFEPATH:-}"; echo oops >&2; exit 3'),
        env={"CHECK_ME": "given"},
        cwd=str(tmp_path),
    )
    if why == "another directory":
        command = pytest_command(tmp_path)
    if why == "another Python setting":
        command = pytest_command(tmp_path)
        command = Command(command.argv, env={**command.env, "PYTHONSAFEPATH": "1"}, cwd=command.cwd)
    started_in = other if why == "another directory" else tmp_path
    warm = process.Prestarted(WARM, process.ProcessRegistry(), cwd=str(started_in))
    out = warm.run(command)
    assert out is not None
    done = cold(command)
    assert out.rc == done.returncode
    assert untimed(out.stdout) == untimed(done.stdout)
    assert out.stderr == done.stderr


def test_end_of_input_ends_it_and_a_timeout_ends_its_group(tmp_path: Path) -> None:
    registry = process.ProcessRegistry()
    idle = process.Prestarted(WARM, registry, cwd=str(tmp_path))
    idle.close()  # nobody needed it: end of input, exit 0
    assert not idle.alive
    (tmp_path / "test_slow.py").write_text("import time\n\ndef test_slow():\n    time.sleep(60)\n")
    command = pytest_command(tmp_path, timeout=2.0)
    command = Command(
        (*command.argv[:-1], "test_slow.py"), env=command.env, cwd=command.cwd, timeout=2.0
    )
    warm = process.Prestarted(WARM, registry, cwd=str(tmp_path))
    pid = warm.pid
    started = time.monotonic()
    out = warm.run(command)
    assert out is not None
    assert out.timed_out
    assert out.rc == process.TIMEOUT_RC
    assert time.monotonic() - started < 20
    assert group_gone(pid)


def test_the_end_of_a_run_ends_those_nobody_took(tmp_path: Path) -> None:
    registry = process.ProcessRegistry()
    pool = WarmChecks(registry, expected=3, ahead=2, cwd=str(tmp_path))
    pids = registry.running()
    assert len(pids) == 2  # as many as may run at once, not as many as expected
    registry.stop_all(grace=1.0)
    pool.close()
    assert all(group_gone(pid) for pid in pids)


def test_one_taken_is_replaced_while_more_are_expected(tmp_path: Path) -> None:
    registry = process.ProcessRegistry()
    pool = WarmChecks(registry, expected=2, ahead=1, cwd=str(tmp_path))
    assert pool.run(Command(("true",))) is None  # not a checks command: the caller runs it
    first = registry.running()
    out = pool.run(pytest_command(tmp_path))
    assert out is not None
    assert out.rc == 1
    second = registry.running()
    assert len(second) == 1  # the replacement, for the one still expected
    assert second != first
    out = pool.run(pytest_command(tmp_path))
    assert out is not None
    assert out.rc == 1
    assert registry.running() == []  # nothing more expected: none started
    assert pool.run(pytest_command(tmp_path)) is None  # an unexpected one starts as usual
    pool.close()


def test_a_started_process_runs_the_exit_handlers_of_its_checks(tmp_path: Path) -> None:
    # it ends without the interpreter's teardown, but what a check registered for the exit
    # (atexit, logging's flush) still runs, and its output is complete
    (tmp_path / "test_here.py").write_text(
        "import atexit, pathlib, sys\n"
        "def test_registers():\n"
        "    atexit.register(pathlib.Path('at-exit').write_text, 'ran')\n"
        "    sys.stderr.write('unflushed tail')\n"
    )
    argv = (sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-c")
    command = Command(
        argv=(*argv, os.devnull, "--rootdir", ".", "test_here.py"),
        env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        cwd=str(tmp_path),
        timeout=60.0,
    )
    out = process.Prestarted(WARM, process.ProcessRegistry(), cwd=str(tmp_path)).run(command)
    assert out is not None
    assert out.rc == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout
    assert "unflushed tail" in out.stderr
    assert (tmp_path / "at-exit").read_text() == "ran"
