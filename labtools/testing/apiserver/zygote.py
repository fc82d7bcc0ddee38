"""The pod runtime's fork server: one small Python that forks every pod process.

The API server starts it once (``python -m labtools.testing.apiserver.zygote FD``) and asks it
for children; forking a 15 MiB process costs less than forking the API server (which needs its
parent-death signal set in a ``preexec_fn``, so no vfork) and nothing is imported per child:

* a **keeper** (``unshare`` of a network and UTS namespace, hostname, ``lo`` up with the pod IP,
  ``ready`` on its stdout, then it becomes ``sleep infinity``): the sandbox the pod's containers
  and exec sessions join;
* a **holder**: joins the keeper's namespaces (``setns``), gets a mount namespace with the
  container's volumes when it has some (``podmount.setup``), says ``ready`` and becomes ``sleep
  infinity``: the process of a container whose image the API server emulates (``apphost.py``);
* a **command**: the same namespaces and mounts, its working directory, environment and log
  pipe, then ``execve`` of the container's own command.

Each child is its own session (its group is what a stop signals), gets SIGKILL as its
parent-death signal, and is reaped here; its exit is reported to the API server. The fork server
itself gets SIGTERM when the API server dies, and then kills every group it started before it
exits, so ``kill -9`` of the server leaves nothing behind.

Protocol over one SOCK_SEQPACKET socket: the server sends ``{"id", "op": "spawn", ...}`` with
the child's stdout as an SCM_RIGHTS descriptor; the fork server answers ``{"id", "pid"}`` or
``{"id", "error"}`` and later sends ``{"exit": pid, "code": N}`` (``-signal`` when killed).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

PR_SET_PDEATHSIG = 1
CLONE_NEWNET, CLONE_NEWUTS = 0x40000000, 0x04000000
# a request carries a container's environment: far below the socket buffer (~208 KiB)
MAX_MESSAGE = 1 << 17
_libc: Any = None


def libc() -> Any:
    """The C library (ctypes), loaded once."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def die_with_parent(signum: int, parent: int) -> None:
    """Arm the parent-death signal; exit at once if the parent is already gone."""
    _check(libc().prctl(PR_SET_PDEATHSIG, signum), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:
        os._exit(1)


def exit_code(status: int) -> int:
    """A wait status as Popen reports it: the exit code, or minus the killing signal."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


# ---- the fork server ----------------------------------------------------------------------
class ForkServer:
    """The fork server's single-threaded loop: spawn requests, reaping, cleanup at the end."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.children: set[int] = set()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)

    def serve(self) -> None:
        """Until the API server goes away (EOF or SIGTERM)."""
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: self.finish())
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            try:
                ready, _, _ = select.select([self.sock.fileno(), self.wake_r], [], [])
            except InterruptedError:
                continue
            if self.wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self.wake_r, 4096)
                self.reap()
            if self.sock.fileno() in ready and not self.handle():
                self.finish()

    def handle(self) -> bool:
        """One request; False when the server closed its end."""
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 4)
        except ConnectionResetError:
            return False
        if not data:
            return False
        request = json.loads(data)
        try:
            pid = self.fork(request, fds)
            answer: dict[str, Any] = {"id": request["id"], "pid": pid}
        except OSError as exc:
            answer = {"id": request["id"], "error": str(exc)}
        finally:
            for fd in fds:
                os.close(fd)
        self.send(answer)
        return True

    def send(self, message: dict[str, Any]) -> None:
        """One message to the API server (gone: we are about to finish anyway)."""
        with contextlib.suppress(OSError):
            self.sock.send(json.dumps(message).encode())

    def fork(self, request: dict[str, Any], fds: list[int]) -> int:
        """Fork one child for ``request``; its pid."""
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            self._child(request, fds, parent)  # never returns
        self.children.add(pid)
        return pid

    def _child(self, request: dict[str, Any], fds: list[int], parent: int) -> None:
        code = 127
        try:
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_DFL)
            os.setsid()
            die_with_parent(signal.SIGKILL, parent)
            for fd in (self.sock.fileno(), self.wake_r, self.wake_w):
                os.close(fd)
            code = run_child(request, fds)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 127
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def reap(self) -> None:
        """Collect every child that ended and tell the API server."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.send({"exit": pid, "code": exit_code(status)})

    def finish(self) -> None:
        """The API server is gone: kill every group we started, then exit."""
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        os._exit(0)


def run_child(request: dict[str, Any], fds: list[int]) -> int:
    """In the forked child: namespaces, stdio, working directory, then what it is to run.

    ``keeper``: new network and UTS namespaces; ``holder``: join them, set the mounts up and
    hold them (a hosted container's process); ``argv``: join them, mounts, then exec.
    """
    out = fds[0] if fds else os.open(os.devnull, os.O_WRONLY)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    for fd in {null, out, *fds}:
        if fd > 2:
            os.close(fd)
    if request.get("keeper"):
        return keep_namespaces(request["keeper"])
    for kind, flag in (("net", CLONE_NEWNET), ("uts", CLONE_NEWUTS)):
        if request.get(kind):
            target = os.open(request[kind], os.O_RDONLY | os.O_CLOEXEC)
            _check(libc().setns(target, flag), f"setns {request[kind]}")
            os.close(target)
    env: dict[str, str] = request.get("env") or {}
    if request.get("mounts"):  # a mount namespace of its own with the pod's volumes
        from labtools.testing.apiserver import podmount

        try:
            podmount.setup(request["mounts"])
        except (podmount.MountFailure, OSError) as exc:
            sys.stderr.write(f"failed to create container mounts: {exc}\n")
            return 128
    else:
        os.chdir(request.get("cwd") or "/")
    if request.get("holder"):
        return hold(env)
    argv = request["argv"]
    if "/" in argv[0]:
        os.execve(argv[0], argv, env)
    _exec_in_path(argv, env, env.get("PATH", os.defpath))
    return 127


def hold(env: dict[str, str]) -> int:
    """Say ``ready`` on stdout, then become ``sleep infinity``: the namespaces stay held."""
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    # what holds namespaces needs no interpreter: `sleep` costs a tenth of a fork of ours
    sleep = shutil.which("sleep", path=env.get("PATH") or os.defpath)
    if sleep is not None:
        os.execve(sleep, ["sleep", "infinity"], env)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    while True:
        signal.pause()


def _exec_in_path(argv: list[str], env: dict[str, str], path: str) -> None:
    """execvpe with the container's PATH (not ours); the runtime's error when nothing runs."""
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory or ".", argv[0])
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            os.execve(candidate, argv, env)
    sys.stderr.write(f'exec: "{argv[0]}": executable file not found in $PATH\n')
    sys.stderr.flush()
    os._exit(127)


def keep_namespaces(spec: dict[str, str]) -> int:
    """The sandbox keeper: new network and UTS namespaces, named and addressed, then wait."""
    _check(libc().unshare(CLONE_NEWNET | CLONE_NEWUTS), "unshare")
    socket.sethostname(spec["hostname"])
    env = {"PATH": spec.get("path") or os.defpath}
    for argv in (
        ["ip", "link", "set", "lo", "up"],
        ["ip", "addr", "add", f"{spec['ip']}/32", "dev", "lo"],
    ):
        done = subprocess.run(argv, env=env, capture_output=True, check=False)
        if done.returncode != 0:
            sys.stdout.write(done.stderr.decode(errors="replace"))
            return 1
    return hold(env)


def main(argv: list[str] | None = None) -> int:
    """``python -m labtools.testing.apiserver.zygote FD``: serve the API server on socket FD."""
    args = sys.argv[1:] if argv is None else argv
    die_with_parent(signal.SIGTERM, int(os.environ.get("LABTOOLS_ZYGOTE_PARENT", os.getppid())))
    sock = socket.socket(fileno=int(args[0]))
    # imported once, shared by every fork
    from labtools.testing.apiserver import podmount

    del podmount
    import gc

    gc.collect()
    gc.freeze()  # forked children then leave these objects' pages shared
    ForkServer(sock).serve()
    return 0


# ---- the API server's side ----------------------------------------------------------------
class RemoteProcess:
    """A child of the fork server, with the part of Popen's interface the runtime uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdout = None
        self._done = threading.Event()

    def _exited(self, code: int) -> None:
        self.returncode = code
        self._done.set()

    def poll(self) -> int | None:
        """The exit code once it ended, else None."""
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end; ``subprocess.TimeoutExpired`` after ``timeout``."""
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Signal the process (not its group)."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM."""
        self.send_signal(signal.SIGTERM)


class ZygoteClient:
    """The API server's end: starts the fork server on first use and asks it for children."""

    def __init__(self, popen: Callable[..., subprocess.Popen[bytes]]) -> None:
        self._popen = popen
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending: dict[int, Future[RemoteProcess]] = {}
        self._children: dict[int, RemoteProcess] = {}
        self._ids = 0

    def _ensure(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**os.environ, "LABTOOLS_ZYGOTE_PARENT": str(os.getpid())}
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self._proc = self._popen(
            [sys.executable, "-m", "labtools.testing.apiserver.zygote", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            env=env,
        )
        theirs.close()
        self._sock = ours
        threading.Thread(target=self._read, args=(ours,), daemon=True, name="zygote").start()
        return ours

    def spawn(self, request: dict[str, Any], stdout: int | None = None) -> RemoteProcess:
        """Fork a child (see ``run_child``); ``stdout`` is passed and stays ours to close."""
        done: Future[RemoteProcess] = Future()
        with self._lock:
            sock = self._ensure()
            self._ids += 1
            request = {**request, "id": self._ids}
            self._pending[self._ids] = done
            socket.send_fds(
                sock, [json.dumps(request).encode()], [] if stdout is None else [stdout]
            )
        return done.result(timeout=30)

    def _read(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(MAX_MESSAGE)
            except OSError:
                data = b""
            if not data:
                self._lost(sock)
                return
            message = json.loads(data)
            if "exit" in message:
                child = self._children.pop(message["exit"], None)
                if child is not None:
                    child._exited(int(message["code"]))
                continue
            future = self._pending.pop(message["id"], None)
            if future is None:
                continue
            if "error" in message:
                future.set_exception(OSError(errno.EIO, message["error"]))
            else:
                child = RemoteProcess(int(message["pid"]))
                self._children[child.pid] = child
                future.set_result(child)

    def _lost(self, sock: socket.socket) -> None:
        """The fork server ended: its children died with it (their parent-death signal)."""
        with self._lock:
            if self._sock is sock:
                self._sock = None
            pending, self._pending = self._pending, {}
            children, self._children = self._children, {}
        for future in pending.values():
            future.set_exception(OSError(errno.EPIPE, "the pod fork server ended"))
        for child in children.values():
            child._exited(-signal.SIGKILL)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)

    def close(self) -> None:
        """Stop the fork server (it kills what it started)."""
        with self._lock:
            sock, self._sock = self._sock, None
            proc = self._proc
        if sock is not None:
            # shutdown, not just close: the reader thread blocked in recv() keeps the socket
            # open past close(), and the fork server would never see its end of file
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


if __name__ == "__main__":
    sys.exit(main())
