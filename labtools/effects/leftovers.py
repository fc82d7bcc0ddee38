"""What a teardown leaves: the providers' state directories, removed once no cluster uses them."""

from __future__ import annotations

import contextlib
import glob
import shutil
from collections.abc import Iterable
from pathlib import Path

from labtools.providers.base import Leftover


def remove_unused(leftovers: Iterable[Leftover], project_root: Path) -> list[Path]:
    """Remove each leftover directory nothing uses any more, then the project's ``.labtools``
    (and any other parent up to the project) when that left it empty; returns what was removed.
    """
    removed: list[Path] = []
    for item in {leftover.path: leftover for leftover in leftovers}.values():
        path = Path(item.path)
        if not path.is_dir() or glob.glob(item.in_use):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
        _remove_empty_parents(path.parent, project_root)
    return removed


def _remove_empty_parents(path: Path, stop: Path) -> None:
    """``rmdir`` upwards while empty, never ``stop`` itself or anything outside it."""
    stop = stop.resolve()
    path = path.resolve()
    while path != stop and stop in path.parents:
        with contextlib.suppress(OSError):  # not empty (tutor state, ...): keep it
            path.rmdir()
            path = path.parent
            continue
        return
