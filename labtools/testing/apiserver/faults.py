"""Faults the fake API server injects on request: its test-only admin interface.

The admin endpoint lives under ``/_fake/`` and answers only the holder of the server's own
admin client certificate (the one in the kubeconfig it wrote; in ``--http`` mode: loopback
clients). Anyone else gets what a real API server says for an unknown path.

* ``POST /_fake/faults`` a JSON fault (below) -> ``201`` the fault with its ``id``
* ``GET /_fake/faults`` -> ``{"items": [...]}``; ``DELETE /_fake/faults[/ID]`` clears
* ``GET /_fake`` -> pid, boot id, port, request counters
* ``POST /_fake/restart`` ``{"downtime": S}`` -> ``202``, then the server dies (its pods with it)
  and starts again on the same port with its certificates and objects

Server-level faults (``kind``):

* ``error``: answer ``code`` (429, 500, 503 or 504) instead of serving the request, with the
  real body shapes (a ``Status`` object; for 429 by default the max-in-flight filter's text body,
  ``staging/src/k8s.io/apiserver/pkg/server/filters/maxinflight.go``) and an optional
  ``Retry-After`` (``retryAfter`` seconds).
* ``hang``: read the request and answer nothing until the fault ends (``stage: request``), or
  hold new connections before the TLS handshake (``stage: connect``, needs ``seconds``).

Each fault matches every request unless narrowed by ``path`` (a glob on the URL path), ``verb``
(a Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection; for
other URLs the lowercase HTTP method) and ``method`` (HTTP); it applies to the next ``count``
matching requests (``null``: all of them) and ends after ``seconds`` when given. Pod-level
faults (``image-pull``, ``crash``, ``node-not-ready``, ``readiness-delay``) are kept here too
and read by the pod controllers.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .status import ApiError, bad_request

ADMIN_PREFIX = "/_fake"
HTTP_KINDS = ("error", "hang")
POD_KINDS = ("image-pull", "crash", "node-not-ready", "readiness-delay")
ERROR_CODES = (429, 500, 503, 504)
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
# the verbs of non-resource URLs (/version, /healthz, /openapi/...): the lowercase HTTP method
HTTP_VERBS = ("post", "put", "head", "options")
DEFAULT_MESSAGE = "fault injected by the fake API server"
# http.Error of maxinflight.go: text/plain with a trailing newline
TOO_MANY_TEXT = "Too many requests, please try again later.\n"
MAX_SECONDS = 3600.0
# the keys each kind accepts beside `kind`
COMMON_KEYS = ("count", "seconds", "path", "verb", "method")
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "error": (*COMMON_KEYS, "code", "message", "retryAfter", "body"),
    "hang": (*COMMON_KEYS, "stage"),
    "image-pull": ("count", "seconds", "image", "reason", "message", "pod", "namespace"),
    "crash": ("count", "seconds", "pod", "namespace", "container", "exitCode", "after", "lines"),
    "node-not-ready": ("seconds", "node"),
    "readiness-delay": ("count", "seconds", "pod", "namespace", "delay"),
}


@dataclass
class Fault:
    """One injected fault: its validated spec, what is left of it and how often it fired."""

    id: str
    kind: str
    spec: dict[str, Any]
    remaining: int | None
    expires: float | None
    created: float = field(default_factory=time.time)
    hits: int = 0

    def active(self, now: float) -> bool:
        """Still catching requests: count not used up and not expired."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.expires is None or now < self.expires

    def holding(self, now: float) -> bool:
        """Still in force: a hang holds what it caught until it expires or is cleared."""
        if self.kind == "hang":
            return self.expires is None or now < self.expires
        return self.active(now)

    def view(self) -> dict[str, Any]:
        """The JSON the admin endpoint shows for this fault."""
        left = None if self.expires is None else max(0.0, self.expires - time.monotonic())
        return {
            "id": self.id,
            **self.spec,
            "remaining": self.remaining,
            "secondsLeft": None if left is None else round(left, 3),
            "hits": self.hits,
        }


def request_verb(method: str, path: str, query: str = "") -> str:
    """The Kubernetes verb of a request (RequestInfoFactory's rules, enough for matching)."""
    parts = [p for p in path.strip("/").split("/") if p]
    if parts[:1] == ["api"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"]:
        rest = parts[3:]
    else:
        return method.lower()
    if not rest:
        return method.lower()
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and not (len(rest) == 3 and rest[2] in ("status", "finalize"))
    ):
        rest = rest[2:]
    named = len(rest) >= 2
    method = method.upper()
    if method in ("GET", "HEAD"):
        watch = parse_qs(query).get("watch", [""])[0] in ("1", "true")
        return "watch" if watch else ("get" if named else "list")
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch"}
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return verbs.get(method, method.lower())


