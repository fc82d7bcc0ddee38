"""The fake API server application: state, controllers, pod runtime, lifecycle, persistence."""

from __future__ import annotations

import json
import logging
import os
import ssl
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import resources as R
from . import reviews
from .admission import Admission
from .api import Api
from .authn import UserInfo
from .authz import Guard
from .bootstrap import bootstrap
from .bootstrap_policy import install_policy
from .certs import CertFiles, make_certs
from .controllers import Controllers
from .ctl_quota import QuotaTracker
from .ctl_tokens import TokenSecretTracker
from .faults import Faults
from .nodeports import NodePorts
from .persist import DataFile
from .server import FakeHTTPServer, Handler, ServerConfig, Target
from .status import ApiError, bad_request, not_found, unsupported_media
from .store import Obj, Store, now_rfc3339
from .tokens import TokenIssuer

log = logging.getLogger(__name__)


@dataclass
class Options:
    """How to run the fake API server (mirrors the CLI flags)."""

    host: str = "127.0.0.1"
    port: int = 0
    http: bool = False
    name: str = "fake"
    node_name: str = "minikube"
    cert_dir: Path | None = None
    # a CA to sign with (loaded when both files exist, else generated and written there)
    ca_cert: Path | None = None
    ca_key: Path | None = None
    state_dir: Path | None = None
    data_file: Path | None = None
    pod_ready_delay: float = 1.0
    # the kubelet's back-off waits (image pulls, crash loops) times this (texts stay real)
    backoff_scale: float = 1.0
    version: str = "v1.32.0"
    extra_hosts: list[str] = field(default_factory=list)
    # the command line that runs this server again (set by __main__): restarts re-exec it
    restart_argv: list[str] | None = None


def load_runtime(state_dir: Path) -> Any:
    """The pod runtime (pods.py), or the no-op stand-in when it does not import."""
    try:
        from .pods import PodRuntime
    except Exception:  # another helper owns pods.py; never block on it
        log.warning("pods.py unavailable; using the no-op pod runtime", exc_info=True)
        from .runtime_stub import PodRuntime  # type: ignore[assignment]
    return PodRuntime(state_dir)


