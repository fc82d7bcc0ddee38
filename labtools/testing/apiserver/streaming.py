"""Pod subresources that stream: exec/attach over WebSocket, log, proxy and port-forward.

Each handler owns the response of a ``BaseHTTPRequestHandler``: it writes a Status error, a
plain or chunked body, or upgrades the connection to WebSocket (``v5.channel.k8s.io`` or
``v4.channel.k8s.io``; port-forward: ``SPDY/3.1+portforward.k8s.io``). Plain SPDY is not
implemented: a client that offers only SPDY (``KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false``) gets a
400 Status that says so.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import http.client
import json
import os
import queue
import selectors
import ssl
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from typing import Any

from labtools.testing.apiserver.pods import ExecNotFound, PodRuntime, parse_cri_line, pod_key
from labtools.testing.apiserver.websocket import WebSocket, is_upgrade_request

EXEC_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "authorization",
    "host",
    "content-length",
}
FOLLOW_POLL = 0.1
EXIT_GRACE = 1.0  # how long output may still arrive after the command exited


class StatusError(Exception):
    """An API error to answer with a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    """A ``meta/v1 Status`` failure object."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def send_status(handler: Any, error: StatusError) -> None:
    """Answer the request with a JSON Status and close the connection."""
    body = json.dumps(status_body(error.code, error.reason, error.message)).encode()
    handler.send_response(error.code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)
    handler.close_connection = True


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (query.get(name) or [""])[-1].lower() in ("true", "1")


def _param(query: dict[str, list[str]], name: str) -> str:
    return (query.get(name) or [""])[-1]


def pick_container(pod: dict[str, Any], requested: str) -> str:
    """The container a request means, with the API server's errors for the other cases."""
    name = pod["metadata"]["name"]
    containers = [c["name"] for c in pod.get("spec", {}).get("containers") or []]
    init = [c["name"] for c in pod.get("spec", {}).get("initContainers") or []]
    if requested:
        if requested not in containers + init:
            raise StatusError(
                400, "BadRequest", f"container {requested} is not valid for pod {name}"
            )
        return requested
    if len(containers) == 1:
        return str(containers[0])
    if not containers:
        raise StatusError(400, "BadRequest", f"a container name must be specified for pod {name}")
    choices = " ".join(containers)
    message = f"a container name must be specified for pod {name}, choose one of: [{choices}]"
    if init:
        message += f" or one of the init containers: [{' '.join(init)}]"
    raise StatusError(400, "BadRequest", message)


def _require_running(runtime: PodRuntime, pod: dict[str, Any], container: str) -> None:
    namespace, name = pod_key(pod)
    if not runtime.is_running(namespace, name, container):
        raise StatusError(400, "BadRequest", f'container not found ("{container}")')


def _upgrade(handler: Any) -> WebSocket:
    """Switch the request to a channel WebSocket, or raise why not."""
    if not is_upgrade_request(handler.headers):
        upgrade = handler.headers.get("Upgrade") or ""
        if upgrade.upper().startswith("SPDY"):
            message = (
                "the fake API server streams only over WebSocket (v5.channel.k8s.io); "
                "SPDY is not supported: unset KUBECTL_REMOTE_COMMAND_WEBSOCKETS"
            )
            raise StatusError(400, "BadRequest", message)
        raise StatusError(400, "BadRequest", "Upgrade request required")
    ws = WebSocket.accept(handler, EXEC_PROTOCOLS)
    if ws is None:
        raise StatusError(400, "BadRequest", "unable to negotiate a channel.k8s.io subprotocol")
    return ws


# -- exec -------------------------------------------------------------------------------------


