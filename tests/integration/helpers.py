"""Integration helpers: a copied project with isolated HOME, KUBECONFIG and MINIKUBE_HOME."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INVOKE_TIMEOUT = 600


@dataclass
class LabProject:
    """A copy of the project in a temp dir, with an isolated HOME/KUBECONFIG/MINIKUBE_HOME."""

    root: Path
    env: dict[str, str]

    def invoke(
        self, *args: str, timeout: float = INVOKE_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run `invoke ARGS` in the project, as a user would."""
        argv = [sys.executable, "-m", "invoke", *args]
        return subprocess.run(
            argv, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start `invoke ARGS` in its own process group (like a terminal's foreground job)."""
        argv = [sys.executable, "-m", "invoke", *args]
        return subprocess.Popen(
            argv,
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def latest_run(self) -> Path:
        """The newest run directory."""
        return (self.root / "runs" / "latest").resolve()

    def journal(self) -> list[dict[str, object]]:
        """The newest run's journal events."""
        lines = (self.latest_run() / "journal.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def kubeconfig_contexts(self) -> list[str]:
        """Context names in the isolated kubeconfig (none when the file is gone)."""
        path = Path(self.env["KUBECONFIG"])
        if not path.exists():
            return []
        out = subprocess.run(
            ["kubectl", "config", "get-contexts", "-o", "name"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return out.stdout.split()


def processes_mentioning(marker: str) -> list[tuple[int, str]]:
    """Live processes whose command line or environment mentions ``marker`` (a temp dir)."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        if marker in cmdline or marker in environ:
            found.append((int(entry.name), cmdline.strip()))
    return found


def kill_processes_mentioning(marker: str) -> None:
    """Last-resort cleanup so a failing test does not leak processes into the next ones."""
    for pid, _ in processes_mentioning(marker):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def wait_until_gone(marker: str, timeout: float = 10.0) -> list[tuple[int, str]]:
    """Processes still mentioning ``marker`` after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    left = processes_mentioning(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = processes_mentioning(marker)
    return left


def copy_project(dest: Path) -> None:
    """tasks.py, playbooks/ and templates/ of the repo (a user's checkout)."""
    shutil.copy2(REPO / "tasks.py", dest / "tasks.py")
    shutil.copytree(REPO / "playbooks", dest / "playbooks")
    if (REPO / "templates").is_dir():
        shutil.copytree(REPO / "templates", dest / "templates")


def isolated_env(base: Path, *, path_prefix: Path | None = None) -> dict[str, str]:
    """HOME, KUBECONFIG and MINIKUBE_HOME under ``base``; plain output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "LABTOOLS_"))}
    (base / "home").mkdir()
    env.update(
        HOME=str(base / "home"),
        KUBECONFIG=str(base / "home" / ".kube" / "config"),
        MINIKUBE_HOME=str(base / "home" / ".minikube"),
        NO_COLOR="1",
        LABTOOLS_FAKE_POD_DELAY="0.3",
        LABTOOLS_LOCK_DIR=str(base / "locks"),  # the runs' target locks, where a test sees them
        PYTHONDONTWRITEBYTECODE="1",
    )
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}:{env['PATH']}"
    return env
