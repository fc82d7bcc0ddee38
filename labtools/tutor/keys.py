"""Keys the student presses while the tutor waits: one key at a time on a terminal (cbreak
mode, no Enter needed), or one line at a time from a pipe. Waiting has a timeout, so the tutor
can poll a check between keys without a thread."""

from __future__ import annotations

import contextlib
import os
import select
import sys
from collections.abc import Iterator
from typing import IO, Any

EOF_KEY = "\x04"  # what read() returns once the input is closed
TYPING = "\x00"  # what read() returns for a burst of keys: someone typed a command here
BURST_GAP = 0.15  # seconds: keys closer together than this are typing, not a key press


class Keys:
    """``with Keys() as keys: key = keys.read(timeout)``; the terminal is restored on exit."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdin
        self.fd = self.stream.fileno()
        self.tty = os.isatty(self.fd)
        self._saved: list[Any] | None = None
        self._pending = ""
        self.closed = False

    def __enter__(self) -> Keys:
        self._cbreak()
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()

    def _cbreak(self) -> None:
        if not self.tty:
            return
        import termios
        import tty

        with contextlib.suppress(termios.error):
            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)

    def _restore(self) -> None:
        if self._saved is None:
            return
        import termios

        with contextlib.suppress(termios.error):
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        self._saved = None

    @contextlib.contextmanager
    def cooked(self) -> Iterator[None]:
        """The terminal as the user's shell has it (a solution that owns the terminal runs)."""
        self._restore()
        try:
            yield
        finally:
            self._cbreak()

    def read(self, timeout: float) -> str | None:
        """The next key (a line's first character from a pipe; ``\\n`` for Enter), None on
        timeout, ``EOF_KEY`` once the input is closed."""
        if self._pending:
            key, self._pending = self._pending[0], self._pending[1:]
            return key
        if self.closed:
            return EOF_KEY
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return None
        data = os.read(self.fd, 1024).decode("utf-8", "replace")
        if not data:
            self.closed = True
            return EOF_KEY
        if not self.tty:
            # a line from a pipe: its first character is the key ("\n" for an empty line)
            lines = data.splitlines(keepends=True)
            data = "".join(line.strip()[:1] or "\n" for line in lines)
        elif len(data) > 1 or self._more_soon():
            # a command typed (or pasted) into the tutor's window: its letters are not keys
            self._swallow()
            return TYPING
        key, self._pending = data[0], data[1:]
        return key

    def _more_soon(self) -> bool:
        """Another key follows at once (typing, not a single key press)."""
        ready, _, _ = select.select([self.fd], [], [], BURST_GAP)
        return bool(ready)

    def _swallow(self) -> None:
        """Read what is being typed until the keyboard is quiet."""
        while self._more_soon():
            if not os.read(self.fd, 1024):
                self.closed = True
                return
