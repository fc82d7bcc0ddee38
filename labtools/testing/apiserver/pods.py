"""The fake node's pod runtime: one sandbox per Running pod, real processes for its containers.

Every pod process is forked by the fork server (``zygote.py``). Isolation (chosen once per
runtime, see ``detect_isolation``):

* ``netns`` (root): a keeper process (new network and UTS namespaces, ``lo`` up, the pod IP on
  ``lo``, hostname = pod name, then ``sleep infinity``) holds the pod's namespaces. Containers
  join them with ``setns`` and exec sessions with ``nsenter``, so every pod has its own
  ``localhost`` and its own view in ``ss``. The API server reaches a pod's port through a socket
  created inside the namespace with ``setns(2)`` on the calling thread (``PodRuntime.connect``).
* ``none`` (not root, or ``LABTOOLS_FAKE_POD_ISOLATION=none``): no namespaces. Every emulated app
  listens on a distinct free host port; ``connect`` and the pod proxy map the container port to it,
  but ``kubectl exec POD -- curl localhost:8080`` then does not reach the pod and ``ss`` shows the
  host's sockets. (An unprivileged user+net namespace would need a relay process for every
  connection; it is not implemented.)

A container with its own command is that command (``execve`` after the namespaces). A container
whose image is emulated (``apps.py``) is a holder process (``sleep infinity`` in its namespaces)
plus the image's server, hosted in this process on a socket of the pod's network namespace
(``apphost.py``): no interpreter per pod.

The filesystem is the host's: a container's working directory is ``state_dir/pods/<ns>_<name>/``
(the bootcamp image's ``server.js`` is written there). With ``netns`` isolation, a container with
volume mounts gets a mount namespace of its own (``podmount.setup``) with each volume (written by
the kubelet under ``state_dir/kubelet/pods/<uid>/volumes``) bound at its ``mountPath``; its exec
sessions join that namespace (``nsenter -t PID -m -r -w``) and a hosted nginx reads its docroot
through ``/proc/PID/root``.

Container output goes to a CRI-format log file per container (``<RFC3339Nano> stdout F <line>``)
that ``streaming.handle_log`` reads.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from labtools.core.errors import ServiceError
from labtools.testing.apiserver import apps, podenv, spawn
from labtools.testing.apiserver.apphost import AppHost, HostedContainer, docroot_through, listen
from labtools.testing.apiserver.podenv import KUBERNETES_ENV, service_env
from labtools.testing.apiserver.zygote import RemoteProcess, ZygoteClient

POD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ISOLATION_ENV = "LABTOOLS_FAKE_POD_ISOLATION"
CLONE_NEWNET = 0x40000000
STOP_GRACE = 2.0


# a pod process: forked by the fork server (keepers, holders, commands), an emulated container
# (its holder and its server here), or started here (exec sessions)
Process = subprocess.Popen[bytes] | RemoteProcess | HostedContainer


class SandboxError(ServiceError):
    """A pod sandbox or one of its containers could not be started."""


class ExecNotFound(Exception):
    """The command of an exec does not exist in the container (the runtime's error text)."""


@dataclass
class Container:
    """One running container process and its log."""

    name: str
    image: str
    container_id: str
    env: dict[str, str]
    log_path: Path
    process: Process
    log_thread: threading.Thread | None
    # in a mount namespace of its own (its volumes at their mountPaths): exec joins it
    mounted: bool = False
    # the exit code an injected crash gives it (the process itself is killed)
    exit_override: int | None = None

    def exec_argv(self) -> list[str]:
        """The argv prefix that runs a command in this container's namespaces and root."""
        # root and working directory of the container's process: nsenter would open a --wd
        # path in our own mount namespace, outside the container's root
        return ["nsenter", "-t", str(self.process.pid), "-n", "-u", "-m", "-r", "-w", "--"]


@dataclass(frozen=True)
class Mount:
    """A volume mount of one container: what (on the host), where (in the container), how."""

    source: Path
    target: str
    read_only: bool


# each container's declared variables, or a function of the pod IP that resolves them
DeclaredEnv = dict[str, dict[str, str]] | Callable[[str], dict[str, dict[str, str]]]


@dataclass(frozen=True)
class Launch:
    """What the kubelet hands over to start one container."""

    services: list[dict[str, Any]] | None
    declared: dict[str, str] | None
    mounts: list[Mount]


@dataclass
class Sandbox:
    """A pod's namespaces (through its keeper process), working dir, containers and execs."""

    namespace: str
    name: str
    uid: str
    workdir: Path
    pod_ip: str
    keeper: Process | None
    containers: dict[str, Container] = field(default_factory=dict)
    port_map: dict[int, int] = field(default_factory=dict)
    execs: set[subprocess.Popen[bytes]] = field(default_factory=set)

    def enter_argv(self) -> list[str]:
        """The argv prefix that runs a command inside this sandbox's namespaces."""
        if self.keeper is None:
            return []
        pid = self.keeper.pid
        return ["nsenter", f"--net=/proc/{pid}/ns/net", f"--uts=/proc/{pid}/ns/uts", "--"]


def detect_isolation() -> str:
    """``netns`` when this process may create network namespaces, else ``none``."""
    forced = os.environ.get(ISOLATION_ENV, "")
    if forced in ("netns", "none"):
        return forced
    if os.geteuid() != 0 or not all(shutil.which(b) for b in ("unshare", "nsenter", "ip")):
        return "none"
    probe = subprocess.run(
        ["unshare", "--net", "--uts", "true"], capture_output=True, timeout=10, check=False
    )
    return "netns" if probe.returncode == 0 else "none"


def pod_key(pod: dict[str, Any]) -> tuple[str, str]:
    """(namespace, name) of a Pod object."""
    meta = pod.get("metadata", {})
    return meta.get("namespace") or "default", meta["name"]


def pod_hostname(name: str) -> str:
    """The hostname a pod gets: its name cut to 63 characters, like the kubelet does."""
    return name[:63].rstrip("-.") or "pod"


def container_env(
    pod: dict[str, Any],
    spec: dict[str, Any],
    services: list[dict[str, Any]] | None = None,
    declared: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a container's processes: never the host's.

    ``services`` are the cluster's Services when the container starts; without them only the
    ``kubernetes`` service's variables are set (its usual address). ``declared`` are the
    container's own variables as the kubelet resolved them (``podenv.container_variables``);
    without them the literal values and downward API fields of ``spec`` are used.
    """
    if services is None:
        links = KUBERNETES_ENV
    else:
        enabled = pod.get("spec", {}).get("enableServiceLinks", True) is not False
        links = service_env(services, pod_key(pod)[0], enabled)
    if declared is None:
        declared = podenv.container_variables(pod, spec, _no_objects, links, {})
    env = {"PATH": POD_PATH, "HOSTNAME": pod_hostname(pod_key(pod)[1]), **declared}
    for key, value in links.items():
        env.setdefault(key, value)
    for key, value in apps.image_env(spec.get("image", "")).items():
        env.setdefault(key, value)
    env.setdefault("HOME", "/root")
    return env


def _no_objects(kind: str, namespace: str, name: str) -> None:
    raise podenv.not_found(kind, name)


def container_spec(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    """The spec of the named container, or None."""
    for spec in pod.get("spec", {}).get("containers") or []:
        if spec.get("name") == container:
            return dict(spec)
    return None


def cri_timestamp(ns: int) -> str:
    """RFC 3339 with nanoseconds, as CRI log files and ``kubectl logs --timestamps`` show."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos:09d}Z"


def pump_log(stream: IO[bytes], path: Path) -> None:
    """Copy a container's output into its CRI-format log file, one timestamped line at a time."""
    pending = b""
    with path.open("ab", buffering=0) as out:
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                out.write(_cri_line(line, "F"))
        if pending:
            out.write(_cri_line(pending, "P"))
    stream.close()


def parse_cri_line(line: str) -> tuple[str, str, bool]:
    """(timestamp, content, partial) of one CRI log line."""
    parts = line.split(" ", 3)
    if len(parts) < 3:
        return "", line, False
    return parts[0], parts[3] if len(parts) == 4 else "", parts[2] == "P"


def _cri_line(content: bytes, tag: str) -> bytes:
    return f"{cri_timestamp(time.time_ns())} stdout {tag} ".encode() + content + b"\n"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def resolve_command(argv0: str, cwd: Path, root: Path | None = None) -> None:
    """Raise ExecNotFound with the OCI runtime's text when ``argv0`` cannot be executed.

    ``root``: the container's root as seen from here (``/proc/PID/root``) when it has mounts.
    """
    prefix = "OCI runtime exec failed: exec failed: unable to start container process: exec:"
    if "/" in argv0:
        target = cwd / argv0
        if root is not None and argv0.startswith("/"):
            target = root / argv0.lstrip("/")
        if not target.exists():
            raise ExecNotFound(
                f'{prefix} "{argv0}": stat {argv0}: no such file or directory: unknown'
            )
        return
    if shutil.which(argv0, path=POD_PATH) is None:
        raise ExecNotFound(f'{prefix} "{argv0}": executable file not found in $PATH: unknown')


class PodRuntime:
    """Starts and stops pod sandboxes; the streaming handlers use it to reach them."""

    # start() takes the cluster's Services for the containers' service variables
    service_links = True

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.isolation = detect_isolation()
        self._sandboxes: dict[tuple[str, str], Sandbox] = {}
        self._lock = threading.RLock()
        self._next_ip = 2  # 10.244.0.2 is CoreDNS's on a fresh minikube
        self._zygote: ZygoteClient | None = None
        self._apphost: AppHost | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(
        self,
        pod: dict[str, Any],
        services: list[dict[str, Any]] | None = None,
        env: DeclaredEnv | None = None,
        mounts: dict[str, list[Mount]] | None = None,
    ) -> dict[str, Any]:
        """Start the pod's sandbox and containers; podIP and container IDs for its status.

        ``services``: every Service of the cluster now, for the service link variables (without
        them the containers get only the ``kubernetes`` service's). ``env``: each container's
        declared variables as the kubelet resolved them (or a function of the pod IP that returns
        them, for the downward API's ``status.podIP``). ``mounts``: each container's volume
        mounts (host directory or file, mountPath, read-only).
        """
        key = pod_key(pod)
        uid = pod.get("metadata", {}).get("uid", "")
        with self._lock:
            current = self._sandboxes.get(key)
            if current is not None and current.uid == uid:
                return self._info(current)
        if current is not None:
            self.stop(*key)
        sandbox = self._new_sandbox(pod)
        try:
            declared = env(sandbox.pod_ip) if callable(env) else env
            for spec in pod.get("spec", {}).get("containers") or []:
                launch = Launch(
                    services,
                    (declared or {}).get(spec["name"]),
                    (mounts or {}).get(spec["name"], []),
                )
                container = self._start_container(sandbox, pod, spec, launch)
                sandbox.containers[spec["name"]] = container
        except Exception:
            self._teardown(sandbox)
            raise
        with self._lock:
            self._sandboxes[key] = sandbox
        return self._info(sandbox)

    def stop(self, namespace: str, name: str) -> None:
        """Stop the pod's containers, exec sessions and sandbox; no-op when it is not running."""
        with self._lock:
            sandbox = self._sandboxes.pop((namespace, name), None)
        if sandbox is not None:
            self._teardown(sandbox)

    def shutdown(self) -> None:
        """Stop every sandbox and the fork server; nothing is left running."""
        with self._lock:
            keys = list(self._sandboxes)
        for key in keys:
            self.stop(*key)
        with self._lock:
            zygote, self._zygote = self._zygote, None
            host, self._apphost = self._apphost, None
        if zygote is not None:
            zygote.close()
        if host is not None:
            host.close()

    def _info(self, sandbox: Sandbox) -> dict[str, Any]:
        ids = {name: c.container_id for name, c in sandbox.containers.items()}
        return {"podIP": sandbox.pod_ip, "containerIDs": ids}

    def _allocate_ip(self) -> str:
        with self._lock:
            number = self._next_ip
            self._next_ip += 1
        return f"10.244.{number // 254}.{number % 254 + 1}"

    def _new_sandbox(self, pod: dict[str, Any]) -> Sandbox:
        namespace, name = pod_key(pod)
        workdir = self.state_dir / "pods" / f"{namespace}_{name}"
        workdir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "logs" / f"{namespace}_{name}").mkdir(parents=True, exist_ok=True)
        pod_ip = self._allocate_ip()
        keeper = (
            self._start_keeper(pod_hostname(name), pod_ip) if self.isolation == "netns" else None
        )
        uid = pod.get("metadata", {}).get("uid", "")
        return Sandbox(namespace, name, uid, workdir, pod_ip, keeper)

    def _start_keeper(self, hostname: str, pod_ip: str) -> Process:
        """The process that owns the pod's namespaces; ready once it printed ``ready``."""
        spec = {"hostname": hostname, "ip": pod_ip, "path": POD_PATH}
        return self._ready(self.zygote, {"keeper": spec}, "the pod network namespace")

    def _start_container(
        self, sandbox: Sandbox, pod: dict[str, Any], spec: dict[str, Any], launch: Launch
    ) -> Container:
        name, image = spec["name"], spec.get("image", "")
        if apps.image_kind(image) == "bootcamp":
            (sandbox.workdir / "server.js").write_text(apps.BOOTCAMP_SERVER_JS)
        log_path = self.log_path(sandbox.namespace, sandbox.name, name)
        self._rotate_log(pod, name, log_path)
        env = container_env(pod, spec, launch.services, launch.declared)
        request: dict[str, Any] = {"cwd": str(sandbox.workdir), "env": env}
        mounted = bool(launch.mounts) and sandbox.keeper is not None
        if mounted:
            request["mounts"] = self._mount_plan(sandbox, name, launch.mounts)
        if sandbox.keeper is not None:
            ns = f"/proc/{sandbox.keeper.pid}/ns"
            request.update(net=f"{ns}/net", uts=f"{ns}/uts")
        command = self._container_argv(spec, env)
        if command:
            process, thread = self._start_command(request, command, log_path, name)
        else:
            process, thread = self._start_hosted(sandbox, spec, request, env, log_path), None
        seed = f"{sandbox.namespace}/{sandbox.name}/{name}/{time.time_ns()}"
        container_id = "docker://" + hashlib.sha256(seed.encode()).hexdigest()
        return Container(name, image, container_id, env, log_path, process, thread, mounted)

    def _start_command(
        self, request: dict[str, Any], command: list[str], log_path: Path, name: str
    ) -> tuple[Process, threading.Thread]:
        """The container's own command, forked by the fork server; its output pumped to the log."""
        read_end, write_end = os.pipe()
        try:
            process = self.zygote.spawn({**request, "argv": command}, stdout=write_end)
        finally:
            os.close(write_end)
        thread = threading.Thread(
            target=pump_log,
            args=(os.fdopen(read_end, "rb"), log_path),
            daemon=True,
            name=f"log-{name}",
        )
        thread.start()
        return process, thread

    def _start_hosted(
        self,
        sandbox: Sandbox,
        spec: dict[str, Any],
        request: dict[str, Any],
        env: dict[str, str],
        log_path: Path,
    ) -> HostedContainer:
        """An emulated image: a holder process in the container's namespaces, served from here."""
        holder = self._ready(self.zygote, {**request, "holder": True}, "the container's mounts")
        container = HostedContainer(holder, self.apphost)
        image = spec.get("image", "")
        docroot, keep_builtin = _docroot(image, spec)
        if docroot is not None and request.get("mounts"):
            docroot = docroot_through(holder.pid, docroot)
        writer = CriWriter(log_path)
        container.closers.append(writer.close)
        handler = apps.handler_class(image, env["HOSTNAME"], docroot, keep_builtin, writer.line)
        port = apps.default_port(image)
        if handler is None or port is None:
            return container  # an idle image: the process alone
        if self.isolation == "none":
            sandbox.port_map[port] = free_port()
        try:
            listener = listen(sandbox.port_map.get(port, port), self._socket_factory(sandbox))
        except OSError as exc:  # another container of the pod has the port
            writer.line(f"listen tcp :{port}: bind: {exc.strerror}")
            container.fail(1)
            return container
        self.apphost.serve(container, listener, handler)
        for line in apps.banner(handler):
            writer.line(line)
        return container

    def _socket_factory(self, sandbox: Sandbox) -> Callable[[int], socket.socket]:
        """New sockets in the pod's network namespace (the host's without isolation)."""
        keeper = sandbox.keeper
        if keeper is None:
            return lambda family: socket.socket(family, socket.SOCK_STREAM)
        path = f"/proc/{keeper.pid}/ns/net"
        return lambda family: socket_in_netns(path, family)

    def _ready(self, zygote: ZygoteClient, request: dict[str, Any], what: str) -> Process:
        """Fork a keeper or holder and wait for its ``ready``; SandboxError with what it said."""
        read_end, write_end = os.pipe()
        try:
            child = zygote.spawn(request, stdout=write_end)
        finally:
            os.close(write_end)
        with os.fdopen(read_end, "rb") as out:
            said = out.readline()
            if said.strip() != b"ready":
                said += out.read()
        if said.strip() != b"ready":
            child.kill()
            text = said.decode(errors="replace").strip() or "it exited"
            raise SandboxError(
                f"cannot create {what}: {text}",
                hint=f"set {ISOLATION_ENV}=none to run pods without isolation",
            )
        return child

    @property
    def apphost(self) -> AppHost:
        """The server of every emulated container of this runtime."""
        with self._lock:
            if self._apphost is None:
                self._apphost = AppHost()
            return self._apphost

    def _mount_plan(self, sandbox: Sandbox, container: str, mounts: list[Mount]) -> dict[str, Any]:
        """What ``podmount.setup`` makes of the container's mount namespace."""
        scratch = self.state_dir / "kubelet" / "scratch" / f"{sandbox.uid}-{container}"
        return {
            "mounts": [[str(m.source), m.target, m.read_only] for m in mounts],
            "scratch": str(scratch),
            "cwd": str(sandbox.workdir),
        }

    @property
    def zygote(self) -> ZygoteClient:
        """The fork server of this runtime (started on first use)."""
        with self._lock:
            if self._zygote is None:
                self._zygote = ZygoteClient(spawn.popen)
            return self._zygote

    def _container_argv(self, spec: dict[str, Any], env: dict[str, str]) -> list[str]:
        """The container's own command; empty when the image's emulation serves it."""
        kind = apps.image_kind(spec.get("image", ""))
        command, args = podenv.expand_argv(spec, env)
        if command or (args and kind is None):
            return command + args
        return []

    def _teardown(self, sandbox: Sandbox) -> None:
        """TERM then KILL every process of the pod, then the keeper; join the log pumps."""
        processes = [c.process for c in sandbox.containers.values()] + list(sandbox.execs)
        for process in processes:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            _signal_group(process, signal.SIGKILL)
            process.wait()
        if sandbox.keeper is not None:
            _kill_netns_members(sandbox.keeper.pid)
            _signal_group(sandbox.keeper, signal.SIGKILL)
            sandbox.keeper.wait()
        for container in sandbox.containers.values():
            if container.log_thread is not None:
                container.log_thread.join(timeout=5)
            for close in getattr(container.process, "closers", ()):
                close()

    # -- access for the streaming handlers -------------------------------------------------

    def sandbox(self, namespace: str, name: str) -> Sandbox | None:
        """The running sandbox of a pod, or None."""
        with self._lock:
            return self._sandboxes.get((namespace, name))

    def _rotate_log(self, pod: dict[str, Any], container: str, log_path: Path) -> None:
        """A restarted container's last log becomes its previous one (``logs --previous``);
        a new pod of the same name starts with neither."""
        previous = log_path.with_name(f"{container}.previous.log")
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        restarts = next((int(cs.get("restartCount") or 0) for cs in statuses
                         if cs.get("name") == container), 0)  # fmt: skip
        if restarts > 0 and log_path.exists():
            log_path.replace(previous)
        elif restarts == 0:
            log_path.unlink(missing_ok=True)
            previous.unlink(missing_ok=True)

    def previous_log_path(self, namespace: str, name: str, container: str) -> Path:
        """The log of the container's previous (terminated) instance; it may not exist."""
        return self.log_path(namespace, name, container).with_name(f"{container}.previous.log")

    def crash(self, namespace: str, name: str, container: str, code: int, lines: list[str]) -> None:
        """An injected crash: ``lines`` end the container's log, then it dies with ``code``."""
        sandbox = self.sandbox(namespace, name)
        found = sandbox.containers.get(container) if sandbox else None
        if found is None:
            return
        with found.log_path.open("ab", buffering=0) as log:
            for line in lines:
                log.write(_cri_line(line.encode(), "F"))
        found.exit_override = code
        _signal_group(found.process, signal.SIGKILL)
        found.process.wait()

    def log_path(self, namespace: str, name: str, container: str) -> Path:
        """Where the container's log file is (it may not exist yet)."""
        return self.state_dir / "logs" / f"{namespace}_{name}" / f"{container}.log"

    def is_running(self, namespace: str, name: str, container: str) -> bool:
        """True while the container's process lives."""
        sandbox = self.sandbox(namespace, name)
        found = sandbox.containers.get(container) if sandbox else None
        return found is not None and found.process.poll() is None

    def container_states(self, namespace: str, name: str) -> dict[str, int | None]:
        """Each container's exit code, None while it runs (for the API server's pod status)."""
        sandbox = self.sandbox(namespace, name)
        if sandbox is None:
            return {}
        states: dict[str, int | None] = {}
        for container_name, c in sandbox.containers.items():
            code = c.process.poll()
            if code is not None and c.exit_override is not None:
                code = c.exit_override
            elif code is not None and code < 0:  # killed: the runtime reports 128 + signal
                code = 128 - code
            states[container_name] = code
        return states

    def exec_process(
        self,
        namespace: str,
        name: str,
        container: str,
        argv: list[str],
        *,
        stdin: bool,
        tty_fd: int | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside the container's sandbox, with its env and working dir."""
        sandbox = self.sandbox(namespace, name)
        found = sandbox.containers.get(container) if sandbox else None
        if sandbox is None or found is None:
            raise ExecNotFound(f"container not found ({container!r})")
        root = Path(f"/proc/{found.process.pid}/root") if found.mounted else None
        resolve_command(argv[0], sandbox.workdir, root)
        env = dict(found.env)
        enter = found.exec_argv() if found.mounted else sandbox.enter_argv()
        if tty_fd is not None:
            env = {**dict(list(env.items())[:2]), "TERM": "xterm", **env}
            # setsid -c makes the pty the controlling terminal (job control in an exec'd shell).
            process = spawn.popen(
                ["setsid", "-c", *enter, *argv],
                cwd=sandbox.workdir,
                env=env,
                stdin=tty_fd,
                stdout=tty_fd,
                stderr=tty_fd,
            )
        else:
            process = spawn.popen(
                enter + argv,
                cwd=sandbox.workdir,
                env=env,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        sandbox.execs.add(process)
        return process

    def forget_exec(self, namespace: str, name: str, process: subprocess.Popen[bytes]) -> None:
        """Drop a finished exec session from the pod's bookkeeping."""
        sandbox = self.sandbox(namespace, name)
        if sandbox is not None:
            sandbox.execs.discard(process)

    def target(self, namespace: str, name: str, port: int) -> tuple[str, int]:
        """The address a connection to the pod's ``port`` goes to (for error messages too)."""
        sandbox = self.sandbox(namespace, name)
        if sandbox is None:
            raise ConnectionRefusedError(f"pod {namespace}/{name} has no sandbox")
        if sandbox.keeper is None:
            return "127.0.0.1", sandbox.port_map.get(port, port)
        return sandbox.pod_ip, port

    def connect(self, namespace: str, name: str, port: int, timeout: float = 10.0) -> socket.socket:
        """A TCP connection to ``port`` of the pod (from inside its network namespace)."""
        sandbox = self.sandbox(namespace, name)
        if sandbox is None:
            raise ConnectionRefusedError(f"pod {namespace}/{name} has no sandbox")
        return self._connect_sandbox(sandbox, port, timeout)

    def _connect_sandbox(self, sandbox: Sandbox, port: int, timeout: float) -> socket.socket:
        if sandbox.keeper is None:
            sock = socket.socket()
            address = ("127.0.0.1", sandbox.port_map.get(port, port))
        else:
            sock = socket_in_netns(f"/proc/{sandbox.keeper.pid}/ns/net")
            address = (sandbox.pod_ip, port)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            raise
        sock.settimeout(None)
        return sock


def _docroot(image: str, spec: dict[str, Any]) -> tuple[str | None, bool]:
    """Where a volume covers (part of) the image's static files: (docroot, keep its own)."""
    docroot = apps.docroot(image)
    paths = [str(m.get("mountPath") or "").rstrip("/") for m in spec.get("volumeMounts") or []]
    if docroot is None:
        return None, True
    if docroot in paths:
        return docroot, False
    if any(p.startswith(docroot + "/") for p in paths):
        return docroot, True
    return None, True


class CriWriter:
    """Appends whole lines to a container's CRI log file (an emulated image's console)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("ab", buffering=0)
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        """One line of output (without its newline)."""
        with self._lock:
            if not self._file.closed:
                self._file.write(_cri_line(text.encode(), "F"))

    def close(self) -> None:
        """No more output."""
        with self._lock:
            self._file.close()


def _signal_group(process: Process, signum: int) -> None:
    """Signal the process group led by ``process`` (each container has its own session)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)


def _kill_netns_members(keeper_pid: int) -> None:
    """SIGKILL every process still inside the keeper's network namespace (escaped daemons)."""
    try:
        target = os.stat(f"/proc/{keeper_pid}/ns/net").st_ino
    except OSError:
        return
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (keeper_pid, os.getpid()):
            continue
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{entry}/ns/net").st_ino == target:
                os.kill(int(entry), signal.SIGKILL)


_libc: Any = None


def socket_in_netns(netns_path: str, family: int = socket.AF_INET) -> socket.socket:
    """A new TCP socket that belongs to another network namespace.

    ``setns`` changes only the calling thread's namespace; the socket keeps the namespace it was
    created in, so the thread switches back at once and can connect from anywhere.
    """
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns_path, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns_path}")
        try:
            return socket.socket(family, socket.SOCK_STREAM)
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the server's namespace")
    finally:
        os.close(own)
        os.close(target)
