"""A small RFC 6455 WebSocket server side, enough for kubectl's exec/attach/port-forward streams.

The connection is driven from one thread (select on the socket, then ``receive``), because an
``ssl.SSLSocket`` must not be read and written from two threads at once. ``encode_frame`` and
``decode_frame`` are pure and also serve the tests as a client-side codec.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
from dataclasses import dataclass
from typing import Any

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
MAX_MESSAGE = 64 * 1024 * 1024


class WebSocketError(Exception):
    """The peer broke the WebSocket protocol (bad frame, bad handshake)."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame."""

    fin: bool
    opcode: int
    payload: bytes


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = False) -> bytes:
    """Encode one frame; clients must set ``mask`` (RFC 6455 5.3), servers must not."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask else 0
    length = len(payload)
    if length < 126:
        head.append(mask_bit | length)
    elif length < 1 << 16:
        head.append(mask_bit | 126)
        head += struct.pack("!H", length)
    else:
        head.append(mask_bit | 127)
        head += struct.pack("!Q", length)
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    return bytes(head) + key + _apply_mask(payload, key)


def _apply_mask(payload: bytes, key: bytes) -> bytes:
    """XOR the payload with the 4-byte key (fast path through int arithmetic)."""
    if not payload:
        return b""
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(payload), "big")


def decode_frame(buffer: bytes | bytearray) -> tuple[Frame, int] | None:
    """Decode the first frame of ``buffer``: (frame, bytes used), or None if it is incomplete."""
    if len(buffer) < 2:
        return None
    first, second = buffer[0], buffer[1]
    if first & 0x70:
        raise WebSocketError("reserved bits set without a negotiated extension")
    length = second & 0x7F
    pos = 2
    if length == 126:
        if len(buffer) < 4:
            return None
        length = struct.unpack("!H", buffer[2:4])[0]
        pos = 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        length = struct.unpack("!Q", buffer[2:10])[0]
        pos = 10
    if length > MAX_MESSAGE:
        raise WebSocketError(f"frame too large: {length} bytes")
    masked = bool(second & 0x80)
    key = b""
    if masked:
        if len(buffer) < pos + 4:
            return None
        key = bytes(buffer[pos : pos + 4])
        pos += 4
    if len(buffer) < pos + length:
        return None
    payload = bytes(buffer[pos : pos + length])
    if masked:
        payload = _apply_mask(payload, key)
    return Frame(bool(first & 0x80), first & 0x0F, payload), pos + length


def requested_protocols(headers: Any) -> list[str]:
    """The subprotocols a client offers, in its order of preference."""
    offered: list[str] = []
    for value in headers.get_all("Sec-WebSocket-Protocol") or []:
        offered += [item.strip() for item in value.split(",") if item.strip()]
    return offered


def is_upgrade_request(headers: Any) -> bool:
    """True when the request asks for a WebSocket upgrade."""
    upgrade = (headers.get("Upgrade") or "").lower()
    connection = (headers.get("Connection") or "").lower()
    return upgrade == "websocket" and "upgrade" in connection


class WebSocket:
    """The server end of an upgraded connection. Use from one thread only."""

    def __init__(self, sock: socket.socket, protocol: str, initial: bytes = b"") -> None:
        self.sock = sock
        self.protocol = protocol
        self.closed = False
        self._buffer = bytearray(initial)
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0

    @classmethod
    def accept(cls, handler: Any, supported: list[str]) -> WebSocket | None:
        """Answer the handshake on ``handler``; None (after a 400) when no protocol fits."""
        key = handler.headers.get("Sec-WebSocket-Key")
        offered = requested_protocols(handler.headers)
        chosen = next((p for p in offered if p in supported), None)
        if not key or chosen is None:
            return None
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept_key(key)}",
            f"Sec-WebSocket-Protocol: {chosen}",
        ]
        sock: socket.socket = handler.connection
        sock.settimeout(None)  # streams live as long as the command; no server read timeout
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
        handler.close_connection = True
        return cls(sock, chosen, _drain_buffered(handler))

    def fileno(self) -> int:
        """The socket's descriptor, for select()."""
        return self.sock.fileno()

    def has_buffered(self) -> bool:
        """True when TLS already decrypted bytes that select() cannot see."""
        pending = getattr(self.sock, "pending", None)
        return bool(pending and pending())

    def receive(self) -> list[tuple[int, bytes]] | None:
        """Read once from the socket; complete data messages, or None once the peer is gone."""
        try:
            data = self.sock.recv(65536)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self.closed = True
            return None
        self._buffer += data
        return self._parse_buffer()

    def _parse_buffer(self) -> list[tuple[int, bytes]] | None:
        """Decode every complete frame in the buffer; answer control frames on the spot."""
        messages: list[tuple[int, bytes]] = []
        while not self.closed:
            decoded = decode_frame(self._buffer)
            if decoded is None:
                break
            frame, used = decoded
            del self._buffer[:used]
            message = self._on_frame(frame)
            if message is not None:
                messages.append(message)
        if self.closed and not messages:
            return None
        return messages

    def _on_frame(self, frame: Frame) -> tuple[int, bytes] | None:
        """Handle one frame: control frames here, data frames (re)assembled into messages."""
        if frame.opcode == OP_PING:
            self._send(OP_PONG, frame.payload)
            return None
        if frame.opcode == OP_PONG:
            return None
        if frame.opcode == OP_CLOSE:
            self.close(CLOSE_NORMAL)
            return None
        if frame.opcode == OP_CONTINUATION:
            self._fragments.append(frame.payload)
        else:
            self._fragment_opcode = frame.opcode
            self._fragments = [frame.payload]
        if not frame.fin:
            return None
        message = (self._fragment_opcode, b"".join(self._fragments))
        self._fragments = []
        return message

    def send_binary(self, payload: bytes) -> None:
        """Send one binary message."""
        self._send(OP_BINARY, payload)

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.closed:
            return
        try:
            self.sock.sendall(encode_frame(opcode, payload))
        except OSError:
            self.closed = True

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Send a close frame (once) and mark the connection closed."""
        if not self.closed:
            self._send(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:120])
        self.closed = True


def _drain_buffered(handler: Any) -> bytes:
    """Bytes the request handler's buffered reader already pulled past the headers."""
    rfile = handler.rfile
    sock = handler.connection
    sock.setblocking(False)
    try:
        data: bytes = rfile.peek(65536)
    except (OSError, ValueError):
        data = b""
    finally:
        sock.setblocking(True)
    if data:
        rfile.read(len(data))
    return data
