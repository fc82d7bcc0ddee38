"""kube-proxy's NodePort part for the fake node: ``127.0.0.1:<nodePort>`` forwards to a Ready pod.

For every port of a ``NodePort`` or ``LoadBalancer`` Service the fake API server listens on
``127.0.0.1:<nodePort>`` (TCP) while the Service exists. Each accepted connection goes to one Ready
endpoint of the Service (round robin over the Endpoints object's addresses) through the pod
runtime's ``connect``, so it reaches the pod's own network namespace. A connection with no Ready
endpoint, or whose pod refuses, is closed at once (kube-proxy rejects it).

The listeners follow the Service: created with it, moved when its ``nodePort`` changes, closed when
it is deleted and when the server stops. A port that cannot be bound (another profile's server
holds it) is logged and skipped; the Service still exists, like a real one whose port is
unreachable from here.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from . import resources as R
from .store import Obj, Store

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")
CONNECT_TIMEOUT = 5.0
CHUNK = 65536

# (namespace, service, service port name, nodePort): one listener each
ListenerKey = tuple[str, str, str, int]
Backend = tuple[str, str, int]  # pod namespace, pod name, target port


def wanted_ports(svc: Obj) -> dict[ListenerKey, None]:
    """The node ports a Service asks for, keyed by (namespace, name, port name, nodePort)."""
    spec = svc.get("spec") or {}
    meta = svc.get("metadata") or {}
    if spec.get("type") not in NODE_PORT_TYPES or meta.get("deletionTimestamp"):
        return {}
    ns, name = meta.get("namespace") or "default", meta["name"]
    return {
        (ns, name, str(p.get("name") or ""), int(p["nodePort"])): None
        for p in spec.get("ports") or []
        if p.get("nodePort") and (p.get("protocol") or "TCP") == "TCP"
    }


def ready_backends(endpoints: Obj | None, port_name: str) -> list[Backend]:
    """Ready pods of an Endpoints object and the port of ``port_name`` on them."""
    backends: list[Backend] = []
    for subset in (endpoints or {}).get("subsets") or []:
        ports = subset.get("ports") or []
        port = next((p for p in ports if (p.get("name") or "") == port_name), None)
        if port is None and len(ports) == 1:
            port = ports[0]
        if port is None or not port.get("port"):
            continue
        for address in subset.get("addresses") or []:
            ref = address.get("targetRef") or {}
            if ref.get("kind") == "Pod" and ref.get("name"):
                backends.append((ref.get("namespace") or "default", ref["name"], int(port["port"])))
    return backends


@dataclass
class Listener:
    """One listening socket on a node port and the thread that accepts on it."""

    key: ListenerKey
    sock: socket.socket
    thread: threading.Thread | None = None
    turn: itertools.count[int] = field(default_factory=itertools.count)

    def close(self) -> None:
        """Stop listening now: shutdown wakes the blocked ``accept`` (close alone does not)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class NodePorts:
    """The node ports of every Service in a store, forwarded through a pod runtime."""

    def __init__(self, store: Store, runtime: Any, host: str = HOST) -> None:
        self.store = store
        self.runtime = runtime
        self.host = host
        self._listeners: dict[ListenerKey, Listener] = {}
        self._failed: set[ListenerKey] = set()
        self._conns: set[socket.socket] = set()
        self._lock = threading.RLock()
        self._closed = False

    # -- following the Services --------------------------------------------------------------

    def attach(self) -> None:
        """Follow the store's Service events and open the ports of the Services already there."""
        self.store.on_change.append(self.on_change)
        self.sync()

    def on_change(self, key: tuple[str, str], kind: str, obj: Obj) -> None:
        """A store event: re-sync the listeners of that one Service."""
        if key != R.SERVICE.key:
            return
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace") or "default", meta.get("name", "")
        self._sync_service(ns, name, {} if kind == "DELETED" else wanted_ports(obj))

    def sync(self) -> None:
        """Make the listeners match every Service in the store."""
        wanted: dict[ListenerKey, None] = {}
        for svc in self.store.list(R.SERVICE.key):
            wanted.update(wanted_ports(svc))
        with self._lock:
            stale = [k for k in self._listeners if k not in wanted]
        self._apply(stale, list(wanted))

    def _sync_service(self, ns: str, name: str, wanted: dict[ListenerKey, None]) -> None:
        with self._lock:
            current = [k for k in self._listeners if k[:2] == (ns, name)]
            self._failed = {k for k in self._failed if k[:2] != (ns, name) or k in wanted}
        self._apply([k for k in current if k not in wanted], list(wanted))

    def _apply(self, stale: list[ListenerKey], wanted: list[ListenerKey]) -> None:
        with self._lock:
            for key in stale:
                self._listeners.pop(key).close()
            for key in wanted:
                if key not in self._listeners and key not in self._failed and not self._closed:
                    self._open(key)

    def _open(self, key: ListenerKey) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, key[3]))
            sock.listen(64)
        except OSError as exc:
            sock.close()
            self._failed.add(key)  # warn once per Service port, not on every Service event
            log.warning(
                "service %s/%s: cannot listen on %s:%d for its node port (%s); "
                "it stays unreachable from this machine",
                key[0],
                key[1],
                self.host,
                key[3],
                exc.strerror or exc,
            )
            return
        listener = Listener(key, sock)
        listener.thread = threading.Thread(
            target=self._accept_loop, args=(listener,), daemon=True, name=f"nodeport-{key[3]}"
        )
        self._listeners[key] = listener
        listener.thread.start()

    def ports(self) -> list[int]:
        """The node ports listened on now (sorted)."""
        with self._lock:
            return sorted(k[3] for k in self._listeners)

    def close(self) -> None:
        """Stop every listener and drop every forwarded connection (server stop)."""
        with self._lock:
            self._closed = True
            listeners = list(self._listeners.values())
            self._listeners.clear()
            conns = list(self._conns)
        for listener in listeners:
            listener.close()
        for conn in conns:
            _close(conn)
        for listener in listeners:
            if listener.thread is not None:
                listener.thread.join(timeout=2)
        with contextlib.suppress(ValueError):
            self.store.on_change.remove(self.on_change)

    # -- forwarding --------------------------------------------------------------------------

    def _accept_loop(self, listener: Listener) -> None:
        while True:
            try:
                client, _ = listener.sock.accept()
            except OSError:
                return  # closed
            threading.Thread(
                target=self._forward, args=(listener, client), daemon=True, name="nodeport-conn"
            ).start()

    def _forward(self, listener: Listener, client: socket.socket) -> None:
        upstream = self._dial(listener)
        if upstream is None:
            _close(client)  # no Ready endpoint or the pod refused: like kube-proxy's reject
            return
        if not self._track(client, upstream):
            return
        try:
            relay(client, upstream)
        finally:
            with self._lock:
                self._conns.difference_update((client, upstream))

    def _track(self, *socks: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                for sock in socks:
                    _close(sock)
                return False
            self._conns.update(socks)
            return True

    def _dial(self, listener: Listener) -> socket.socket | None:
        ns, name, port_name, _ = listener.key
        backends = ready_backends(self.store.get(R.ENDPOINTS.key, ns, name), port_name)
        if not backends:
            return None
        pod_ns, pod, port = backends[next(listener.turn) % len(backends)]
        try:
            sock: socket.socket = self.runtime.connect(pod_ns, pod, port, CONNECT_TIMEOUT)
        except OSError as exc:
            log.info(
                "node port %d: %s/%s:%d unreachable: %s", listener.key[3], pod_ns, pod, port, exc
            )
            return None
        return sock


def relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until both sides are done; half-closes are passed on."""
    other = threading.Thread(target=_pump, args=(b, a), daemon=True, name="nodeport-pump")
    other.start()
    _pump(a, b)
    other.join()
    _close(a)
    _close(b)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
    except OSError:
        # one side is gone: end both directions so the other pump stops too
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


__all__ = ["Listener", "NodePorts", "ready_backends", "relay", "wanted_ports"]
