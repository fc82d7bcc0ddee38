"""``pods/NAME/portforward``: SPDY/3.1 tunnelled over a WebSocket, as kubectl v1.32 speaks it.

kubectl v1.31+ dials port-forward through a WebSocket whose subprotocol is
``SPDY/3.1+portforward.k8s.io`` (client-go `tools/portforward/tunneling_dialer.go`): the binary
messages carry a SPDY/3.1 byte stream (moby/spdystream `spdy/read.go`, `spdy/write.go`). For each
local connection kubectl opens two streams with the headers `streamtype` (`error`, then `data`),
`port` and `requestid`, and waits for their SYN_REPLY. The server side, as the kubelet's
`pkg/kubelet/cri/streaming/portforward/httpstream.go` does it: when both streams of a request are
there it connects to the pod's port and copies bytes both ways; when the pod side ends it closes
the data stream, then the error stream (empty: no error). A port that refuses writes
``error forwarding port P to pod ID, uid : ...`` on the error stream, which kubectl logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import selectors
import socket
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from labtools.testing.apiserver.pods import PodRuntime, pod_key
from labtools.testing.apiserver.websocket import WebSocket

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1,
    2,
    3,
    4,
    6,
    7,
    8,
    9,
)
FLAG_FIN = 0x01
CHUNK = 32 * 1024

# The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00 section 2.6.10.1):
# length-prefixed header names and values, then a tail of common value fragments.
_WORDS = [
    *str.split(
        "options head post put delete trace accept accept-charset accept-encoding"
        " accept-language accept-ranges age allow authorization cache-control connection"
        " content-base content-encoding content-language content-length content-location"
        " content-md5 content-range content-type date etag expect expires from host if-match"
        " if-modified-since if-none-match if-range if-unmodified-since last-modified location"
        " max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after"
        " server te trailer transfer-encoding upgrade user-agent vary via warning"
        " www-authenticate method get status"
    ),
    *("200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"),
]
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack("!I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


class ProtocolError(Exception):
    """The peer sent bytes that are not SPDY/3.1 as spdystream writes it."""


@dataclass
class Request:
    """One forwarded connection: its error and data streams and the socket to the pod."""

    port: int
    error: int = 0
    data: int = 0
    sock: socket.socket | None = None
    ended: bool = False


@dataclass
class Session:
    """The SPDY side of one port-forward WebSocket; one thread drives it."""

    ws: WebSocket
    runtime: PodRuntime
    pod: dict[str, Any]
    inflate: Any = field(default_factory=lambda: zlib.decompressobj(zdict=DICTIONARY))
    deflate: Any = field(default_factory=lambda: zlib.compressobj(9, zdict=DICTIONARY))
    buffer: bytearray = field(default_factory=bytearray)
    requests: dict[str, Request] = field(default_factory=dict)
    by_stream: dict[int, str] = field(default_factory=dict)
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    done: bool = False

    # ---- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        """Relay until kubectl goes away (Ctrl-C, or the end of its command)."""
        self.selector.register(self.ws.sock, selectors.EVENT_READ, None)
        try:
            while not self.done:
                timeout = 0 if self.ws.has_buffered() else 1.0
                for key, _ in self.selector.select(timeout):
                    if key.data is None:
                        self._on_client()
                    else:
                        self._on_pod(key.data)
                if self.ws.has_buffered():
                    self._on_client()
        finally:
            for request in self.requests.values():
                self._close_pod(request)
            self.selector.close()
            self.ws.close()

    def _on_client(self) -> None:
        messages = self.ws.receive()
        if messages is None:
            self.done = True
            return
        for _, payload in messages:
            self.buffer += payload
        try:
            while self._next_frame():
                pass
        except ProtocolError:
            self.done = True

    def _next_frame(self) -> bool:
        """Handle one complete frame from the buffer; False when more bytes are needed."""
        if len(self.buffer) < 8:
            return False
        first, flags_length = struct.unpack_from("!II", self.buffer)
        length = flags_length & 0xFFFFFF
        if len(self.buffer) < 8 + length:
            return False
        flags = flags_length >> 24
        body = bytes(self.buffer[8 : 8 + length])
        del self.buffer[: 8 + length]
        if first & 0x80000000:
            self._control(first & 0xFFFF, flags, body)
        else:
            self._data(first & 0x7FFFFFFF, flags, body)
        return True

    # ---- frames from kubectl --------------------------------------------------------------
    def _control(self, kind: int, flags: int, body: bytes) -> None:
        if kind == SYN_STREAM:
            stream_id = struct.unpack_from("!I", body)[0] & 0x7FFFFFFF
            headers = self._headers(body[10:])
            self._send_control(SYN_REPLY, 0, struct.pack("!I", stream_id) + self._block({}))
            self._on_stream(stream_id, headers, flags)
        elif kind == PING:
            self._send_control(PING, 0, body[:4])
        elif kind == RST_STREAM:
            stream_id = struct.unpack_from("!I", body)[0] & 0x7FFFFFFF
            request = self.requests.get(self.by_stream.get(stream_id, ""))
            if request is not None:
                self._close_pod(request)
        elif kind == GOAWAY:
            self.done = True
        # SETTINGS, HEADERS and WINDOW_UPDATE change nothing here (spdystream ignores windows)

    def _headers(self, block: bytes) -> dict[str, str]:
        try:
            raw = self.inflate.decompress(block)
        except zlib.error as exc:
            raise ProtocolError(str(exc)) from None
        count = struct.unpack_from("!I", raw)[0]
        offset, headers = 4, {}
        for _ in range(count):
            (size,) = struct.unpack_from("!I", raw, offset)
            name = raw[offset + 4 : offset + 4 + size].decode()
            offset += 4 + size
            (size,) = struct.unpack_from("!I", raw, offset)
            headers[name] = raw[offset + 4 : offset + 4 + size].decode()
            offset += 4 + size
        return headers

    def _on_stream(self, stream_id: int, headers: dict[str, str], flags: int) -> None:
        key = headers.get("requestid", str(stream_id))
        port = headers.get("port", "")
        request = self.requests.setdefault(key, Request(int(port) if port.isdigit() else 0))
        self.by_stream[stream_id] = key
        if headers.get("streamtype") == "error":
            request.error = stream_id
        elif headers.get("streamtype") == "data":
            request.data = stream_id
        if request.error and request.data and request.sock is None and not request.ended:
            self._connect(request)

    def _data(self, stream_id: int, flags: int, body: bytes) -> None:
        request = self.requests.get(self.by_stream.get(stream_id, ""))
        if request is None or stream_id != request.data or request.sock is None:
            return  # the error stream carries nothing from kubectl (it closes it at once)
        try:
            if body:
                request.sock.sendall(body)
            if flags & FLAG_FIN:
                request.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._finish(request)

    # ---- the pod side ---------------------------------------------------------------------
    def _connect(self, request: Request) -> None:
        namespace, name = pod_key(self.pod)
        try:
            request.sock = self.runtime.connect(namespace, name, request.port, timeout=5)
        except OSError as exc:
            self._fail(request, exc)
            return
        request.sock.setblocking(True)
        self.selector.register(request.sock, selectors.EVENT_READ, request)

    def _fail(self, request: Request, exc: OSError) -> None:
        """What the kubelet writes on the error stream when the pod's port cannot be reached."""
        reason = "Connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc)
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime())
        # the kubelet names the CRI sandbox (a 64-hex id), not the pod, and an empty uid
        pod_id = hashlib.sha256(str(self.pod["metadata"].get("uid")).encode()).hexdigest()
        message = (
            f"error forwarding port {request.port} to pod {pod_id}, uid : exit status 1: "
            f"{stamp} socat[{request.port}] E connect(5, AF=2 127.0.0.1:{request.port}, 16): "
            f"{reason}\n"
        )
        self._send_data(request.error, message.encode(), fin=False)
        self._finish(request)

    def _on_pod(self, request: Request) -> None:
        assert request.sock is not None
        try:
            chunk = request.sock.recv(CHUNK)
        except OSError:
            chunk = b""
        if chunk:
            self._send_data(request.data, chunk, fin=False)
        else:
            self._finish(request)

    def _finish(self, request: Request) -> None:
        """The pod side ended: FIN on the data stream, then on the error stream (no error)."""
        if request.ended:
            return
        request.ended = True
        self._close_pod(request)
        self._send_data(request.data, b"", fin=True)
        self._send_data(request.error, b"", fin=True)

    def _close_pod(self, request: Request) -> None:
        if request.sock is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(request.sock)
        request.sock.close()
        request.sock = None

    # ---- frames to kubectl ----------------------------------------------------------------
    def _block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack("!I", len(headers))
        for name, value in headers.items():
            raw += struct.pack("!I", len(name)) + name.encode()
            raw += struct.pack("!I", len(value)) + value.encode()
        compressed: bytes = self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        return compressed

    def _send_control(self, kind: int, flags: int, body: bytes) -> None:
        head = struct.pack("!HHI", 0x8000 | VERSION, kind, flags << 24 | len(body))
        self.ws.send_binary(head + body)

    def _send_data(self, stream_id: int, payload: bytes, *, fin: bool) -> None:
        if not stream_id:
            return
        flags = FLAG_FIN if fin else 0
        head = struct.pack("!II", stream_id & 0x7FFFFFFF, flags << 24 | len(payload))
        self.ws.send_binary(head + payload)
