"""The student's progress in tutor mode: which steps are done and what they registered.

One JSON file per participant (``.labtools/tutor/<lab>/<host>/progress.json``, mode 0600: it can
hold what steps registered), written atomically after every step, so ``lab.tutor`` resumes where
the student stopped, even after Ctrl-C or a closed terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtools.core.errors import ConfigError
from labtools.core.messages import msg
from labtools.core.model import Step

VERSION = 1
RESET_HINT = msg("`invoke lab.tutor --reset` starts the lab over")
HOW = ("student", "solution", "automatic")  # who did a step


def step_key(step: Step) -> str:
    """A step's key in the progress file: ``phase/name`` (names are unique in a phase)."""
    return f"{step.phase}/{step.name}"


@dataclass
class Progress:
    """Done steps (key -> who did it) and the values they registered."""

    path: Path
    lab: str
    host: str
    done: dict[str, str] = field(default_factory=dict)
    registered: dict[str, Any] = field(default_factory=dict)

    def count(self, steps: list[Step]) -> int:
        """How many of ``steps`` are done."""
        return sum(step_key(step) in self.done for step in steps)

    def mark(self, step: Step, how: str, registered: dict[str, Any]) -> None:
        """Record a done step and the registered values so far; save."""
        self.done[step_key(step)] = how
        self.registered = {key: value for key, value in registered.items() if _plain(value)}
        self.save()

    def save(self) -> None:
        """Write the file atomically, readable by its owner only."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "version": VERSION,
            "lab": self.lab,
            "host": self.host,
            "done": self.done,
            "registered": self.registered,
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=1)
        tmp.replace(self.path)


def progress_path(directory: Path) -> Path:
    """The progress file in a participant's tutor directory."""
    return directory / "progress.json"


def load_progress(path: Path, lab: str, host: str) -> Progress:
    """The saved progress, or a fresh one; a damaged file is a ConfigError naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Progress(path, lab, host)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            msg("{path}: the tutor's progress file cannot be read: {error}", path=path, error=exc),
            hint=RESET_HINT,
        ) from exc
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ConfigError(
            msg(
                "{path}: not a progress file of this labtools (version {version})",
                path=path,
                version=VERSION,
            ),
            hint=RESET_HINT,
        )
    done = {str(k): str(v) for k, v in dict(data.get("done") or {}).items() if v in HOW}
    return Progress(path, lab, host, done, dict(data.get("registered") or {}))


def reset_progress(path: Path) -> None:
    """Forget the progress (``lab.tutor --reset``)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _plain(value: Any) -> bool:
    """JSON can keep it (registered values are plain data; placeholders are not)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
