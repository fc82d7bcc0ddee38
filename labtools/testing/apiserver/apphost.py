"""Emulated images served from the API server process: no interpreter per container.

A container whose image the fake emulates (``apps.py``: the bootcamp app, nginx, an idle image)
is two things here:

* its **process**: a ``sleep infinity`` forked by the fork server inside the pod's network and
  UTS namespaces and, with volumes, its own mount namespace (``zygote.py``). It is what
  ``kubectl exec`` joins, what a stop signals, whose end is the container's end;
* its **server**: the image's handler, answering on a socket created inside the pod's network
  namespace (``pods.socket_in_netns``), so ``curl localhost:8080`` in the pod, the pod IP, the
  pod proxy and node ports all reach it, with files read through the process's root
  (``/proc/PID/root``: the volumes the container sees) and log lines written to the container's
  CRI log file.

One thread accepts for every hosted server; each connection gets a thread of its own, as
``ThreadingHTTPServer`` does. A hosted container costs a few hundred KiB instead of a Python
process (~10 MiB) and starts in milliseconds (issue 11).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import signal
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from . import apps

log = logging.getLogger(__name__)


class HostedContainer:
    """One emulated container: its holder process and its server, with Popen's interface."""

    def __init__(self, holder: Any, host: AppHost) -> None:
        self.holder = holder
        self.pid: int = holder.pid
        self.stdout = None
        self.host = host
        self.listener: socket.socket | None = None
        self.returncode: int | None = None
        # what to close once the container is gone (its log file)
        self.closers: list[Callable[[], None]] = []
        self.failed: int | None = None

    def poll(self) -> int | None:
        """The exit code once the container ended (its holder was killed), else None."""
        if self.returncode is None:
            code = self.holder.poll()
            if code is not None:
                self._ended(code)
        return self.returncode

    def _ended(self, code: int) -> None:
        self.host.remove(self)
        # the emulated process ends as node or nginx would: 143 on SIGTERM, 137 on SIGKILL
        self.returncode = (
            self.failed if self.failed is not None else (128 - code if code < 0 else code)
        )

    def fail(self, code: int) -> None:
        """The emulation could not start (its port is taken): it exits with ``code``."""
        self.failed = code
        self.kill()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end; ``subprocess.TimeoutExpired`` after ``timeout``."""
        self._ended(self.holder.wait(timeout))
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Deliver to the holder; the server stops with it."""
        if self.poll() is None:
            self.host.remove(self)
            self.holder.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM."""
        self.send_signal(signal.SIGTERM)


class AppHost:
    """Accepts connections for every hosted server and hands each to a handler thread."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None
        self._closed = False

    def serve(
        self,
        container: HostedContainer,
        listener: socket.socket,
        handler: type[apps.QuietHandler],
    ) -> None:
        """Start answering on ``listener`` (bound and listening) with ``handler``."""
        listener.setblocking(False)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="apphost", daemon=True)
                self._thread.start()
            container.listener = listener
            self._selector.register(listener, selectors.EVENT_READ, (handler, container))
        self._wake_w.send(b"x")

    def remove(self, container: HostedContainer) -> None:
        """Stop answering for ``container`` (its socket closes)."""
        with self._lock:
            listener, container.listener = container.listener, None
            if listener is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(listener)
        if listener is not None:
            listener.close()

    def close(self) -> None:
        """Stop the accept thread and close what it listened on."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for key in list(self._selector.get_map().values()):
                if key.data is not None:
                    key.data[1].listener = None
                    key.fileobj.close()  # type: ignore[union-attr]
            self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _loop(self) -> None:
        while not self._closed:
            with self._lock:
                selector = self._selector
            for key, _ in selector.select(timeout=1.0):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        self._wake_r.recv(4096)
                    continue
                self._accept(key.fileobj, *key.data)  # type: ignore[arg-type]

    def _accept(
        self, listener: socket.socket, handler: type[apps.QuietHandler], container: Any
    ) -> None:
        try:
            conn, address = listener.accept()
        except (BlockingIOError, OSError):
            return
        conn.setblocking(True)
        threading.Thread(
            target=_handle, args=(handler, conn, address), daemon=True, name="hosted"
        ).start()


def _handle(handler: type[apps.QuietHandler], conn: socket.socket, address: Any) -> None:
    try:
        handler(conn, address, cast("socketserver.BaseServer", _Server()))
    except (OSError, ValueError):
        pass
    except Exception:  # a handler bug must not end the API server's thread quietly
        log.exception("hosted app failed")
    finally:
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
        conn.close()


class _Server:
    """What BaseHTTPRequestHandler asks its server for."""

    server_name = "localhost"
    server_port = 0


def listen(port: int, new_socket: Callable[[int], socket.socket]) -> socket.socket:
    """A listening socket on ``port`` of every address, like node's ``listen(port)``.

    ``new_socket(family)`` makes the socket (in the pod's network namespace); IPv6 with
    IPv4-mapped addresses, or IPv4 alone where IPv6 is off.
    """
    try:
        sock = new_socket(socket.AF_INET6)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        address: tuple[Any, ...] = ("::", port)
    except OSError:
        sock = new_socket(socket.AF_INET)
        address = ("0.0.0.0", port)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        if address[0] == "::":  # no IPv6 on the pod's loopback: node falls back to IPv4
            return listen_v4(port, new_socket)
        raise
    return sock


def listen_v4(port: int, new_socket: Callable[[int], socket.socket]) -> socket.socket:
    """An IPv4-only listening socket on ``port``."""
    sock = new_socket(socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def docroot_through(holder_pid: int, docroot: str | None) -> str | None:
    """The image's docroot as the container sees it (its volumes), read through /proc."""
    if docroot is None:
        return None
    return str(Path(f"/proc/{holder_pid}/root") / docroot.lstrip("/"))


__all__ = ["AppHost", "HostedContainer", "docroot_through", "listen"]
