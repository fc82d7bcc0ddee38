"""Inject faults into a running fake API server: ``python -m labtools.testing.faults``.

    F="python -m labtools.testing.faults --kubeconfig KC [--context C]"
    $F add '{"kind": "error", "code": 503, "count": 3, "path": "/api/v1/*"}'
    $F add error --set code=503 --set count=3 --set path='/api/v1/*'
    $F list | clear [ID] | info | restart [--downtime S]

It talks to the server's admin endpoint (``/_fake/...``, see
``labtools.testing.apiserver.faults``) with the client certificate of the kubeconfig's user: only
the fake's own admin certificate is accepted. Exit codes: 0 done, 1 the server refused (its
message is printed), 2 bad usage, 3 the server could not be reached.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import ssl
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ADMIN = "/_fake"


class FaultError(Exception):
    """The admin endpoint refused a request, or the server could not be reached."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    """Where a kubeconfig context points and with which credentials."""

    server: str
    ca_pem: bytes | None
    cert_pem: bytes | None
    key_pem: bytes | None


def _file_or_data(entry: dict[str, Any], key: str, base: Path) -> bytes | None:
    data = entry.get(f"{key}-data")
    if data:
        return base64.b64decode(data)
    path = entry.get(key)
    if not path:
        return None
    full = Path(path) if Path(path).is_absolute() else base / path
    return full.read_bytes()


def load_target(kubeconfig: Path, context: str | None = None) -> Target:
    """The server URL, CA and client certificate of a kubeconfig's context."""
    try:
        doc = yaml.safe_load(kubeconfig.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise FaultError(f"{kubeconfig}: cannot read the kubeconfig: {exc}", 2) from exc
    name = context or doc.get("current-context")
    ctx = _named(doc, "contexts", name, kubeconfig)["context"]
    cluster = _named(doc, "clusters", ctx.get("cluster"), kubeconfig)["cluster"]
    user = _named(doc, "users", ctx.get("user"), kubeconfig).get("user") or {}
    base = kubeconfig.parent
    try:
        return Target(
            server=str(cluster["server"]),
            ca_pem=_file_or_data(cluster, "certificate-authority", base),
            cert_pem=_file_or_data(user, "client-certificate", base),
            key_pem=_file_or_data(user, "client-key", base),
        )
    except (OSError, KeyError, ValueError) as exc:
        raise FaultError(f"{kubeconfig}: context {name!r}: {exc}", 2) from exc


def _named(doc: dict[str, Any], section: str, name: Any, path: Path) -> dict[str, Any]:
    for item in doc.get(section) or []:
        if isinstance(item, dict) and item.get("name") == name:
            return item
    raise FaultError(f"{path}: no {section[:-1]} named {name!r}", 2)


@contextmanager
def _client_files(target: Target) -> Iterator[tuple[str, str] | None]:
    """The client certificate and key as files (ssl loads them only from paths)."""
    if target.cert_pem is None or target.key_pem is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="labtools-faults-") as tmp:
        cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
        cert.write_bytes(target.cert_pem)
        key.touch(mode=0o600)
        key.write_bytes(target.key_pem)
        yield str(cert), str(key)