class App:
    """Everything the HTTP handlers need, plus start/stop."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.config = ServerConfig(version=opts.version, node_name=opts.node_name)
        self.store = Store()
        self.api = Api(self.store, opts.node_name)
        self.stopping = threading.Event()
        state = opts.state_dir or Path(opts.cert_dir or ".") / "state"
        state.mkdir(parents=True, exist_ok=True)
        self.runtime: Any = None
        self.state_dir = state
        self.controllers: Controllers | None = None
        self.httpd: FakeHTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.certs: CertFiles | None = None
        self.node_ports: NodePorts | None = None
        self.faults = Faults()
        self.boot_id = str(uuid.uuid4())
        self.started_at = now_rfc3339()
        # DER of the admin client certificate: the only one the /_fake endpoint answers
        self.admin_der = b""
        self.data = DataFile(opts.data_file) if opts.data_file is not None else None
        # ServiceAccount tokens are signed with a key kept beside the certificates, so tokens
        # handed out survive a stop/start of the same cluster (like minikube's sa.key)
        self.issuer = TokenIssuer(Path(opts.cert_dir or state) / "sa.key")
        self.guard = Guard(self.store, self.issuer, insecure=opts.http)
        self.api.admission = Admission(self.store, self.guard.rbac)
        self.quotas = QuotaTracker(self.store)
        self.token_secrets = TokenSecretTracker(self.store)

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> str:
        """Bind, start controllers and the HTTP thread; return the server URL."""
        ctx = None
        if not self.opts.http:
            cert_dir = self.opts.cert_dir or Path(".")
            hosts = [
                "127.0.0.1",
                "localhost",
                "::1",
                "10.96.0.1",
                self.opts.node_name,
                "192.168.49.2",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                *self.opts.extra_hosts,
            ]
            if self.opts.host not in hosts and self.opts.host not in ("0.0.0.0", "::"):
                hosts.append(self.opts.host)
            self.certs = make_certs(cert_dir, hosts, self.opts.ca_cert, self.opts.ca_key)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.certs.server_cert, self.certs.server_key)
            ctx.load_verify_locations(self.certs.ca)
            # a client certificate is one way to authenticate; bearer tokens are another
            ctx.verify_mode = ssl.CERT_OPTIONAL
            self.admin_der = ssl.PEM_cert_to_DER_cert(self.certs.client_cert.read_text())
        self.httpd = FakeHTTPServer((self.opts.host, self.opts.port), self, ctx)
        port = self.httpd.server_address[1]
        self.runtime = load_runtime(self.state_dir)
        self.controllers = Controllers(
            self.api,
            self.runtime,
            self.opts.pod_ready_delay,
            faults=self.faults,
            backoff_scale=self.opts.backoff_scale,
        )
        self.controllers.issuer = self.issuer  # the kubelet's projected ServiceAccount tokens
        self.controllers.ca_pem = self.certs.ca.read_text() if self.certs else ""  # type: ignore[attr-defined]
        self.controllers.rbac = self.guard.rbac  # type: ignore[attr-defined]
        self.controllers.quotas = self.quotas  # type: ignore[attr-defined]
        self.controllers.token_secrets = self.token_secrets  # type: ignore[attr-defined]
        loaded = self._load()
        if not loaded:
            bootstrap(self.api, self.opts.node_name, self.opts.version)
            install_policy(self.api, self.guard.rbac)
        self.controllers.reconcile()
        self.controllers.start()
        self.node_ports = NodePorts(self.store, self.runtime)
        self.node_ports.attach()
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True
        )
        self.thread.start()
        scheme = "http" if self.opts.http else "https"
        host = self.opts.host if self.opts.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"{scheme}://{host}:{port}"

    def stop(self) -> None:
        """Stop serving, stop controllers and every pod sandbox, save data."""
        self.stopping.set()
        self.store.close_watches()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        if self.node_ports is not None:
            self.node_ports.close()
        if self.controllers is not None:
            self.controllers.stop()
        self._save()
        if self.runtime is not None:
            try:
                self.runtime.shutdown()
            except Exception:
                log.exception("pod runtime shutdown failed")

    # ---- persistence -------------------------------------------------------------------
    def _save(self) -> None:
        if self.data is not None:
            self.data.snapshot(self.store)
            self.data.close()

    def _load(self) -> bool:
        """Objects from the data file (snapshot + log); then log every change from here on."""
        if self.data is None:
            return False
        objects = self.data.load(self.store)
        for key, obj in objects or []:
            if key == R.POD.key:
                _restart_pod(obj)
            self.store.load(key, obj)
        self.data.snapshot(self.store)
        self.data.open_log(self.store)
        return objects is not None

    # ---- the admin endpoint's actions --------------------------------------------------
    def admin_info(self) -> dict[str, Any]:
        """What `GET /_fake` shows: who this server is and what it has served."""
        port = self.httpd.server_address[1] if self.httpd is not None else 0
        return {
            "kind": "FakeAPIServer",
            "pid": os.getpid(),
            "bootID": self.boot_id,
            "startedAt": self.started_at,
            "port": port,
            "requests": dict(self.faults.requests),
        }

    def schedule_restart(self, downtime: float) -> None:
        """Die like `kill -9` shortly (after this answer is sent) and start again on this port."""
        argv = self.opts.restart_argv
        if argv is None or self.httpd is None:
            raise bad_request(
                "restart: this server does not run as `python -m labtools.testing.apiserver` "
                "(an in-process App cannot re-execute itself)"
            )
        port = str(self.httpd.server_address[1])
        argv = [*_without(argv, ("--port", "--start-delay")), "--port", port]
        if downtime:
            argv += ["--start-delay", f"{downtime:g}"]
        threading.Thread(target=_reexec, args=(argv,), daemon=True, name="restart").start()

    # ---- request helpers ---------------------------------------------------------------
    def decode_body(self, body: bytes, content_type: str) -> Obj:
        """Decode a JSON, YAML or protobuf request body."""
        ctype = content_type.split(";")[0].strip().lower()
        if ctype == "application/vnd.kubernetes.protobuf":
            return self._decode_protobuf(body)
        try:
            if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
                import yaml

                doc = yaml.safe_load(body.decode())
            elif ctype in ("application/json", "", "*/*"):
                doc = json.loads(body.decode() or "{}")
            else:
                raise unsupported_media(content_type)
        except ApiError:
            raise
        except Exception as exc:
            raise bad_request(f"error decoding body: {exc}") from exc
        if not isinstance(doc, dict):
            raise bad_request("the body of the request is not an object")
        return doc

    def _decode_protobuf(self, body: bytes) -> Obj:
        try:
            from . import protobuf
        except Exception as exc:
            raise unsupported_media(
                "application/vnd.kubernetes.protobuf",
                "protobuf request bodies are not supported by this fake "
                "API server yet (labtools.testing.apiserver.protobuf "
                "is missing)",
            ) from exc
        try:
            return protobuf.decode_object(body)
        except protobuf.ProtobufError as exc:
            raise unsupported_media("application/vnd.kubernetes.protobuf", str(exc)) from exc

    def review(self, body: Obj, user: UserInfo, namespace: str = "") -> Obj:
        """Answer an access, rules, self-subject or token review as the real authorizer."""
        return reviews.review(self.guard, body, user, namespace)

    def token_request(self, body: Obj, service_account: Obj) -> Obj:
        """A TokenRequest for a ServiceAccount: a signed JWT bound to its uid."""
        return reviews.token_request(self.guard, body, service_account)

    def stream(self, handler: Handler, t: Target) -> None:
        """exec, attach, log, portforward and proxy: hand over to streaming.py."""
        from . import streaming

        if t.res.kind == "Service":
            self._service_proxy(handler, t, streaming)
            return
        if t.res.kind != "Pod":
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        name, _, port = t.name.partition(":")
        ns = t.namespace or "default"
        pod = self.api.get(R.POD, ns, name)
        query = handler._query()
        if t.sub in ("exec", "attach", "log"):
            previous = query.get("previous", ["false"])[0] == "true"
            _check_container_running(pod, query.get("container", [""])[0], t.sub, previous)
        if t.sub == "proxy":
            streaming.handle_pod_proxy(
                handler, self.runtime, pod, int(port) if port.isdigit() else None, "/" + t.rest
            )
            return
        fn = {
            "exec": streaming.handle_exec,
            "attach": streaming.handle_attach,
            "log": streaming.handle_log,
            "portforward": streaming.handle_portforward,
        }[t.sub]
        fn(handler, self.runtime, pod, query)

    def _service_proxy(self, handler: Handler, t: Target, streaming: Any) -> None:
        parts = t.name.split(":")
        if parts[0] in ("http", "https") and len(parts) > 1:
            parts = parts[1:]
        name, port_name = parts[0], parts[1] if len(parts) > 1 else ""
        ns = t.namespace or "default"
        svc = self.api.get(R.SERVICE, ns, name)
        ports = svc["spec"].get("ports") or []
        port = next(
            (
                p
                for p in ports
                if port_name in (str(p.get("port")), p.get("name", "")) or not port_name
            ),
            None,
        )
        if port is None:
            raise ApiError(
                503, "ServiceUnavailable", f'no endpoints available for service "{name}"', {}
            )
        from .selectors import selector_matches

        pods = [
            p
            for p in self.api.list(R.POD, ns)
            if svc["spec"].get("selector")
            and selector_matches(
                {"matchLabels": svc["spec"]["selector"]}, p["metadata"].get("labels") or {}
            )
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in p.get("status", {}).get("conditions") or []
            )
        ]
        if not pods:
            raise ApiError(
                503, "ServiceUnavailable", f'no endpoints available for service "{name}"', {}
            )
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str) and not target.isdigit():
            target = next(
                (
                    cp["containerPort"]
                    for c in pods[0]["spec"]["containers"]
                    for cp in c.get("ports") or []
                    if cp.get("name") == target
                ),
                80,
            )
        streaming.handle_pod_proxy(handler, self.runtime, pods[0], int(target), "/" + t.rest)


def _without(argv: list[str], flags: tuple[str, ...]) -> list[str]:
    """``argv`` without the given ``--flag VALUE`` pairs (a restart sets them anew)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        elif not arg.startswith(tuple(f + "=" for f in flags)):
            out.append(arg)
    return out


