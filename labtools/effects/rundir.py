"""Run directories: ``runs/20261125-171500-basics-up/`` plus a ``latest`` symlink."""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

from labtools.core.errors import RunDirError
from labtools.core.messages import msg


def new_run_dir(base: Path, lab: str, phase: str) -> Path:
    """Create a unique run directory under ``base`` and point ``base/latest`` at it.

    Raises RunDirError (exit 3) when ``base`` is a file, not writable or full.
    """
    try:
        return _make(base, lab, phase)
    except OSError as exc:
        raise run_dir_error(base, exc) from exc


def run_dir_error(base: Path, exc: OSError, what: str | None = None) -> RunDirError:
    """What an OSError writing under ``base`` (the file ``what``) means, and what to do."""
    why = exc.strerror or str(exc)
    place = msg("{base} while writing {file}", base=str(base), file=what) if what else str(base)
    blocker = _file_in_the_way(base)
    if blocker is not None:
        return RunDirError(
            msg(
                "cannot create the run directory: {path} is a file, not a directory",
                path=str(blocker),
            ),
            hint=msg(
                "move {path} away: labtools keeps each run's journal and reports in {base}",
                path=str(blocker),
                base=str(base),
            ),
        )
    if exc.errno == errno.ENOSPC:
        return RunDirError(
            msg(
                "no space left on the disk of {place} ({why}); the run stopped there",
                place=place,
                why=why,
            ),
            hint=msg(
                "free some space (`df -h {base}`) or remove old runs, then run again",
                base=str(base),
            ),
        )
    hint = None
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = msg(
            "make {base} writable (or remove it; labtools creates it), then run again",
            base=str(base),
        )
    return RunDirError(
        msg("cannot write the run directory under {place}: {why}", place=place, why=why),
        hint=hint,
    )


def _file_in_the_way(base: Path) -> Path | None:
    """``base`` or one of its parents when it exists and is not a directory."""
    for path in (base, *base.parents):
        if path.exists() or path.is_symlink():
            return None if path.is_dir() else path
    return None


def _make(base: Path, lab: str, phase: str) -> Path:
    """mkdir -p ``base``, then a new ``<time>-<lab>-<phase>`` directory in it."""
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{lab}-{phase}"
    path = base / name
    counter = 1
    while True:
        try:
            path.mkdir()
            break
        except FileExistsError:  # two runs in the same second
            counter += 1
            path = base / f"{name}-{counter}"
    _point_latest(base, path)
    return path


def _point_latest(base: Path, target: Path) -> None:
    """Replace ``base/latest`` atomically (a relative symlink, so the tree can move)."""
    tmp = base / f".latest-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        tmp.symlink_to(target.name)
        tmp.replace(base / "latest")
    except OSError:  # filesystems without symlinks: the run directory still exists
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