def _number(spec: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad_request(
            f"fault: {key!r} must be a number from {low:g} to {high:g}, got {value!r}"
        )
    return float(value)


def _text(spec: dict[str, Any], key: str, choices: tuple[str, ...] = ()) -> str | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise bad_request(f"fault: {key!r} must be a non-empty string, got {value!r}")
    if choices and value not in choices:
        raise bad_request(f"fault: {key!r} must be one of {', '.join(choices)}, got {value!r}")
    return value


def validate(spec: Any) -> dict[str, Any]:
    """A fault spec checked key by key; a 400 Status names the first bad key."""
    if not isinstance(spec, dict):
        raise bad_request("fault: the body must be a JSON object with a 'kind'")
    kind = spec.get("kind")
    if kind not in KIND_KEYS:
        known = ", ".join(KIND_KEYS)
        raise bad_request(f"fault: unknown kind {kind!r} (known kinds: {known})")
    unknown = sorted(set(spec) - {"kind", *KIND_KEYS[kind]})
    if unknown:
        allowed = ", ".join(KIND_KEYS[kind])
        raise bad_request(f"fault {kind}: unknown key {unknown[0]!r} (allowed: {allowed})")
    out: dict[str, Any] = {"kind": kind}
    count = _number(spec, "count", 1, 1_000_000)
    if count is not None and count != int(count):
        raise bad_request(f"fault: 'count' must be a whole number, got {spec['count']!r}")
    seconds = _number(spec, "seconds", 0.001, MAX_SECONDS)
    out.update(count=None if count is None else int(count), seconds=seconds)
    for key in ("path", "method"):
        if key in KIND_KEYS[kind]:
            out[key] = _text(spec, key)
    if "verb" in KIND_KEYS[kind]:
        verb = _text(spec, "verb")
        if verb is not None and verb not in (*VERBS, *HTTP_VERBS):
            known = ", ".join((*VERBS, *HTTP_VERBS))
            raise bad_request(f"fault: unknown verb {verb!r} (known: {known})")
        out["verb"] = verb
    if out.get("method"):
        out["method"] = out["method"].upper()
    checks = {
        "error": _error_spec,
        "hang": _hang_spec,
        "image-pull": _image_spec,
        "crash": _crash_spec,
        "node-not-ready": _node_spec,
        "readiness-delay": _readiness_spec,
    }
    if kind in checks:
        out.update(checks[kind](spec, out))
    return out


def _error_spec(spec: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    code = spec.get("code", 503)
    if code not in ERROR_CODES:
        codes = ", ".join(map(str, ERROR_CODES))
        raise bad_request(f"fault error: 'code' must be one of {codes}, got {code!r}")
    retry = _number(spec, "retryAfter", 0, 3600)
    if retry is not None and retry != int(retry):
        raise bad_request(f"fault error: 'retryAfter' must be whole seconds, got {retry!r}")
    body = _text(spec, "body", ("status", "text")) or ("text" if code == 429 else "status")
    if out["count"] is None and out["seconds"] is None:
        out["count"] = 1
    return {
        "code": code,
        "message": _text(spec, "message"),
        "retryAfter": int(retry) if retry is not None else (1 if code == 429 else None),
        "body": body,
    }


def _hang_spec(spec: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    stage = _text(spec, "stage", ("request", "connect")) or "request"
    if stage == "connect":
        if out["seconds"] is None:
            raise bad_request(
                "fault hang: stage 'connect' needs 'seconds' (no connection, the admin's "
                "included, is served while it lasts, so it cannot be cleared)"
            )
        if any(out.get(k) for k in ("path", "verb", "method")):
            raise bad_request("fault hang: stage 'connect' comes before any request: no path/verb")
    return {"stage": stage}


def _image_spec(spec: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    image = _text(spec, "image")
    if image is None:
        raise bad_request("fault image-pull: 'image' is required (an image or a glob: 'nginx:*')")
    return {
        **_pod_match(spec),
        "image": image,
        "reason": _text(spec, "reason", ("not-found", "denied")) or "not-found",
        "message": _text(spec, "message"),
    }


def _pod_match(spec: dict[str, Any]) -> dict[str, Any]:
    return {"pod": _text(spec, "pod") or "*", "namespace": _text(spec, "namespace") or "*"}


def _crash_spec(spec: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    code = _number(spec, "exitCode", 0, 255)
    lines = spec.get("lines", [])
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise bad_request(f"fault crash: 'lines' must be a list of strings, got {lines!r}")
    after = _number(spec, "after", 0, MAX_SECONDS)
    return {
        **_pod_match(spec),
        "container": _text(spec, "container"),
        "exitCode": 1 if code is None else int(code),
        "after": 1.0 if after is None else after,
        "lines": lines,
    }


def _node_spec(spec: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    return {"node": _text(spec, "node") or "*"}


def _readiness_spec(spec: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    delay = _number(spec, "delay", 0.001, MAX_SECONDS)
    return {**_pod_match(spec), "delay": 60.0 if delay is None else delay}


def error_response(spec: dict[str, Any], path: str, verb: str) -> tuple[int, str, bytes, str]:
    """(code, content type, body, Retry-After or '') of an injected error.

    Bodies as the real constructors build them
    (``staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go``): NewInternalError (500),
    NewServiceUnavailable (503), NewTimeoutError (504), NewTooManyRequests (429 ``status``).
    """
    import json

    code, retry = spec["code"], spec.get("retryAfter")
    header = "" if retry is None else str(retry)
    if spec["body"] == "text":
        text = spec.get("message") or _default_text(code)
        return code, "text/plain; charset=utf-8", (text.rstrip("\n") + "\n").encode(), header
    message = spec.get("message") or DEFAULT_MESSAGE
    details: dict[str, Any] | None = None
    if code == 500:
        reason, text = "InternalError", f"Internal error occurred: {message}"
        details = {"causes": [{"message": message}]}
    elif code == 503:
        reason, text = "ServiceUnavailable", message
    elif code == 504:
        reason, text = "Timeout", f"Timeout: {message}"
        details = {"retryAfterSeconds": retry} if retry else {}
    else:
        reason, text = "TooManyRequests", message
        details = {"retryAfterSeconds": retry} if retry else {}
    if retry and code in (500, 503):
        details = {**(details or {}), "retryAfterSeconds": retry}
    body = ApiError(code, reason, text, details).status()
    del path, verb
    return code, "application/json", json.dumps(body, separators=(",", ":")).encode(), header


def _default_text(code: int) -> str:
    if code == 429:
        return TOO_MANY_TEXT
    return {500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}[code]


class Faults:
    """The fault registry of one server: thread-safe, consulted by the router and controllers."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self.requests: Counter[str] = Counter()

    # ---- the admin side ------------------------------------------------------------------
    def add(self, spec: Any) -> Fault:
        """Validate and register a fault; it applies from the next request on."""
        clean = validate(spec)
        seconds = clean.get("seconds")
        with self._lock:
            fault = Fault(
                id=f"f{next(self._ids)}",
                kind=clean["kind"],
                spec={k: v for k, v in clean.items() if v is not None},
                remaining=clean.get("count"),
                expires=None if seconds is None else time.monotonic() + seconds,
            )
            self._faults.append(fault)
            self._lock.notify_all()
        return fault

    def items(self) -> list[Fault]:
        """The faults still in force, oldest first."""
        now = time.monotonic()
        with self._lock:
            self._faults = [f for f in self._faults if f.holding(now)]
            return list(self._faults)

    def clear(self, fault_id: str | None = None) -> int:
        """Remove one fault (or all); how many were removed."""
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if fault_id not in (None, f.id)]
            self._lock.notify_all()
            return before - len(self._faults)

    # ---- the request side ----------------------------------------------------------------
    def take(self, kinds: tuple[str, ...], method: str, path: str, query: str) -> Fault | None:
        """The first fault of ``kinds`` matching this request, with one use consumed."""
        verb = request_verb(method, path, query)
        now = time.monotonic()
        with self._lock:
            for fault in self._faults:
                if (
                    fault.kind in kinds
                    and fault.active(now)
                    and _matches(fault, method, path, verb)
                ):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    fault.hits += 1
                    return fault
        return None

    def count(self, method: str, path: str, query: str) -> None:
        """Count a request by verb (``GET /_fake`` shows the counters)."""
        key = request_verb(method, path, query)
        with self._lock:
            self.requests[key] += 1
            self.requests["total"] += 1

    def hold(self, fault: Fault, stopping: threading.Event) -> None:
        """Block while ``fault`` is in force (or until the server stops)."""
        with self._lock:
            while (
                not stopping.is_set() and fault in self._faults and fault.holding(time.monotonic())
            ):
                left = 0.5 if fault.expires is None else fault.expires - time.monotonic()
                self._lock.wait(timeout=max(0.0, min(left, 0.5)))

    def hold_connection(self, stopping: threading.Event) -> None:
        """Before a TLS handshake: wait out every ``hang`` of stage ``connect``."""
        while not stopping.is_set():
            now = time.monotonic()
            with self._lock:
                blocking = [
                    f
                    for f in self._faults
                    if f.kind == "hang" and f.spec.get("stage") == "connect" and f.active(now)
                ]
            if not blocking:
                return
            for fault in blocking:
                fault.hits += 1
                self.hold(fault, stopping)

    def pod_faults(self, kind: str) -> list[Fault]:
        """The pod-level faults of ``kind`` in force (the controllers match them themselves)."""
        now = time.monotonic()
        with self._lock:
            return [f for f in self._faults if f.kind == kind and f.active(now)]

    def use(self, fault: Fault) -> None:
        """Consume one use of a pod-level fault."""
        with self._lock:
            if fault.remaining is not None:
                fault.remaining -= 1
            fault.hits += 1


def _matches(fault: Fault, method: str, path: str, verb: str) -> bool:
    spec = fault.spec
    if "path" in spec and not fnmatch.fnmatchcase(path, spec["path"]):
        return False
    if "method" in spec and method.upper() != spec["method"]:
        return False
    return "verb" not in spec or spec["verb"] == verb


def split_target(raw_path: str) -> tuple[str, str]:
    """(path, query) of a request line's target."""
    parts = urlsplit(raw_path)
    return parts.path.rstrip("/") or "/", parts.query


__all__ = ["ADMIN_PREFIX", "Fault", "Faults", "error_response", "request_verb", "validate"]
