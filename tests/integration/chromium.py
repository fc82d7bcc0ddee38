"""Open a page in headless Chromium over the DevTools protocol (``--remote-debugging-pipe``).

A test helper, not product code: it loads a file, waits for the load event, and returns what the
page showed (title, the result of a JavaScript expression, console messages and exceptions, the
requests it made), a PNG screenshot and a printed PDF. Only the standard library: the protocol is
JSON messages separated by NUL bytes on file descriptors 3 (to the browser) and 4 (from it).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
TIMEOUT = 60.0


def find_chromium() -> str | None:
    """The Chromium binary on PATH, if any."""
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def chromium() -> str:
    """The browser, or a skip with the reason .ci/run gave for not installing it."""
    import pytest

    binary = find_chromium()
    if binary:
        return binary
    why = os.environ.get("LABTOOLS_NO_CHROMIUM")
    if why:
        pytest.skip(f"chromium cannot be installed here: {why}")
    if os.environ.get("CI"):
        pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium) as root")
    pytest.skip("chromium is not installed (as root: apt-get update && apt-get install chromium)")


@dataclass
class PageResult:
    """What a page did while it loaded."""

    title: str = ""
    value: Any = None
    console: list[str] = field(default_factory=list)  # console messages of level error/warning
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # URLs other than the page itself
    screenshot: bytes = b""
    pdf: bytes = b""
    element_shot: bytes = b""  # the ``element`` asked for, magnified (a QR code to decode)


class _Pipe:
    """The DevTools protocol over the two pipes of a Chromium started with the pipe flag."""

    def __init__(self, to_browser: int, from_browser: int) -> None:
        self.to_browser, self.from_browser = to_browser, from_browser
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its answer (events that arrive meanwhile are kept)."""
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def read(self, deadline: float | None = None) -> dict[str, Any]:
        """The next message from the browser."""
        deadline = deadline or time.monotonic() + TIMEOUT
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return dict(json.loads(raw))

    def wait_for(self, method: str) -> dict[str, Any]:
        """Wait for an event (looking first at those already received)."""
        for index, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(index)
        deadline = time.monotonic() + TIMEOUT
        while True:
            event = self.read(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)


def open_page(
    binary: str,
    page: Path,
    expression: str,
    profile: Path,
    *,
    print_options: dict[str, Any] | None = None,
    element: str | None = None,
) -> PageResult:
    """Load ``page`` (a file), evaluate ``expression``, take a screenshot and print a PDF.

    ``print_options`` go to ``Page.printToPDF`` (``preferCSSPageSize``: the page's ``@page``
    size, not Letter); ``element`` (a CSS selector) is also shot alone at four times its size.
    """
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    argv = [
        binary,
        "--headless=new",
        "--no-sandbox",  # tests run as root in CI
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--remote-debugging-pipe",
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    # the browser reads commands on fd 3 and writes on fd 4
    # chromium writes ~/.config/chromium (crash reports) and ~/.cache/dconf whatever its
    # --user-data-dir: give it a HOME of its own beside the profile
    home = profile.parent / f"{profile.name}-home"
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    proc = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(3, 4),
        preexec_fn=lambda: _pipes_at_3_and_4(to_browser_r, from_browser_w),
        start_new_session=True,
    )
    os.close(to_browser_r)
    os.close(from_browser_w)
    try:
        pipe = _Pipe(to_browser_w, from_browser_r)
        return _drive(pipe, page, expression, print_options or {}, element)
    finally:
        with contextlib.suppress(OSError):
            os.close(to_browser_w)
        with contextlib.suppress(OSError):
            os.close(from_browser_r)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _pipes_at_3_and_4(read_end: int, write_end: int) -> None:
    """In the child: the browser's command pipe on fd 3, its answer pipe on fd 4."""
    import fcntl

    high_read = fcntl.fcntl(read_end, fcntl.F_DUPFD, 100)  # out of the way of 3 and 4 first
    high_write = fcntl.fcntl(write_end, fcntl.F_DUPFD, 100)
    os.dup2(high_read, 3)
    os.dup2(high_write, 4)


def _drive(
    pipe: _Pipe, page: Path, expression: str, print_options: dict[str, Any], element: str | None
) -> PageResult:
    targets = pipe.send("Target.getTargets")["targetInfos"]
    target = next(t["targetId"] for t in targets if t["type"] == "page")
    session = pipe.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        pipe.send(f"{domain}.enable", session)
    url = page.resolve().as_uri()
    pipe.send("Page.navigate", session, url=url)
    pipe.wait_for("Page.loadEventFired")
    result = PageResult()
    result.title = pipe.send("Runtime.evaluate", session, expression="document.title")["result"][
        "value"
    ]
    answer = pipe.send("Runtime.evaluate", session, expression=expression, returnByValue=True)
    result.value = answer["result"].get("value")
    shot = pipe.send("Page.captureScreenshot", session, format="png", captureBeyondViewport=True)
    result.screenshot = base64.b64decode(shot["data"])
    if element:
        result.element_shot = _element_shot(pipe, session, element)
    result.pdf = base64.b64decode(pipe.send("Page.printToPDF", session, **print_options)["data"])
    for event in pipe.events:
        params = event.get("params", {})
        if event.get("method") == "Runtime.consoleAPICalled" and params.get("type") in (
            "error",
            "warning",
            "assert",
        ):
            result.console.append(json.dumps(params.get("args")))
        elif event.get("method") == "Log.entryAdded" and params["entry"]["level"] in (
            "error",
            "warning",
        ):
            result.console.append(params["entry"].get("text", ""))
        elif event.get("method") == "Runtime.exceptionThrown":
            result.exceptions.append(json.dumps(params.get("exceptionDetails")))
        elif event.get("method") == "Network.requestWillBeSent":
            requested = params["request"]["url"]
            if requested != url:
                result.requests.append(requested)
    return result


def _element_shot(pipe: _Pipe, session: str, selector: str) -> bytes:
    """A screenshot of the first element ``selector`` matches, at four times its size."""
    where = (
        f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
        ".getBoundingClientRect(); return {x: r.left + window.scrollX, "
        "y: r.top + window.scrollY, width: r.width, height: r.height}; })()"
    )
    box = pipe.send("Runtime.evaluate", session, expression=where, returnByValue=True)
    clip = {**box["result"]["value"], "scale": 4}
    shot = pipe.send(
        "Page.captureScreenshot", session, format="png", clip=clip, captureBeyondViewport=True
    )
    return base64.b64decode(shot["data"])


def pdf_pages(pdf: bytes) -> int:
    """How many pages a PDF has (its ``/Type /Page`` objects, not ``/Pages``)."""
    import re

    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))
