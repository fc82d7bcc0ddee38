"""One run at a time per target (a minikube profile, a namespace): a lock file each, held with
``flock`` for the whole run.

The kernel drops an flock when the process holding it ends, however it ends (``kill -9``
included), so the lock of a killed run is free again: the next run takes it over and says whose
it was. The file records the holder (pid, start time, command, project) so a run refused because
of it can name who holds it. Lock files live outside the project and outside HOME:
``$LABTOOLS_LOCK_DIR``, else ``$XDG_RUNTIME_DIR/labtools/locks``, else
``<tmp>/labtools-<uid>/locks``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtools.core.errors import TargetBusyError
from labtools.core.messages import Msg, msg


def lock_dir() -> Path:
    """Where lock files live (see the module docstring)."""
    if os.environ.get("LABTOOLS_LOCK_DIR"):
        return Path(os.environ["LABTOOLS_LOCK_DIR"])
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "labtools" / "locks"
    return Path(tempfile.gettempdir()) / f"labtools-{os.getuid()}" / "locks"


def lock_path(directory: Path, target: str) -> Path:
    """The lock file of ``target``: a readable slug plus a hash (targets hold paths)."""
    slug = re.sub(r"[^a-z0-9.-]+", "-", target.lower()).strip("-")[:60]
    digest = hashlib.sha256(target.encode("utf-8")).hexdigest()[:12]
    return directory / f"{slug}-{digest}.lock"


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock."""

    pid: int
    started: float
    command: str
    project: str

    def describe(self) -> Msg:
        """``pid 1234 (invoke lab.up in /project), started 2026-12-01 10:56:53``."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return msg(
            "pid {pid} ({command} in {project}), started {when}",
            pid=self.pid,
            command=self.command,
            project=self.project,
            when=when,
        )


def _read_holder(fd: int) -> Holder | None:
    """The holder a lock file records, None when it is empty or unreadable."""
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        data: Any = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return Holder(
            int(data["pid"]), float(data["started"]), str(data["command"]), str(data["project"])
        )
    return None


def this_run(project: str) -> Holder:
    """The holder record of this process."""
    argv = [os.path.basename(sys.argv[0]) or "python", *sys.argv[1:]]
    if argv[0] in ("__main__.py", "invoke.py") or argv[0].startswith("python"):
        argv[0] = "invoke"
    return Holder(os.getpid(), time.time(), " ".join(argv)[:200], project)


class TargetLock:
    """The lock of one target; ``acquire`` raises TargetBusyError when another run holds it."""

    def __init__(self, target: str, path: Path) -> None:
        self.target = target
        self.path = path
        self._fd: int | None = None
        self.took_over: Holder | None = None  # a killed run's lock, taken over

    def acquire(self, me: Holder) -> None:
        """Take the lock now or raise (never waits)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise self._busy(holder) from None
            if self._same_file(fd):
                break
            os.close(fd)  # the holder removed it as we opened it: take the new one
        self._fd = fd
        self.took_over = _read_holder(fd)  # a record under a free lock: its run was killed
        record = json.dumps(me.__dict__).encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)

    def _same_file(self, fd: int) -> bool:
        """True when ``fd`` is still the file at ``path`` (not one a releasing run unlinked)."""
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def _busy(self, holder: Holder | None) -> TargetBusyError:
        who = holder.describe() if holder else msg("another process")
        pid = holder.pid if holder else "PID"
        return TargetBusyError(
            msg("{target} is in use by another run: {who}", target=self.target, who=who),
            hint=msg(
                "wait for that run to end, or stop it (Ctrl-C in its terminal, or `kill {pid}`); "
                "two runs on one target would fight over it (lock: {path})",
                pid=pid,
                path=str(self.path),
            ),
        )

    def release(self) -> None:
        """Remove the lock file, then let go of the lock."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            if self._same_file(fd):
                os.unlink(self.path)
        os.close(fd)


@contextlib.contextmanager
def hold(
    targets: Sequence[str], *, project: str, directory: Path | None = None
) -> Iterator[list[Msg]]:
    """Lock every target (sorted: two runs never wait on each other) for the ``with`` block.

    Yields one notice per lock taken over from a run that was killed. Raises TargetBusyError,
    having let go of the locks it took, when one target is busy.
    """
    base = directory or lock_dir()
    me = this_run(project)
    locks = [TargetLock(target, lock_path(base, target)) for target in sorted(set(targets))]
    taken: list[TargetLock] = []
    try:
        for lock in locks:
            lock.acquire(me)
            taken.append(lock)
        yield [
            msg(
                "{target}: took over the lock of a run that ended without releasing it ({who})",
                target=lock.target,
                who=lock.took_over.describe(),
            )
            for lock in taken
            if lock.took_over is not None
        ]
    finally:
        for lock in reversed(taken):
            lock.release()
