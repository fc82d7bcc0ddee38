"""Run directories: ``runs/20261125-171500-basics-up/`` plus a ``latest`` symlink."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path


def new_run_dir(base: Path, lab: str, phase: str) -> Path:
    """Create a unique run directory under ``base`` and point ``base/latest`` at it."""
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
