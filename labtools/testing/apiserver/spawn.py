"""Child processes that die with the fake API server, even when it is killed with SIGKILL.

Every child gets a parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``). Linux sends it
when the *thread* that forked the child ends, not the process (prctl(2)): pods are started from
short-lived worker threads, so every child is forked by one long-lived thread here and the
signal then means "the server is gone" (killed, crashed, or re-executed by a restart). Each
child also checks that its parent is still there after setting the signal, so a parent that
died during the fork is not missed.
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

PR_SET_PDEATHSIG = 1

_libc: Any = None


def _prctl() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc.prctl


def die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn``: SIGKILL this child when the forking thread (or process) ends."""
    prctl = _prctl()  # resolved before the fork: the child only calls it

    def setup() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return setup


class Spawner:
    """Starts every child from one long-lived thread (see the module docstring)."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[list[str], dict[str, Any], Future[Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """``subprocess.Popen(argv, **kwargs)`` that dies with this process."""
        if not sys.platform.startswith("linux"):
            return subprocess.Popen(argv, **kwargs)
        if threading.current_thread() is self._thread:
            return self._start(argv, kwargs)
        done: Future[subprocess.Popen[bytes]] = Future()
        self._ensure_thread()
        self._jobs.put((argv, kwargs, done))
        return done.result()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                # a daemon thread that never returns: it ends only with the process
                self._thread = threading.Thread(target=self._serve, name="spawner", daemon=True)
                self._thread.start()

    def _serve(self) -> None:
        while True:
            argv, kwargs, done = self._jobs.get()
            try:
                done.set_result(self._start(argv, kwargs))
            except BaseException as exc:  # the caller re-raises it in its own thread
                done.set_exception(exc)

    def _start(self, argv: list[str], kwargs: dict[str, Any]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, preexec_fn=die_with_parent(os.getpid()), **kwargs)


SPAWNER = Spawner()
"""The process-wide spawner (one thread, started on first use)."""


def popen(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a child that is SIGKILLed when this process dies."""
    return SPAWNER.popen(argv, **kwargs)