def exit_status(argv: list[str], code: int) -> dict[str, Any]:
    """The channel-3 Status for a finished command (kubectl exits with the code it carries)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "command terminated with non-zero exit code: error executing command "
            f"[{' '.join(argv)}], exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def handle_exec(
    handler: Any, runtime: PodRuntime, pod: dict[str, Any], query: dict[str, list[str]]
) -> None:
    """``pods/NAME/exec``: run a command in the pod and relay its streams over WebSocket."""
    argv = query.get("command") or []
    try:
        container = pick_container(pod, _param(query, "container"))
        if not argv:
            raise StatusError(400, "BadRequest", "you must specify at least 1 command")
        _require_running(runtime, pod, container)
        ws = _upgrade(handler)
    except StatusError as error:
        send_status(handler, error)
        return
    session = ExecSession(ws, runtime, pod_key(pod), container)
    session.run(argv, stdin=_flag(query, "stdin"), tty=_flag(query, "tty"))


class ExecSession:
    """One exec: a process in the sandbox, its pipes (or pty) and the WebSocket, in one loop."""

    def __init__(
        self, ws: WebSocket, runtime: PodRuntime, key: tuple[str, str], container: str
    ) -> None:
        self.ws = ws
        self.runtime = runtime
        self.namespace, self.name = key
        self.container = container
        self.stdin_queue: queue.Queue[bytes | None] = queue.Queue()
        self.master: int | None = None

    def run(self, argv: list[str], *, stdin: bool, tty: bool) -> None:
        """Run to completion, then send the exit Status on channel 3 and close."""
        try:
            process = self._start(argv, stdin=stdin, tty=tty)
        except ExecNotFound as exc:
            # Docker (minikube's default runtime) prints the OCI error and exits 126.
            self.ws.send_binary(bytes([STDOUT]) + f"{exc}\r\n".encode())
            self._finish(argv, 126)
            return
        try:
            code = self._relay(process)
        finally:
            self._cleanup(process)
        if code is not None:
            self._finish(argv, code)

    def _start(self, argv: list[str], *, stdin: bool, tty: bool) -> subprocess.Popen[bytes]:
        if not tty:
            return self.runtime.exec_process(
                self.namespace, self.name, self.container, argv, stdin=stdin
            )
        self.master, slave = os.openpty()
        try:
            return self.runtime.exec_process(
                self.namespace, self.name, self.container, argv, stdin=stdin, tty_fd=slave
            )
        finally:
            os.close(slave)

    def _finish(self, argv: list[str], code: int) -> None:
        self.ws.send_binary(bytes([ERROR]) + json.dumps(exit_status(argv, code)).encode())
        self.ws.close()

    def _outputs(self, process: subprocess.Popen[bytes]) -> dict[int, int]:
        """Readable descriptor -> channel."""
        if self.master is not None:
            return {self.master: STDOUT}
        assert process.stdout is not None
        assert process.stderr is not None
        return {process.stdout.fileno(): STDOUT, process.stderr.fileno(): STDERR}

    def _relay(self, process: subprocess.Popen[bytes]) -> int | None:
        """Pump until the command is done; its exit code, or None if the client went away."""
        writer = threading.Thread(target=self._write_stdin, args=(process,), daemon=True)
        writer.start()
        outputs = self._outputs(process)
        with selectors.DefaultSelector() as selector:
            selector.register(self.ws.fileno(), selectors.EVENT_READ, None)
            for fd, channel in outputs.items():
                selector.register(fd, selectors.EVENT_READ, channel)
            exited_at: float | None = None
            while outputs:
                ready = [] if self.ws.has_buffered() else selector.select(FOLLOW_POLL)
                from_client = self.ws.has_buffered() or any(k.data is None for k, _ in ready)
                if from_client and not self._on_client():
                    return None
                for key, _ in ready:
                    if key.data is not None and not self._copy_output(key.fd, key.data):
                        selector.unregister(key.fd)
                        del outputs[key.fd]
                if process.poll() is not None:
                    exited_at = exited_at or time.monotonic()
                    if time.monotonic() - exited_at > EXIT_GRACE:
                        break  # a background child still holds the pipes; stop like a runtime
        code = process.wait()
        return code if code >= 0 else 128 - code

    def _copy_output(self, fd: int, channel: int) -> bool:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the pty's last holder is gone
            data = b""
        if data:
            self.ws.send_binary(bytes([channel]) + data)
        return bool(data)

    def _on_client(self) -> bool:
        """Handle what the client sent; False once it is gone."""
        messages = self.ws.receive()
        if messages is None or self.ws.closed:
            return False
        for _, payload in messages:
            if not payload:
                continue
            channel, data = payload[0], payload[1:]
            if channel == STDIN:
                self.stdin_queue.put(data)
            elif channel == CLOSE and data[:1] == bytes([STDIN]):
                self.stdin_queue.put(None)
            elif channel == RESIZE and self.master is not None:
                _resize(self.master, data)
        return True

    def _write_stdin(self, process: subprocess.Popen[bytes]) -> None:
        """Feed stdin from its own thread: a command that does not read must not block us."""
        target = process.stdin
        while (data := self.stdin_queue.get()) is not None:
            try:
                if self.master is not None:
                    os.write(self.master, data)
                elif target is not None:
                    target.write(data)
                    target.flush()
            except OSError:
                return
        if target is not None and self.master is None:
            try:
                target.close()
            except OSError:
                return

    def _cleanup(self, process: subprocess.Popen[bytes]) -> None:
        self.stdin_queue.put(None)
        if process.poll() is None:
            try:
                os.killpg(process.pid, 9)
            except OSError:
                process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        if self.master is not None:
            os.close(self.master)
        self.runtime.forget_exec(self.namespace, self.name, process)


def _resize(master: int, data: bytes) -> None:
    """Apply a ``{"Width": W, "Height": H}`` resize message to the pty."""
    try:
        size = json.loads(data)
        packed = struct.pack("HHHH", int(size["Height"]), int(size["Width"]), 0, 0)
        fcntl.ioctl(master, termios.TIOCSWINSZ, packed)
    except (ValueError, KeyError, TypeError, OSError):
        return


# -- attach -----------------------------------------------------------------------------------


def handle_attach(
    handler: Any, runtime: PodRuntime, pod: dict[str, Any], query: dict[str, list[str]]
) -> None:
    """``pods/NAME/attach``: stream the container's new output; its stdin is not connected."""
    try:
        container = pick_container(pod, _param(query, "container"))
        _require_running(runtime, pod, container)
        ws = _upgrade(handler)
    except StatusError as error:
        send_status(handler, error)
        return
    namespace, name = pod_key(pod)
    path = runtime.log_path(namespace, name, container)
    offset = path.stat().st_size if path.exists() else 0
    with selectors.DefaultSelector() as selector:
        selector.register(ws.fileno(), selectors.EVENT_READ)
        while runtime.is_running(namespace, name, container):
            if (ws.has_buffered() or selector.select(FOLLOW_POLL)) and ws.receive() is None:
                return
            offset, text = _read_from(path, offset)
            if text:
                lines = "".join(entry.render(timestamps=False) for entry in parse_log(text))
                ws.send_binary(bytes([STDOUT]) + lines.encode())
    ws.send_binary(bytes([ERROR]) + json.dumps({"metadata": {}, "status": "Success"}).encode())
    ws.close()