def _reexec(argv: list[str]) -> None:
    """Replace this process: its sockets close, its pods get their parent-death signal.

    Nothing is saved first (a kill saves nothing either); the write-ahead log already holds
    every change.
    """
    time.sleep(0.1)  # let the 202 answer leave
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *argv])


def _check_container_running(pod: Obj, container: str, sub: str, previous: bool = False) -> None:
    """The kubelet's refusals (``validateContainerLogStatus`` in ``pkg/kubelet/kubelet_pods.go``
    for logs): a waiting container has nothing to show, unless an earlier instance ended."""
    meta = pod["metadata"]
    if not pod["spec"].get("nodeName"):
        raise bad_request(f"pod {meta['name']} does not have a host assigned")
    statuses = pod.get("status", {}).get("containerStatuses") or []
    names = [c["name"] for c in pod["spec"].get("containers") or []]
    name = container or (names[0] if len(names) == 1 else "")
    for cs in statuses:
        if cs.get("name") != name:
            continue
        ended = ((cs.get("lastState") or {}).get("terminated") or {}).get("containerID")
        if sub == "log" and (previous or ended):
            return  # the previous (or last) instance's log
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            reason = waiting.get("reason", "")
            if reason == "ErrImagePull" and sub == "log":
                reason = "image can't be pulled"
            elif reason in ("ErrImagePull", "ImagePullBackOff"):
                reason = "trying and failing to pull image"
            raise bad_request(
                f'container "{name}" in pod "{meta["name"]}" is waiting to start: {reason}'
            )


def _restart_pod(pod: Obj) -> None:
    """After a stop/start the kubelet re-creates sandboxes: running pods start again."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or pod["metadata"].get("namespace") == "kube-system":
        return
    status["phase"] = "Pending"
    for cs in status.get("containerStatuses") or []:
        cs["restartCount"] = int(cs.get("restartCount", 0)) + 1
        cs["lastState"] = {
            "terminated": {
                "exitCode": 255,
                "reason": "Error",
                "startedAt": (cs.get("state") or {}).get("running", {}).get("startedAt"),
                "finishedAt": now_rfc3339(),
            }
        }
        cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
        cs["ready"] = False
        cs["started"] = False
    for cond in status.get("conditions") or []:
        if cond["type"] in ("Ready", "ContainersReady", "PodReadyToStartContainers"):
            cond["status"] = "False"


__all__ = ["App", "Options", "not_found"]