class FaultClient:
    """The admin endpoint of one fake API server, reached through a kubeconfig."""

    def __init__(self, kubeconfig: Path, context: str | None = None, timeout: float = 10) -> None:
        self.target = load_target(Path(kubeconfig), context)
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One JSON request to ``/_fake{path}``; the decoded answer, FaultError on failure."""
        url = urlsplit(self.target.server)
        data = None if body is None else json.dumps(body).encode()
        try:
            conn = self._connection(url.hostname or "127.0.0.1", url.port)
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            conn.request(method, ADMIN + path, body=data, headers=headers)
            answer = conn.getresponse()
            raw = answer.read()
            conn.close()
        except (OSError, http.client.HTTPException) as exc:
            message = f"cannot reach the fake API server {self.target.server}: {exc}"
            raise FaultError(message, 3) from exc
        try:
            doc = json.loads(raw) if raw.strip() else {}
        except ValueError:
            doc = {"message": raw.decode(errors="replace").strip()}
        if answer.status >= 400:
            said = doc.get("message") if isinstance(doc, dict) else None
            raise FaultError(f"{answer.status}: {said or raw.decode(errors='replace')}", 1)
        return doc

    def _connection(self, host: str, port: int | None) -> http.client.HTTPConnection:
        if self.target.server.startswith("http://"):
            return http.client.HTTPConnection(host, port, timeout=self.timeout)
        ctx = ssl.create_default_context(cadata=(self.target.ca_pem or b"").decode() or None)
        with _client_files(self.target) as files:
            if files is not None:
                ctx.load_cert_chain(*files)
        return http.client.HTTPSConnection(host, port, context=ctx, timeout=self.timeout)

    # ---- what tests and the CLI call -----------------------------------------------------
    def add(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Inject a fault; the server's view of it (with its ``id``)."""
        out: dict[str, Any] = self.request("POST", "/faults", spec)
        return out

    def list(self) -> list[dict[str, Any]]:
        """The faults in force."""
        items: list[dict[str, Any]] = self.request("GET", "/faults")["items"]
        return items

    def clear(self, fault_id: str | None = None) -> int:
        """Clear one fault, or all of them; how many were cleared."""
        path = "/faults" if fault_id is None else f"/faults/{fault_id}"
        return int(self.request("DELETE", path)["cleared"])

    def info(self) -> dict[str, Any]:
        """pid, bootID, port and request counters of the server."""
        out: dict[str, Any] = self.request("GET", "")
        return out

    def restart(self, downtime: float = 0.0, timeout: float = 30.0) -> dict[str, Any]:
        """Kill the server (pods too) and wait until it serves again on the same port."""
        before = self.info()["bootID"]
        self.request("POST", "/restart", {"downtime": downtime})
        deadline = time.monotonic() + downtime + timeout
        while time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                info = self.info()
            except FaultError:
                continue
            if info["bootID"] != before:
                return info
        raise FaultError(f"the fake API server did not come back within {timeout:g}s", 3)


def _spec_from_args(args: argparse.Namespace) -> dict[str, Any]:
    if args.spec.lstrip()[:1] in ("{", "["):
        try:
            spec = json.loads(args.spec)
        except ValueError as exc:
            raise FaultError(f"the fault is not JSON: {exc}", 2) from exc
        if not isinstance(spec, dict):
            raise FaultError("the fault must be a JSON object", 2)
        return spec
    spec = {"kind": args.spec}
    for pair in args.set or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise FaultError(f"--set {pair!r}: expected KEY=VALUE", 2)
        spec[key] = _value(value)
    return spec


def _value(text: str) -> Any:
    """A --set value: JSON when it parses (numbers, null, lists), else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m labtools.testing.faults",
        description="Inject faults into a fake API server (labtools.testing).",
    )
    p.add_argument("--kubeconfig", type=Path, default=_default_kubeconfig())
    p.add_argument("--context", help="kubeconfig context (default: its current-context)")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="inject a fault (a JSON object, or KIND with --set k=v)")
    add.add_argument("spec", help='a JSON fault, or its kind ("error", "hang", "image-pull", ...)')
    add.add_argument("--set", action="append", metavar="KEY=VALUE", help="a key of the fault")
    sub.add_parser("list", help="the faults in force (JSON)")
    clear = sub.add_parser("clear", help="clear one fault (by id) or all")
    clear.add_argument("id", nargs="?")
    sub.add_parser("info", help="pid, boot id, port and request counters (JSON)")
    restart = sub.add_parser("restart", help="kill the server and start it again, same port")
    restart.add_argument("--downtime", type=float, default=0.0, help="seconds it stays down")
    return p


def _default_kubeconfig() -> Path:
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return Path(first) if first else Path.home() / ".kube" / "config"


def main(argv: list[str] | None = None) -> int:
    """Run one command; print JSON answers on stdout and errors on stderr."""
    args = parser().parse_args(argv)
    try:
        client = FaultClient(args.kubeconfig, args.context)
        if args.command == "add":
            out: Any = client.add(_spec_from_args(args))
        elif args.command == "list":
            out = client.list()
        elif args.command == "clear":
            out = {"cleared": client.clear(args.id)}
        elif args.command == "info":
            out = client.info()
        else:
            out = client.restart(args.downtime)
    except FaultError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code or 1
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
