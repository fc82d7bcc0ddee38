"""A real terminal for tests: a private tmux server (its own socket), panes typed into and read.

Every test gets its own server (``-S <tmp>/tmux.sock``), so nothing is shared with a user's tmux
or another test; ``close()`` kills the server and with it every pane's processes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

WIDTH, HEIGHT = 160, 50


def need_tmux() -> str:
    """The tmux binary, or skip with the reason (`.ci/run` installs it as root)."""
    binary = shutil.which("tmux")
    if binary is None:
        pytest.skip("tmux is not installed (Debian: apt-get install tmux; .ci/run does it)")
    return binary


class Tmux:
    """One tmux server; ``window(name, command)`` opens a pane running ``command``."""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        self.binary = need_tmux()
        self.socket = base / "tmux.sock"
        self.env = env
        self._started = False

    def _tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [self.binary, "-S", str(self.socket), "-f", "/dev/null", *args]
        return subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=30, check=True
        )

    def window(self, name: str, command: str, cwd: Path) -> str:
        """A new window named ``name`` running ``command`` (a shell line) in ``cwd``."""
        size = ("-x", str(WIDTH), "-y", str(HEIGHT))
        if not self._started:
            self._tmux("new-session", "-d", "-s", "lab", "-n", name, *size, "-c", str(cwd), command)
            self._tmux("set-option", "-g", "remain-on-exit", "on")
            self._tmux("set-option", "-g", "history-limit", "20000")
            self._started = True
        else:
            self._tmux("new-window", "-d", "-t", "lab", "-n", name, "-c", str(cwd), command)
        return f"lab:{name}"

    def type(self, target: str, text: str, *, enter: bool = True) -> None:
        """Type ``text`` (literally) into a pane, then Enter."""
        if text:
            self._tmux("send-keys", "-t", target, "-l", text)
        if enter:
            self._tmux("send-keys", "-t", target, "Enter")

    def key(self, target: str, *keys: str) -> None:
        """Press keys by tmux name (``C-c``, ``Enter``)."""
        self._tmux("send-keys", "-t", target, *keys)

    def screen(self, target: str) -> str:
        """Everything the pane shows, scrollback included, without colours."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-", "-t", target).stdout

    def wait_for(
        self, target: str, pattern: str, *, timeout: float = 60.0, after: int = 0, flags: int = 0
    ) -> str:
        """The screen once ``pattern`` (a regex) appears past offset ``after``; fail otherwise."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern, re.MULTILINE | flags)
        text = ""
        while time.monotonic() < deadline:
            text = self.screen(target)
            if regex.search(text, after):
                return text
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} did not appear in {timeout:g}s; the pane shows:\n{text}")

    def close(self) -> None:
        """Kill the server and everything running in its panes."""
        if self._started:
            subprocess.run(
                [self.binary, "-S", str(self.socket), "kill-server"],
                env=self.env,
                capture_output=True,
                timeout=30,
                check=False,
            )