# -- logs -------------------------------------------------------------------------------------


class LogEntry:
    """One line of a CRI log file."""

    def __init__(self, timestamp: str, content: str, partial: bool) -> None:
        self.timestamp = timestamp
        self.content = content
        self.partial = partial

    def render(self, *, timestamps: bool) -> str:
        """The line as ``kubectl logs`` prints it."""
        text = self.content if self.partial else self.content + "\n"
        return f"{self.timestamp} {text}" if timestamps else text

    def epoch(self) -> float:
        """Seconds since the epoch of the line's timestamp."""
        return time.mktime(time.strptime(self.timestamp[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone


def parse_log(text: str) -> list[LogEntry]:
    """Entries of CRI log text (``<ts> <stream> <F|P> <content>`` per line)."""
    entries = []
    for line in text.splitlines():
        timestamp, content, partial = parse_cri_line(line)
        if timestamp:
            entries.append(LogEntry(timestamp, content, partial))
    return entries


def _read_from(path: Any, offset: int) -> tuple[int, str]:
    """Complete lines appended to ``path`` since ``offset``: (new offset, text)."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read()
    except OSError:
        return offset, ""
    complete = data[: data.rfind(b"\n") + 1]
    return offset + len(complete), complete.decode("utf-8", errors="replace")


def select_entries(entries: list[LogEntry], query: dict[str, list[str]]) -> list[LogEntry]:
    """Apply ``sinceSeconds`` or ``sinceTime`` (RFC 3339), then ``tailLines``."""
    since = _param(query, "sinceSeconds")
    since_time = _param(query, "sinceTime")
    cutoff = None
    if since:
        cutoff = time.time() - int(since)
    elif since_time:
        with contextlib.suppress(ValueError):  # kubectl checks the format before it asks
            cutoff = dt.datetime.fromisoformat(since_time.replace("Z", "+00:00")).timestamp()
    if cutoff is not None:
        entries = [e for e in entries if e.epoch() >= cutoff]
    tail = _param(query, "tailLines")
    if tail:
        count = int(tail)
        entries = entries[-count:] if count > 0 else []
    return entries


def _log_source(
    runtime: PodRuntime, pod: dict[str, Any], query: dict[str, list[str]]
) -> tuple[str, Any]:
    """The container and its log path, or the API server's error."""
    namespace, name = pod_key(pod)
    container = pick_container(pod, _param(query, "container"))
    if _flag(query, "previous"):
        return container, _previous_log(runtime, pod, container)
    path = runtime.log_path(namespace, name, container)
    if runtime.sandbox(namespace, name) is None and not path.exists():
        message = f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
        raise StatusError(400, "BadRequest", message)
    return container, path


def _previous_log(runtime: PodRuntime, pod: dict[str, Any], container: str) -> Any:
    """The log of the container's last ended instance (``lastState.terminated``).

    While it waits to restart (CrashLoopBackOff) that instance's log is still the current
    file; once the next instance runs, it was rotated to the previous one.
    """
    namespace, name = pod_key(pod)
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    status: dict[str, Any] = next((cs for cs in statuses if cs.get("name") == container), {})
    ended = ((status.get("lastState") or {}).get("terminated") or {}).get("containerID")
    previous = getattr(runtime, "previous_log_path", None)
    if ended and previous is not None:
        running = "running" in (status.get("state") or {})
        path = previous(namespace, name, container) if running else None
        path = path or runtime.log_path(namespace, name, container)
        if path.exists():
            return path
    message = f'previous terminated container "{container}" in pod "{name}" not found'
    raise StatusError(400, "BadRequest", message)


def handle_log(
    handler: Any, runtime: PodRuntime, pod: dict[str, Any], query: dict[str, list[str]]
) -> None:
    """``pods/NAME/log``: the container's output as text/plain, chunked while following."""
    try:
        container, path = _log_source(runtime, pod, query)
        tail_ok = not _param(query, "tailLines") or int(_param(query, "tailLines")) >= 0
        if not tail_ok:
            raise StatusError(422, "Invalid", "tailLines: Invalid value: must be >= 0")
    except StatusError as error:
        send_status(handler, error)
        return
    except ValueError:
        send_status(handler, StatusError(400, "BadRequest", "invalid log options"))
        return
    offset, text = _read_from(path, 0)
    timestamps = _flag(query, "timestamps")
    body = "".join(e.render(timestamps=timestamps) for e in select_entries(parse_log(text), query))
    limit = _param(query, "limitBytes")
    # a previous container has ended: nothing to follow
    follow = _flag(query, "follow") and not limit and not _flag(query, "previous")
    writer = _BodyWriter(handler, follow=follow)
    writer.write(body.encode()[: int(limit)] if limit else body.encode())
    if follow:
        for chunk in _follow(runtime, pod, container, path, offset):
            if not writer.write("".join(e.render(timestamps=timestamps) for e in chunk).encode()):
                return
    writer.end()


def _follow(
    runtime: PodRuntime, pod: dict[str, Any], container: str, path: Any, offset: int
) -> Iterator[list[LogEntry]]:
    """New entries as they are written, until the container stops."""
    namespace, name = pod_key(pod)
    while True:
        running = runtime.is_running(namespace, name, container)
        offset, text = _read_from(path, offset)
        yield parse_log(text)
        if not running:
            return
        time.sleep(FOLLOW_POLL)


class _BodyWriter:
    """Writes a text/plain body: chunked when following over HTTP/1.1, else one piece."""

    def __init__(self, handler: Any, *, follow: bool) -> None:
        self.handler = handler
        self.follow = follow
        self.chunked = follow and handler.request_version == "HTTP/1.1"
        self.failed = False
        self.started = False

    def _start(self, first: bytes) -> None:
        handler = self.handler
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        if self.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        elif not self.follow:
            handler.send_header("Content-Length", str(len(first)))
        handler.end_headers()
        self.started = True

    def write(self, data: bytes) -> bool:
        """Send data; False once the client is gone."""
        if self.failed:
            return False
        if not self.started:
            self._start(data)
        if not data:
            return self._alive()
        try:
            if self.chunked:
                self.handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            else:
                self.handler.wfile.write(data)
            self.handler.wfile.flush()
        except OSError:
            self.failed = True
        return not self.failed

    def _alive(self) -> bool:
        """Probe the client: a readable socket with nothing to read means it hung up."""
        sock = self.handler.connection
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            if not selector.select(0):
                return True
        try:
            sock.setblocking(False)
            gone = sock.recv(1) == b""
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            gone = False
        except OSError:
            gone = True
        finally:
            sock.setblocking(True)
        self.failed = gone
        return not gone

    def end(self) -> None:
        """Finish the body."""
        if not self.started:
            self._start(b"")
        if self.chunked and not self.failed:
            try:
                self.handler.wfile.write(b"0\r\n\r\n")
            except OSError:
                self.failed = True
        if self.follow and not self.chunked:
            self.handler.close_connection = True


# -- proxy ------------------------------------------------------------------------------------


def default_port(pod: dict[str, Any]) -> int:
    """The port of ``pods/NAME/proxy`` without ``:PORT``: the first container port, else 80."""
    for container in pod.get("spec", {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("containerPort"):
                return int(port["containerPort"])
    return 80


def handle_pod_proxy(
    handler: Any, runtime: PodRuntime, pod: dict[str, Any], port: int | None, subpath: str
) -> None:
    """``pods/NAME[:PORT]/proxy/PATH``: relay the HTTP request to the pod and its answer back."""
    namespace, name = pod_key(pod)
    target_port = port or default_port(pod)
    body = _request_body(handler)
    try:
        host, mapped = runtime.target(namespace, name, target_port)
        sock = runtime.connect(namespace, name, target_port)
    except OSError as exc:
        send_status(handler, _dial_error(runtime, namespace, name, target_port, exc))
        return
    query = handler.path.partition("?")[2]
    path = "/" + subpath.lstrip("/") + (f"?{query}" if query else "")
    connection = http.client.HTTPConnection(host, mapped, timeout=30)
    connection.sock = sock
    try:
        connection.request(
            handler.command, path, body=body, headers=_forward_headers(handler, host, mapped)
        )
        response = connection.getresponse()
        payload = response.read()
    except (OSError, http.client.HTTPException) as exc:
        send_status(
            handler, StatusError(503, "ServiceUnavailable", f"error trying to reach service: {exc}")
        )
        return
    finally:
        connection.close()
    _relay_response(handler, response, payload)


def _request_body(handler: Any) -> bytes | None:
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else None


def _forward_headers(handler: Any, host: str, port: int) -> dict[str, str]:
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
    headers["Host"] = f"{host}:{port}"
    headers["Connection"] = "close"
    return headers


def _relay_response(handler: Any, response: http.client.HTTPResponse, payload: bytes) -> None:
    handler.send_response(response.status, response.reason)
    for key, value in response.getheaders():
        if key.lower() not in HOP_BY_HOP and key.lower() not in ("date", "server"):
            handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(payload)


def _dial_error(
    runtime: PodRuntime, namespace: str, name: str, port: int, exc: OSError
) -> StatusError:
    """The 503 a real API server gives when it cannot reach the pod."""
    sandbox = runtime.sandbox(namespace, name)
    if sandbox is None:
        return StatusError(503, "ServiceUnavailable", f'pod "{name}" is not running')
    host = sandbox.pod_ip
    cause = "connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc).lower()
    message = f"error trying to reach service: dial tcp {host}:{port}: connect: {cause}"
    return StatusError(503, "ServiceUnavailable", message)


# -- port-forward -----------------------------------------------------------------------------


def handle_portforward(
    handler: Any, runtime: PodRuntime, pod: dict[str, Any], query: dict[str, list[str]]
) -> None:
    """``pods/NAME/portforward``: SPDY/3.1 tunnelled over WebSocket (``portforward.py``)."""
    from labtools.testing.apiserver import portforward

    if not is_upgrade_request(handler.headers):
        upgrade = handler.headers.get("Upgrade") or ""
        message = "Upgrade request required"
        if upgrade.upper().startswith("SPDY"):
            message = (
                "the fake API server forwards ports only over WebSocket "
                f"({portforward.PROTOCOL}); SPDY is not supported: unset "
                "KUBECTL_PORT_FORWARD_WEBSOCKETS"
            )
        send_status(handler, StatusError(400, "BadRequest", message))
        return
    ws = WebSocket.accept(handler, [portforward.PROTOCOL])
    if ws is None:
        message = f"unable to negotiate a port-forward subprotocol ({portforward.PROTOCOL})"
        send_status(handler, StatusError(400, "BadRequest", message))
        return
    portforward.Session(ws, runtime, pod).run()
