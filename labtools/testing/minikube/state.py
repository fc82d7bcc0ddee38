"""On-disk state under $MINIKUBE_HOME and the per-profile fake API server processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVER_MODULE = "labtools.testing.apiserver"
# Tests may swap in a stand-in server module (it must accept the same command line).
SERVER_MODULE_ENV = "LABTOOLS_FAKE_APISERVER_MODULE"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0

# Popen objects of servers started by this process; kept so they are reaped, not left as zombies.
_children: dict[int, subprocess.Popen[bytes]] = {}


def server_module() -> str:
    """The module run as the fake API server (``labtools.testing.apiserver`` unless overridden)."""
    return os.environ.get(SERVER_MODULE_ENV) or SERVER_MODULE


def minikube_home() -> Path:
    """localpath.MiniPath: $MINIKUBE_HOME (with ``.minikube`` appended unless it ends so)."""
    base = os.environ.get("MINIKUBE_HOME")
    if not base:
        return Path.home() / ".minikube"
    path = Path(base).expanduser()
    return path if path.name == ".minikube" else path / ".minikube"


def profiles_dir() -> Path:
    """$MINIKUBE_HOME/profiles."""
    return minikube_home() / "profiles"


def profile_dir(name: str) -> Path:
    """$MINIKUBE_HOME/profiles/<name>."""
    return profiles_dir() / name


@dataclass(frozen=True)
class ServerFiles:
    """Where one profile's fake API server keeps its files."""

    profile: Path

    @property
    def pid(self) -> Path:
        return self.profile / "apiserver.pid"

    @property
    def kubeconfig(self) -> Path:
        return self.profile / "apiserver.kubeconfig"

    @property
    def data(self) -> Path:
        return self.profile / "apiserver-data.json"

    @property
    def log(self) -> Path:
        return self.profile / "apiserver.log"

    @property
    def state(self) -> Path:
        return self.profile / "apiserver"


def files(name: str) -> ServerFiles:
    """The server files of profile ``name``."""
    return ServerFiles(profile_dir(name))


def ca_files() -> tuple[Path, Path]:
    """$MINIKUBE_HOME/ca.crt and ca.key: the one CA every profile's certificates are signed by."""
    home = minikube_home()
    return home / "ca.crt", home / "ca.key"


def load_config(name: str) -> dict[str, Any] | None:
    """The profile's ClusterConfig, or None when it does not exist or does not parse."""
    path = profile_dir(name) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("Name") == name else None


def save_config(name: str, config: dict[str, Any]) -> None:
    """Write config.json the way minikube does (indented, Go field order)."""
    path = profile_dir(name) / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=4), encoding="utf-8")


def profile_names() -> list[str]:
    """Every directory under profiles/, sorted (valid or not)."""
    root = profiles_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir())


def _is_our_server(pid: int) -> bool:
    """True when ``pid`` is a live (not zombie) fake API server process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in {"Z", "X"} and server_module().encode() in cmdline


def read_pid(name: str) -> int | None:
    """The recorded pid of the profile's server (alive or not)."""
    try:
        return int(files(name).pid.read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(name: str) -> int | None:
    """The pid of the profile's server when it is running, else None."""
    pid = read_pid(name)
    return pid if pid is not None and _is_our_server(pid) else None


def server_url(name: str) -> str | None:
    """The https URL the server wrote into its own kubeconfig."""
    try:
        data = yaml.safe_load(files(name).kubeconfig.read_text(encoding="utf-8"))
        return str(data["clusters"][0]["cluster"]["server"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


class ServerStartError(Exception):
    """The fake API server did not come up; the message holds the tail of its log."""


def start_server(name: str, kubernetes_version: str) -> int:
    """Start the profile's server detached (own session) and wait until it is ready."""
    f = files(name)
    f.kubeconfig.unlink(missing_ok=True)
    f.state.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        server_module(),
        "--kubeconfig",
        str(f.kubeconfig),
        "--name",
        name,
        "--node-name",
        name,
        "--cert-dir",
        str(f.profile),
        "--ca-cert",
        str(ca_files()[0]),
        "--ca-key",
        str(ca_files()[1]),
        "--state-dir",
        str(f.state),
        "--data",
        str(f.data),
        "--kubernetes-version",
        kubernetes_version,
    ]
    with f.log.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _children[proc.pid] = proc
    f.pid.write_text(f"{proc.pid}\n")
    _wait_ready(proc, f)
    return proc.pid


def _wait_ready(proc: subprocess.Popen[bytes], f: ServerFiles) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not f.kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            _kill_group(proc.pid)
            tail = f.log.read_text(errors="replace").splitlines()[-15:]
            raise ServerStartError("\n".join(tail))
        time.sleep(0.02)


def stop_server(name: str) -> bool:
    """SIGTERM the profile's server (its whole process group); True when one was running."""
    pid = running_pid(name)
    files(name).pid.unlink(missing_ok=True)
    if pid is None:
        return False
    _kill_group(pid)
    return True


def _kill_group(pid: int) -> None:
    """TERM the server's process group, wait a little, then KILL what is left."""
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        _reap(pid)
        if not _alive(pid):
            break
        time.sleep(0.02)
    _signal_group(pid, signal.SIGKILL)
    _reap(pid)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in {"Z", "X"}


def _reap(pid: int) -> None:
    proc = _children.get(pid)
    if proc is not None and proc.poll() is not None:
        del _children[pid]


def node_ip(name: str) -> str:
    """192.168.49.N: the first address not used by another profile (minikube's kic network)."""
    config = load_config(name)
    if config and config.get("Nodes"):
        return str(config["Nodes"][0]["IP"])
    used = set()
    for other in profile_names():
        other_config = load_config(other)
        if other_config and other_config.get("Nodes"):
            used.add(other_config["Nodes"][0].get("IP"))
    n = 2
    while f"192.168.49.{n}" in used:
        n += 1
    return f"192.168.49.{n}"
