"""The ``--data`` file: a snapshot plus a write-ahead log, so objects survive ``kill -9``.

A real API server loses nothing when it is killed: every acknowledged write is in etcd. The
fake keeps that promise the same way: each store change is appended to ``<data>.wal`` (one JSON
line, written before the change is acknowledged to the client, unbuffered: it is in the page
cache even if the process dies the next instant). A start loads the snapshot, replays the log
(a torn last line from a kill mid-write is ignored), writes a fresh snapshot and empties the
log; a clean stop writes the snapshot too.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from .store import Obj, Store, StoreKey

log = logging.getLogger(__name__)


class DataFile:
    """Snapshot + write-ahead log of one store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.wal = path.with_name(path.name + ".wal")
        self._fd: int | None = None
        self._lock = threading.Lock()

    def load(self, store: Store) -> list[tuple[StoreKey, Obj]] | None:
        """Every saved object (snapshot, then the log replayed); None when there is no data."""
        objects: dict[tuple[StoreKey, str, str], Obj] = {}
        rv = 0
        found = False
        if self.path.exists():
            try:
                doc = json.loads(self.path.read_text())
                found = True
            except (OSError, ValueError):
                log.warning("cannot read %s; starting without its objects", self.path)
                doc = {}
            rv = int(doc.get("resourceVersion", 0))
            for item in doc.get("objects", []):
                obj = item["object"]
                objects[_ident((item["group"], item["plural"]), obj)] = obj
        for kind, key, obj in self._replay():
            found = True
            ident = _ident(key, obj)
            if kind == "DELETED":
                objects.pop(ident, None)
            else:
                objects[ident] = obj
            rv = max(rv, int(obj["metadata"].get("resourceVersion", "0") or 0))
        if not found:
            return None
        store.rv = max(store.rv, rv)
        return [(ident[0], obj) for ident, obj in objects.items()]

    def _replay(self) -> list[tuple[str, StoreKey, Obj]]:
        try:
            lines = self.wal.read_bytes().split(b"\n")
        except OSError:
            return []
        changes = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                changes.append((entry["t"], (entry["g"], entry["p"]), entry["o"]))
            except (ValueError, KeyError, TypeError):
                # only the last line can be torn (killed mid-write); anything else is damage
                level = logging.DEBUG if number >= len(lines) - 1 else logging.WARNING
                log.log(level, "%s:%d: unreadable log entry skipped", self.wal, number)
        return changes

    def snapshot(self, store: Store) -> None:
        """Write every object atomically and empty the log."""
        with store.lock, self._lock:
            objects = [{"group": k[0], "plural": k[1], "object": o} for k, o in store.iter_all()]
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps({"resourceVersion": store.rv, "objects": objects}))
            tmp.replace(self.path)
            if self._fd is not None:
                os.ftruncate(self._fd, 0)
            else:
                self.wal.unlink(missing_ok=True)

    def open_log(self, store: Store) -> None:
        """Start appending every change of ``store`` to the log."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        self._fd = os.open(self.wal, flags, 0o600)
        store.on_change.append(self._append)

    def _append(self, key: StoreKey, kind: str, obj: Obj) -> None:
        entry: dict[str, Any] = {"t": kind, "g": key[0], "p": key[1], "o": obj}
        line = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            if self._fd is not None:
                os.write(self._fd, line)

    def close(self) -> None:
        """Stop logging (after the final snapshot)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _ident(key: StoreKey, obj: Obj) -> tuple[StoreKey, str, str]:
    meta = obj["metadata"]
    return key, meta.get("namespace", ""), meta["name"]
