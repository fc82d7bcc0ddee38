"""`FakeCluster`: run the fake API server as a child process and drive the real kubectl at it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from labtools.core.errors import ServiceError
from labtools.testing.apiserver import spawn
from labtools.testing.faults import FaultClient

READY_RE = re.compile(r"fake apiserver ready at (\S+)")


class FakeCluster:
    """A fake Kubernetes API server in its own process group, with a kubeconfig for kubectl."""

    def __init__(
        self,
        workdir: Path,
        *,
        name: str = "fake",
        http: bool = False,
        port: int = 0,
        node_name: str = "minikube",
        pod_ready_delay: float = 0.5,
        data_file: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.workdir = Path(workdir)
        self.name = name
        self.http = http
        self.port = port
        self.node_name = node_name
        self.pod_ready_delay = pod_ready_delay
        self.data_file = data_file
        self.extra_args = list(extra_args)
        self.kubeconfig = self.workdir / "kubeconfig"
        self.context = name
        self.server = ""
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = self.workdir / "apiserver.log"

    def argv(self) -> list[str]:
        """The server command line."""
        argv = [
            sys.executable,
            "-m",
            "labtools.testing.apiserver",
            "--kubeconfig",
            str(self.kubeconfig),
            "--port",
            str(self.port),
            "--name",
            self.name,
            "--node-name",
            self.node_name,
            "--cert-dir",
            str(self.workdir / "certs"),
            "--state-dir",
            str(self.workdir / "state"),
            "--pod-ready-delay",
            str(self.pod_ready_delay),
        ]
        if self.http:
            argv.append("--http")
        if self.data_file is not None:
            argv += ["--data", str(self.data_file)]
        return argv + self.extra_args

    def start(self, timeout: float = 15.0) -> FakeCluster:
        """Start the server in its own process group and wait for its kubeconfig."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.kubeconfig.unlink()
        # stdout goes to the log file too: a pipe nobody reads would block the server
        with self._log.open("w") as log:
            # dies with this process (PR_SET_PDEATHSIG): a test run killed before its fixtures'
            # teardown leaves no server behind
            self._proc = spawn.popen(
                self.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid = self._proc.pid
        deadline = time.monotonic() + timeout
        match = None
        while time.monotonic() < deadline and self._proc.poll() is None:
            match = READY_RE.search(self._log.read_text())
            if match and self.kubeconfig.exists():
                break
            time.sleep(0.03)
        if not match or not self.kubeconfig.exists():
            tail = self._log.read_text()[-2000:]
            self.stop()
            raise ServiceError(f"fake API server did not start within {timeout}s: {tail}")
        self.server = match.group(1)
        # a later start (after `kill`) comes back on the same port, like a restarted server
        self.port = urlsplit(self.server).port or self.port
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it does not exit in time."""
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        # children of the server (pod sandboxes) share its group: make sure none is left
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        self._proc = None

    def kill(self, timeout: float = 10.0) -> None:
        """``kill -9`` the server process alone (not its group), as a crash or an OOM kill would.

        What it started must die with it (the pods get a parent-death signal); ``start()``
        afterwards brings it back on the same port with its certificates (and, with
        ``data_file``, its objects).
        """
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
        self._proc = None

    # ---- fault injection (the server's /_fake admin endpoint) ----------------------------
    @property
    def admin(self) -> FaultClient:
        """The admin endpoint, reached with this cluster's kubeconfig (the admin certificate)."""
        return FaultClient(self.kubeconfig, self.context)

    def inject(self, kind: str, **spec: Any) -> dict[str, Any]:
        """Inject a fault (``labtools.testing.apiserver.faults``); the server's view with its id."""
        return self.admin.add({"kind": kind, **spec})

    def clear_faults(self, fault_id: str | None = None) -> int:
        """Clear one fault or all of them; how many were cleared."""
        return self.admin.clear(fault_id)

    def restart(self, downtime: float = 0.0, timeout: float = 30.0) -> dict[str, Any]:
        """Kill the server (its pods with it) and wait until it serves again: same port, pid,
        certificates and (with ``data_file``) objects. Returns the new ``GET /_fake`` info."""
        return self.admin.restart(downtime, timeout)

    def env(self) -> dict[str, str]:
        """Environment for kubectl: isolated HOME, KUBECONFIG and discovery cache."""
        env = dict(os.environ)
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        env.update(
            HOME=str(home),
            KUBECONFIG=str(self.kubeconfig),
            KUBECACHEDIR=str(self.workdir / "kube-cache"),
        )
        return env

    def kubectl(
        self, *args: str, check: bool = False, timeout: float = 60, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster."""
        argv = [
            "kubectl",
            f"--kubeconfig={self.kubeconfig}",
            f"--context={self.context}",
            f"--cache-dir={self.workdir / 'kube-cache'}",
            *args,
        ]
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            env=self.env(),
            input=stdin,
        )

    def __enter__(self) -> FakeCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class NamespacedKubectl:
    """kubectl bound to one namespace of a FakeCluster (handy in tests)."""

    def __init__(self, cluster: FakeCluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def __call__(
        self, *args: str, timeout: float = 60, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `kubectl -n NAMESPACE ARGS`."""
        return self.cluster.kubectl("-n", self.namespace, *args, timeout=timeout, stdin=stdin)

    def ok(self, *args: str, timeout: float = 60, stdin: str | None = None) -> str:
        """Run kubectl, require exit 0 and return stdout."""
        result = self(*args, timeout=timeout, stdin=stdin)
        if result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result.stdout
