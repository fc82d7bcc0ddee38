"""Effects: a command that owns the user's terminal while it runs (``interactive: true``).

Job control the way a shell does it: the command runs in its own process group, and that group
becomes the terminal's foreground group while it runs, so what the user types (Ctrl-C and Ctrl-\\
included) reaches the command and not the run. When it ends, the run takes the terminal back with
the modes it had before (a command killed in raw mode, ``kubectl exec -ti``, would otherwise leave
the terminal unusable). Its group is tracked like any other, so a timeout, SIGTERM or the end of
the run still ends it.

sh is not used here: ``_fg=True`` returns None instead of a result (no exit code) and gives no
control over the process group; ``subprocess`` with ``process_group=0`` does exactly this.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from labtools.core.errors import Interrupted
from labtools.core.model import Command
from labtools.core.results import Output

if TYPE_CHECKING:
    from labtools.effects.process import ProcessRegistry

# Signals a process outside the terminal's foreground group gets when it touches the terminal.
_TERMINAL_STOPS = {signal.SIGTTOU, signal.SIGTTIN}


def run_in_terminal(command: Command, registry: ProcessRegistry) -> Output:
    """Run ``command`` with the user's terminal; its exit code is the result (no output kept)."""
    from labtools.effects import process

    fd = foreground_terminal()
    modes = _modes(fd)
    started = time.perf_counter()
    with registry.handing_over() as missed_interrupt:
        proc = subprocess.Popen(
            command.argv,
            env=process._environment(command.env),
            cwd=command.cwd,
            process_group=0 if fd is not None else None,
        )
        pgid = proc.pid if fd is not None else None
        if pgid is not None:
            registry.add(pgid)
        if fd is not None and pgid is not None:
            _give_terminal(fd, pgid)
            registry.owns_terminal(pgid)
            if missed_interrupt():  # typed before its group owned the terminal: it is its own
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGINT)
    timed_out = threading.Event()
    token = process.WATCHDOG.add(command.timeout, lambda: _expire(proc, pgid, timed_out))
    try:
        rc = _wait(proc, fd, pgid)
    finally:
        registry.owns_terminal(None)
        process.WATCHDOG.cancel(token)
        if pgid is not None:
            registry.discard(pgid)
        if fd is not None:
            _take_back(fd, modes)
    if registry.interrupted.is_set():
        raise Interrupted(process.INTERRUPTED)
    rc = process.TIMEOUT_RC if timed_out.is_set() else rc
    duration = time.perf_counter() - started
    return Output(rc, "", "", duration, timed_out=timed_out.is_set(), failed=rc != 0)


def foreground_terminal() -> int | None:
    """stdin's descriptor when it is a terminal whose foreground group is this process's."""
    try:
        fd = sys.stdin.fileno()
        if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
            return fd
    except (OSError, ValueError, AttributeError):  # closed, replaced or not a real file
        pass
    return None


def _modes(fd: int | None) -> list[Any] | None:
    """The terminal's modes (termios attributes), to restore after the command."""
    if fd is None:
        return None
    import termios

    try:
        return termios.tcgetattr(fd)
    except termios.error:
        return None


@contextlib.contextmanager
def _terminal_signals_blocked() -> Iterator[None]:
    """Block SIGTTOU/SIGTTIN in this thread: a background group may then set the terminal.

    The kernel checks the calling thread's mask, so this works from the runner's worker threads,
    where ``signal.signal`` cannot be called.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _TERMINAL_STOPS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _give_terminal(fd: int, pgid: int) -> None:
    """Make ``pgid`` the terminal's foreground group, and wake it if it tried too early."""
    with _terminal_signals_blocked(), contextlib.suppress(OSError):
        os.tcsetpgrp(fd, pgid)
    # The command may have read the terminal before it was its own and been stopped (SIGTTIN).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGCONT)


def _take_back(fd: int, modes: list[Any] | None) -> None:
    """This process's group in the foreground again, with the terminal modes it had."""
    import termios

    with _terminal_signals_blocked():
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, os.getpgrp())
        if modes is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(fd, termios.TCSADRAIN, modes)


def _wait(proc: subprocess.Popen[bytes], fd: int | None, pgid: int | None) -> int:
    """Wait for the command's exit; a stop (Ctrl-Z) is resumed: a step cannot be suspended."""
    while True:
        try:
            _, status = os.waitpid(proc.pid, os.WUNTRACED)
        except ChildProcessError:  # reaped elsewhere
            return proc.returncode if proc.returncode is not None else 1
        if os.WIFSTOPPED(status):
            if fd is not None and pgid is not None:
                _give_terminal(fd, pgid)
            else:
                os.kill(proc.pid, signal.SIGCONT)
            continue
        rc = os.waitstatus_to_exitcode(status)
        proc.returncode = rc  # Popen's own record, so it never waits or warns again
        return 128 - rc if rc < 0 else rc  # a signal as a shell reports it: 130 for SIGINT


def _expire(proc: subprocess.Popen[bytes], pgid: int | None, flag: threading.Event) -> None:
    """Timeout: mark it and end the command (its whole group when it has one)."""
    from labtools.effects.process import kill_group

    flag.set()
    if pgid is not None:
        kill_group(pgid)
    else:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
