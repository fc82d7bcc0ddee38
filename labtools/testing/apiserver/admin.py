"""The fake API server's admin endpoint (``/_fake/...``) and the hook that injects HTTP faults.

``intercept`` is the one call at the top of the router's dispatch. The endpoint answers only the
server's own admin client certificate (in ``--http`` mode: loopback clients); for anyone else
``/_fake/...`` is routed like any unknown path, so it looks exactly like a real API server.
"""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
from typing import TYPE_CHECKING, Any

from .faults import ADMIN_PREFIX, HTTP_KINDS, error_response, split_target
from .status import ApiError, bad_request, method_not_allowed, not_found_path

if TYPE_CHECKING:
    from .server import Handler


def intercept(handler: Handler) -> bool:
    """Serve the admin endpoint or an injected fault; False lets the router go on."""
    app = handler.app
    path, query = split_target(handler.path)
    if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
        if not is_admin(handler):
            return False
        serve_admin(handler, path)
        return True
    faults = app.faults
    faults.count(handler.command, path, query)
    fault = faults.take(HTTP_KINDS, handler.command, path, query)
    if fault is None:
        return False
    handler._body()  # an unread body would corrupt the next request on this connection
    if fault.kind == "hang":
        # a stuck server that recovers: what it held is served once the fault ends
        faults.hold(fault, app.stopping)
        return app.stopping.is_set()
    code, ctype, body, retry_after = error_response(fault.spec, path, handler.command)
    send_raw(handler, code, ctype, body, retry_after)
    return True


def is_admin(handler: Handler) -> bool:
    """The client presented the server's admin certificate (or is local, over plain HTTP)."""
    conn = handler.connection
    if isinstance(conn, ssl.SSLSocket):
        der = conn.getpeercert(binary_form=True)
        return der is not None and der == handler.app.admin_der
    try:
        return ipaddress.ip_address(str(handler.client_address[0])).is_loopback
    except ValueError:
        return False


def send_raw(handler: Handler, code: int, ctype: str, body: bytes, retry_after: str) -> None:
    """An error answer with the headers Go's http.Error and the Status writer send."""
    handler.send_response(code)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Cache-Control", "no-cache, private")
    if ctype.startswith("text/plain"):
        handler.send_header("X-Content-Type-Options", "nosniff")
    if retry_after:
        handler.send_header("Retry-After", retry_after)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def serve_admin(handler: Handler, path: str) -> None:
    """Route one admin request; errors are Status objects like every other answer."""
    method, parts = handler.command, path[len(ADMIN_PREFIX) :].strip("/").split("/")
    faults = handler.app.faults
    if parts == [""]:
        _only(method, "GET")
        handler.send_json(200, handler.app.admin_info())
    elif parts == ["faults"]:
        if method == "GET":
            items = [f.view() for f in faults.items()]
            handler.send_json(200, {"kind": "FaultList", "items": items})
        elif method == "POST":
            handler.send_json(201, faults.add(_json_body(handler)).view())
        elif method == "DELETE":
            handler.send_json(200, {"kind": "FaultsCleared", "cleared": faults.clear()})
        else:
            raise method_not_allowed()
    elif len(parts) == 2 and parts[0] == "faults":
        _only(method, "DELETE")
        if not faults.clear(parts[1]):
            raise ApiError(404, "NotFound", f'fault "{parts[1]}" not found', {"name": parts[1]})
        handler.send_json(200, {"kind": "FaultsCleared", "cleared": 1})
    elif parts == ["restart"]:
        _only(method, "POST")
        downtime = _downtime(_json_body(handler, allow_empty=True))
        handler.app.schedule_restart(downtime)
        handler.send_json(202, {"kind": "Restart", "pid": os.getpid(), "downtime": downtime})
        handler.close_connection = True
    else:
        handler._body()
        raise not_found_path()


def _only(method: str, allowed: str) -> None:
    if method != allowed:
        raise method_not_allowed()


def _json_body(handler: Handler, allow_empty: bool = False) -> Any:
    raw = handler._body()
    if not raw.strip() and allow_empty:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise bad_request(f"the body is not JSON: {exc}") from exc


def _downtime(body: Any) -> float:
    value = body.get("downtime", 0) if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 600:
        raise bad_request(f"restart: 'downtime' must be seconds from 0 to 600, got {value!r}")
    return float(value)


__all__ = ["intercept", "is_admin", "serve_admin"]
