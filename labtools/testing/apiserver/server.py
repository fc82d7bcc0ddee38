"""HTTP(S) front of the fake API server: routing, content negotiation, watch streams."""

from __future__ import annotations

import json
import logging
import queue
import socket
import ssl
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import admin, discovery, hpa, openapiv2
from . import resources as R
from .api import WriteOptions
from .events import from_core, to_core
from .status import ApiError, method_not_allowed, not_found_path
from .store import Gone, Obj
from .tables import to_table

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger(__name__)

VERSION_KEYS = (
    "major",
    "minor",
    "gitVersion",
    "gitCommit",
    "gitTreeState",
    "buildDate",
    "goVersion",
    "compiler",
    "platform",
)


@dataclass
class ServerConfig:
    """Settings shared by handlers."""

    version: str = "v1.32.0"
    node_name: str = "minikube"
    advertise: str = "192.168.49.2:8443"


def prefix_from_user_agent(agent: str) -> str:
    """The field manager of a write without fieldManager (handlers/rest.go prefixFromUserAgent)."""
    prefix = agent.split("/", 1)[0]
    return "".join(ch for ch in prefix if ch.isprintable())[:128]


def version_info(version: str) -> Obj:
    """`/version` body with keys in the real order."""
    core = version.lstrip("v").split("-")[0].split(".")
    return {
        "major": core[0],
        "minor": core[1] if len(core) > 1 else "0",
        "gitVersion": version,
        "gitCommit": "70d3cc986aa8221cd1dfb1121852688902d3bf53",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T17:59:15Z",
        "goVersion": "go1.23.3",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


@dataclass
class Target:
    """A parsed resource URL."""

    res: R.Resource
    namespace: str | None
    name: str
    sub: str
    rest: str
    events_v1: bool = False
    hpa_v1: bool = False


class Handler(BaseHTTPRequestHandler):
    """One HTTP request against the fake API."""

    protocol_version = "HTTP/1.1"
    server: FakeHTTPServer
    _cached_body: bytes | None = None
    _user: Any = None  # the authenticated (or impersonated) UserInfo of the current request
    # warnings every answer to the current request carries (deprecated kinds)
    _deprecations: tuple[str, ...] = ()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # ---- plumbing ----------------------------------------------------------------------
    @property
    def app(self) -> App:
        return self.server.app

    def _query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

    def _q(self, name: str, default: str = "") -> str:
        return self._query().get(name, [default])[0]

    def _body(self) -> bytes:
        cached = self._cached_body
        if cached is None:
            cached = self._read_body()
            self._cached_body = cached
        return cached

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def send_json(self, code: int, body: Any, warnings: list[str] | None = None) -> None:
        """Answer with a JSON body."""
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        for warning in [*self._deprecations, *(warnings or [])]:
            self.send_header("Warning", '299 - "' + warning.replace('"', '\\"') + '"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_text(self, code: int, text: str) -> None:
        """Answer with a text/plain body."""
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self) -> None:
        self._cached_body = None
        self._deprecations = ()
        try:
            if admin.intercept(self):  # the test-only /_fake endpoint and injected faults
                return
            self._route()
        except ApiError as err:
            # an unread request body would corrupt the next request on this keep-alive
            # connection
            self._body()
            self.send_json(err.code, err.status())
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except Exception as exc:  # the client must see a Status, not a dropped connection
            log.exception("internal error")
            internal = ApiError(500, "InternalError", f"Internal error occurred: {exc}", {})
            try:
                self.send_json(500, internal.status())
            except OSError:
                self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    # ---- routing -----------------------------------------------------------------------
    def _route(self) -> None:
        # authentication, impersonation and authorization come before routing (authz.py)
        self._user = self.app.guard.check(self)
        path = urlsplit(self.path).path.rstrip("/") or "/"
        if self._simple(path):
            return
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise not_found_path()
        if not rest:
            doc = discovery.resource_list(group, version)
            if doc is None:
                raise not_found_path()
            self.send_json(200, doc)
            return
        target = self._target(group, version, rest)
        self._resource(target)

    def _simple(self, path: str) -> bool:
        if path == "/version":
            self.send_json(200, version_info(self.app.config.version))
        elif path in ("/healthz", "/readyz", "/livez") or path.startswith(
            ("/healthz/", "/readyz/", "/livez/")
        ):
            self.send_text(200, "ok")
        elif path == "/api":
            self.send_json(200, discovery.api_versions(self.app.config.advertise))
        elif path == "/apis":
            self.send_json(200, discovery.api_groups())
        elif path.startswith("/apis/") and path.count("/") == 2:
            doc = discovery.api_group(path.split("/")[2])
            if doc is None:
                raise not_found_path()
            self.send_json(200, doc)
        elif path == "/openapi/v2":
            self._openapi_v2()
        elif path == "/openapi/v3":
            self.send_json(200, discovery.openapi_root())
        elif path.startswith("/openapi/v3/"):
            rest = path[len("/openapi/v3/") :].split("/")
            doc = None
            if rest[0] == "api" and len(rest) == 2:
                doc = discovery.openapi_group("", rest[1])
            elif rest[0] == "apis" and len(rest) == 3:
                doc = discovery.openapi_group(rest[1], rest[2])
            if doc is None:
                raise not_found_path()
            self.send_json(200, doc)
        elif path == "/":
            self.send_json(
                200,
                {
                    "paths": [
                        "/api",
                        "/api/v1",
                        "/apis",
                        "/healthz",
                        "/livez",
                        "/openapi/v2",
                        "/openapi/v3",
                        "/readyz",
                        "/version",
                    ]
                },
            )
        else:
            return False
        return True

    def _openapi_v2(self) -> None:
        """Swagger 2.0: gnostic protobuf when asked for (client-go always is), else JSON."""
        if "protobuf" in (self.headers.get("Accept") or ""):
            data, ctype = openapiv2.document_proto(), openapiv2.PROTO_MEDIA
        else:
            data, ctype = openapiv2.document_json(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        namespace: str | None = None
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and not (len(rest) == 3 and rest[2] in ("status", "finalize"))
        ):
            namespace, rest = rest[1], rest[2:]
        res = R.lookup(group, version, rest[0])
        if res is None:
            raise not_found_path()
        if namespace is not None and not res.namespaced:
            raise not_found_path()
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub and sub not in res.subresources:
            raise not_found_path()
        if res.group == "events.k8s.io":
            return Target(R.EVENT, namespace, name, sub, "", events_v1=True)
        if res.kind == "HorizontalPodAutoscaler" and res.version == "v1":
            # one storage version (v2); v1 is a view of it, as in the real server
            v2 = R.lookup("autoscaling", "v2", res.plural)
            assert v2 is not None
            return Target(v2, namespace, name, sub, "", hpa_v1=True)
        return Target(res, namespace, name, sub, "/".join(rest[3:]))

    def _resource(self, t: Target) -> None:
        method = self.command
        if t.res.kind == "ComponentStatus":
            self._deprecations = ("v1 ComponentStatus is deprecated in v1.19+",)
        if t.sub in ("exec", "attach", "log", "portforward", "proxy"):
            self.app.stream(self, t)
            return
        if t.sub == "scale":
            self._scale(t)
            return
        if t.sub in ("eviction", "binding", "token"):
            self._post_sub(t)
            return
        if not t.name:
            if method == "GET":
                self._list_or_watch(t)
            elif method == "POST":
                self._create(t)
            elif method == "DELETE":
                self._delete_collection(t)
            else:
                raise method_not_allowed()
            return
        handlers = {
            "GET": self._get,
            "PUT": self._update,
            "PATCH": self._patch,
            "DELETE": self._delete,
        }
        fn = handlers.get(method)
        if fn is None:
            raise method_not_allowed()
        fn(t)

    # ---- verbs -------------------------------------------------------------------------
    def _ns(self, t: Target) -> str:
        if not t.res.namespaced:
            return ""
        if t.namespace is None:
            raise not_found_path()
        return t.namespace

    def _opts(self) -> WriteOptions:
        q = self._query()
        return WriteOptions(
            dry_run="All" in q.get("dryRun", []),
            field_validation=q.get("fieldValidation", ["Warn"])[0] or "Warn",
            field_manager=q.get("fieldManager", [""])[0],
            default_manager=prefix_from_user_agent(self.headers.get("User-Agent") or ""),
            force=q.get("force", ["false"])[0] == "true",
            user=self._user,
        )

    def _out(self, t: Target, obj: Obj) -> Obj:
        if t.hpa_v1 and obj.get("kind") == "HorizontalPodAutoscaler":
            return hpa.to_v1(obj)
        return from_core(obj) if t.events_v1 else obj

    def _decode(self, t: Target) -> Obj:
        obj = self.app.decode_body(self._body(), self.headers.get("Content-Type", ""))
        if t.hpa_v1:
            return hpa.from_v1(obj)
        return to_core(obj) if t.events_v1 else obj

    def _wants_table(self) -> bool:
        return "as=Table" in (self.headers.get("Accept") or "")

    def _get(self, t: Target) -> None:
        obj = self.app.api.get(t.res, self._ns(t), t.name)
        if self._wants_table():
            rv = obj["metadata"].get("resourceVersion", "")
            self.send_json(
                200,
                to_table(
                    t.res.kind,
                    [self._out(t, obj)],
                    self._q("includeObject", "Metadata"),
                    {"resourceVersion": rv},
                ),
            )
            return
        self.send_json(200, self._out(t, obj))

    def _list_or_watch(self, t: Target) -> None:
        if self._q("watch") in ("1", "true"):
            self._watch(t)
            return
        ns = t.namespace if t.res.namespaced else None
        items = self.app.api.list(t.res, ns, self._q("labelSelector"), self._q("fieldSelector"))
        items = [self._out(t, o) for o in items]
        meta = {"resourceVersion": str(self.app.store.rv)}
        if self._wants_table():
            self.send_json(
                200, to_table(t.res.kind, items, self._q("includeObject", "Metadata"), meta)
            )
            return
        self.send_json(
            200,
            {
                "kind": f"{t.res.kind}List",
                "apiVersion": t.res.api_version,
                "metadata": meta,
                "items": items,
            },
        )

    def _create(self, t: Target) -> None:
        if t.res.group in ("authorization.k8s.io", "authentication.k8s.io"):
            self.send_json(201, self.app.review(self._decode(t), self._user, t.namespace or ""))
            return
        obj = self._decode(t)
        opts = self._opts()
        ns = self._ns(t)
        out = self.app.api.create(t.res, ns, obj, opts)
        self.send_json(201, self._out(t, out), opts.warnings)

    def _update(self, t: Target) -> None:
        obj = self._decode(t)
        opts = self._opts()
        out = self.app.api.update(t.res, self._ns(t), t.name, obj, opts, t.sub)
        self.send_json(200, self._out(t, out), opts.warnings)

    def _patch(self, t: Target) -> None:
        opts = self._opts()
        ctype = self.headers.get("Content-Type", "")
        existed = self.app.store.get(t.res.key, self._ns(t), t.name) is not None
        out = self.app.api.patch(t.res, self._ns(t), t.name, self._body(), ctype, opts, t.sub)
        self.send_json(200 if existed else 201, self._out(t, out), opts.warnings)

    def _delete_body(self) -> Obj:
        body = self._body()
        opts: Obj = {}
        if body.strip():
            # JSON, or protobuf from typed clients (kubectl drain's deletes)
            opts = self.app.decode_body(body, self.headers.get("Content-Type", ""))
            for key in ("apiVersion", "kind"):
                opts.pop(key, None)
        q = self._query()
        if "propagationPolicy" in q:
            opts["propagationPolicy"] = q["propagationPolicy"][0]
        if "gracePeriodSeconds" in q:
            opts["gracePeriodSeconds"] = int(q["gracePeriodSeconds"][0])
        return opts

    def _delete(self, t: Target) -> None:
        out = self.app.api.delete(t.res, self._ns(t), t.name, self._delete_body(), self._opts())
        self.send_json(200, self._out(t, out))

    def _delete_collection(self, t: Target) -> None:
        if "deletecollection" not in t.res.verbs:
            raise method_not_allowed()
        body, opts = self._delete_body(), self._opts()
        ns = t.namespace if t.res.namespaced else None
        items = self.app.api.list(t.res, ns, self._q("labelSelector"), self._q("fieldSelector"))
        for obj in items:
            meta = obj["metadata"]
            try:
                self.app.api.delete(t.res, meta.get("namespace", ""), meta["name"], body, opts)
            except ApiError:
                continue
        self.send_json(
            200,
            {
                "kind": f"{t.res.kind}List",
                "apiVersion": t.res.api_version,
                "metadata": {"resourceVersion": str(self.app.store.rv)},
                "items": items,
            },
        )

    def _scale(self, t: Target) -> None:
        api, ns = self.app.api, self._ns(t)
        if self.command == "GET":
            self.send_json(200, api.get_scale(t.res, ns, t.name))
            return
        opts = self._opts()
        if self.command == "PUT":
            scale = self.app.decode_body(self._body(), self.headers.get("Content-Type", ""))
        elif self.command == "PATCH":
            from .api import _decode_patch
            from .patch import json_patch, merge_patch, strategic_merge

            ctype = self.headers.get("Content-Type", "").split(";")[0]
            doc = _decode_patch(self._body(), ctype)
            cur = api.get_scale(t.res, ns, t.name)
            fn = {
                "application/json-patch+json": json_patch,
                "application/merge-patch+json": merge_patch,
            }.get(ctype, strategic_merge)
            scale = fn(cur, doc)
        else:
            raise method_not_allowed()
        self.send_json(200, api.set_scale(t.res, ns, t.name, scale, opts))

    def _post_sub(self, t: Target) -> None:
        if self.command != "POST":
            raise method_not_allowed()
        api, ns = self.app.api, self._ns(t)
        body = self.app.decode_body(self._body(), self.headers.get("Content-Type", ""))
        if t.sub == "eviction":
            from .disruption import evict

            evict(api, t.res, ns, t.name, body)
            self.send_json(201, CREATED_STATUS)
        elif t.sub == "binding":
            pod = api.get(t.res, ns, t.name)
            pod["spec"]["nodeName"] = (body.get("target") or {}).get("name")
            api.store.put(t.res.key, pod)
            self.send_json(201, CREATED_STATUS)
        else:
            self.send_json(201, self.app.token_request(body, api.get(t.res, ns, t.name)))

    # ---- watch -------------------------------------------------------------------------
    def _watch(self, t: Target) -> None:
        api, store = self.app.api, self.app.store
        ns = t.namespace if t.res.namespaced else None
        rv = self._q("resourceVersion")
        since = int(rv) if rv.isdigit() and rv != "0" else None
        labels, fields = self._q("labelSelector"), self._q("fieldSelector")
        timeout = float(self._q("timeoutSeconds") or 1800)
        try:
            watcher = store.watch(t.res.key, ns, since)
        except Gone as exc:
            raise ApiError(
                410, "Expired", f"too old resource version: {exc} ({store.rv})", {}
            ) from exc
        initial = []
        if since is None:
            initial = [("ADDED", o) for o in api.list(t.res, ns, labels, fields)]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        table = self._wants_table()
        state: dict[str, Any] = {"first": True, "seen": set()}
        deadline = time.monotonic() + timeout
        try:
            for kind, obj in initial:
                self._emit(t, kind, obj, table, state)
            while not self.app.stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = watcher.events.get(timeout=min(left, 1.0))
                except queue.Empty:
                    continue
                if item is None:
                    break
                kind, obj = item
                matched = api.matches(t.res, obj, labels, fields)
                name = obj["metadata"]["name"]
                if not matched and name in state["seen"] and kind != "DELETED":
                    kind, matched = "DELETED", True
                if matched:
                    self._emit(t, kind, obj, table, state)
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            store.unwatch(watcher)
        self.close_connection = True

    def _emit(self, t: Target, kind: str, obj: Obj, table: bool, state: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        seen: set[str] = state["seen"]
        if kind == "DELETED":
            seen.discard(name)
        else:
            seen.add(name)
        obj = self._out(t, obj)
        if table:
            tbl = to_table(
                t.res.kind,
                [obj],
                self._q("includeObject", "Metadata"),
                {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
            )
            if not state["first"]:
                tbl["columnDefinitions"] = []
            state["first"] = False
            obj = tbl
        line = json.dumps({"type": kind, "object": obj}, separators=(",", ":")) + "\n"
        self._chunk(line.encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


CREATED_STATUS = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Success",
    "code": 201,
}
"""What the real server answers for a pod eviction or binding."""


class FakeHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its App."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], app: App, ssl_ctx: ssl.SSLContext | None) -> None:
        self.app = app
        self.ssl_ctx = ssl_ctx
        super().__init__(addr, Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        # Responses go out as several small writes (headers, body, TLS records); without
        # TCP_NODELAY, Nagle + the client's delayed ACK stall each response by ~40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        self.app.faults.hold_connection(self.app.stopping)  # an injected `hang` at connect
        # The TLS handshake runs in the request thread so a slow client never blocks accept().
        if self.ssl_ctx is not None:
            try:
                request.settimeout(10)
                request = self.ssl_ctx.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                return
        self.RequestHandlerClass(request, client_address, self)  # type: ignore[arg-type]


__all__ = ["FakeHTTPServer", "Handler", "ServerConfig", "Target", "version_info"]
