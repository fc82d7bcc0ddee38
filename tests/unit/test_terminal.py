"""terminal.py: an interactive command owns a real pseudo-terminal, then gives it back.

Each case runs a small Python program as the session leader of a fresh pty (the pty is its
controlling terminal, as in a terminal emulator); that program calls ``run_in_terminal`` from a
worker thread inside ``stop_all_on_exit``, as the runner does, and prints what it saw.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import time

import pytest

from labtools.core.model import Command
from labtools.effects.process import ProcessRegistry
from labtools.effects.terminal import foreground_terminal, run_in_terminal

PROGRAM = textwrap.dedent(
    """
    import fcntl, os, subprocess, sys, termios, threading
    from labtools.core.model import Command
    from labtools.effects.process import ProcessRegistry, stop_all_on_exit
    from labtools.effects.terminal import run_in_terminal

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # this pty is our controlling terminal
    argv = sys.argv[1:]
    result = {}
    with stop_all_on_exit(ProcessRegistry()) as registry:  # as a run: Ctrl-C handling included
        worker = threading.Thread(
            target=lambda: result.update(out=run_in_terminal(Command(tuple(argv), timeout=20),
                                                             registry)))
        worker.start()
        worker.join()
    lflag = termios.tcgetattr(0)[3]
    fg = os.tcgetpgrp(0) == os.getpgrp()
    print(f"RESULT rc={result['out'].rc} echo={bool(lflag & termios.ECHO)} "
          f"icanon={bool(lflag & termios.ICANON)} foreground={fg}", flush=True)
    """
)


def in_pty(argv: list[str], keys: bytes = b"", wait_for: bytes = b"") -> str:
    """Run PROGRAM with ``argv`` on a new pty; type ``keys`` once ``wait_for`` was printed."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, *argv],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    seen = b""
    typed = not keys
    deadline = time.monotonic() + 30
    try:
        while b"RESULT" not in seen or not seen.rstrip().endswith(b"True"):
            if time.monotonic() > deadline:
                raise AssertionError(f"no RESULT in 30s; the pty shows {seen!r}")
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:  # EIO: every process holding the pty is gone
                    break
            if not typed and wait_for in seen:
                os.write(master, keys)
                typed = True
        proc.wait(timeout=10)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return seen.decode(errors="replace")


def test_exit_code_and_the_terminal_back_as_it_was() -> None:
    # the command puts the terminal in raw mode and leaves it so, as a killed `kubectl exec -ti`
    shown = in_pty(["sh", "-c", "stty raw -echo; echo INSIDE; exit 5"])
    assert "INSIDE" in shown
    assert "RESULT rc=5 echo=True icanon=True foreground=True" in shown, shown


def test_ctrl_c_reaches_the_command_not_the_run() -> None:
    # the command is the terminal's foreground group: ^C ends it (130, as a shell says) and the
    # program that ran it carries on
    shown = in_pty(["sh", "-c", "echo READY; read line"], keys=b"\x03", wait_for=b"READY")
    assert "RESULT rc=130 echo=True icanon=True foreground=True" in shown, shown


def test_the_command_reads_what_the_user_types() -> None:
    shown = in_pty(
        ["sh", "-c", 'echo READY; read line; echo "GOT $line"; exit 0'],
        keys=b"curl localhost:8080\r",
        wait_for=b"READY",
    )
    assert "GOT curl localhost:8080" in shown
    assert "RESULT rc=0" in shown, shown


def test_without_a_terminal_it_still_returns_the_exit_code() -> None:
    assert foreground_terminal() is None  # pytest's stdin is not a terminal
    result = run_in_terminal(Command(("sh", "-c", "exit 7")), ProcessRegistry())
    assert (result.rc, result.failed, result.timed_out) == (7, True, False)


@pytest.mark.slow
def test_a_timeout_ends_it_with_124() -> None:
    started = time.monotonic()
    result = run_in_terminal(Command(("sleep", "30"), timeout=0.5), ProcessRegistry())
    assert (result.rc, result.timed_out) == (124, True)
    assert time.monotonic() - started < 10


def test_a_ctrl_c_typed_while_the_terminal_is_handed_over_is_the_commands() -> None:
    # the window between the command's start and its group owning the terminal: the run's
    # SIGINT handler asks the registry, which notes it for the command instead of the run
    registry = ProcessRegistry()
    assert not registry.interrupt_is_for_the_command()
    with registry.handing_over() as missed:
        assert registry.interrupt_is_for_the_command()
        assert missed()  # the caller passes it on (SIGINT to the command's group)
        assert not registry.interrupt_is_for_the_command()  # handed over: the run's again
    with registry.handing_over() as missed:
        assert not missed()  # noted once, not carried over to the next command
    assert not registry.interrupt_is_for_the_command()


def test_a_late_ctrl_c_while_a_command_owns_the_terminal_goes_to_it() -> None:
    # Python runs a SIGINT handler late, in the main thread: a Ctrl-C typed just before the
    # handover can be handled after it, when the terminal sends this process nothing any more
    registry = ProcessRegistry()
    child = subprocess.Popen(["sleep", "30"], process_group=0)
    try:
        assert registry.interrupt_is_for_the_command() is False  # nobody owns it: for the run
        registry.owns_terminal(child.pid)
        assert registry.interrupt_is_for_the_command() is True
        assert child.wait(timeout=10) == -2  # SIGINT reached the command's group
        registry.owns_terminal(None)
        assert registry.interrupt_is_for_the_command() is False
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
