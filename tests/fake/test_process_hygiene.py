"""What the fake cluster leaves behind: no orphan process, nothing in the user's HOME.

Issue 10, defects 6 and 8: after ``kill -9`` of the fake API server its pod processes lived on
with PPID 1; every fake cluster start left ``~/.kube/cache/discovery/127.0.0.1_<port>``; the
suite wrote ``~/.minikube/logs/audit.json``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labtools.core.model import Host
from labtools.providers import get_provider
from labtools.testing.cluster import FakeCluster

pytestmark = pytest.mark.fake

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(ppid, state, start time) of a live process, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0], int(fields[19])


def descendants(root: int) -> dict[int, tuple[int, str]]:
    """Every live descendant of ``root``: pid -> (start time, command line)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            children.setdefault(st[0], []).append(int(entry.name))
    found: dict[int, tuple[int, str]] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        st = _stat(pid)
        if st is None or st[1] == "Z":
            continue
        with_args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        found[pid] = (st[2], with_args.strip())
        todo += children.get(pid, [])
    return found


def alive(procs: dict[int, tuple[int, str]]) -> list[str]:
    """The processes of ``procs`` still running (same pid and start time, not a zombie)."""
    left = []
    for pid, (started, cmdline) in procs.items():
        st = _stat(pid)
        if st is not None and st[2] == started and st[1] != "Z":
            left.append(f"{pid} (ppid {st[0]}): {cmdline}")
    return left


def wait_gone(procs: dict[int, tuple[int, str]], timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := alive(procs)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def start_pods(cluster: FakeCluster) -> subprocess.Popen[bytes]:
    """A bootcamp app, nginx, a pod running its own command, and an exec session in it."""
    ok = cluster.kubectl
    assert ok("create", "deployment", "web", f"--image={BOOTCAMP}").returncode == 0
    assert ok("run", "nginx", "--image=nginx").returncode == 0
    assert ok("run", "sleeper", "--image=busybox", "--", "sleep", "1000").returncode == 0
    # a container whose command forks: the fork stays in the container's process group
    forker = ["run", "forker", "--image=busybox", "--", "sh", "-c", "sleep 1001 & wait"]
    assert ok(*forker).returncode == 0
    waited = ok("wait", "--for=condition=Ready", "pod", "--all", "--timeout=60s")
    assert waited.returncode == 0, waited.stderr
    argv = ["kubectl", f"--kubeconfig={cluster.kubeconfig}", f"--context={cluster.context}",
            f"--cache-dir={cluster.workdir / 'kube-cache'}", "exec", "sleeper", "--",
            "sleep", "999"]  # fmt: skip
    session = subprocess.Popen(argv, env=cluster.env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any("sleep 999" in c for _, c in descendants(cluster.pid or 0).values()):
            break
        time.sleep(0.1)
    return session


def test_kill_9_of_the_server_takes_its_pods_with_it(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "c", pod_ready_delay=0.2).start()
    session = None
    try:
        session = start_pods(cluster)
        procs = descendants(cluster.pid or 0)
        commands = " | ".join(c for _, c in procs.values())
        assert "labtools.testing.apiserver.zygote" in commands  # the pods' fork server
        assert commands.count("sleep infinity") >= 4  # sandboxes and emulated containers
        assert "sleep 1000" in commands
        assert "sleep 1001" in commands
        assert "sleep 999" in commands
        cluster.kill()
        assert wait_gone(procs) == []
    finally:
        if session is not None:
            session.kill()
            session.wait()
        cluster.stop()


def test_a_restart_kills_the_old_pods_and_starts_them_again(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    with FakeCluster(tmp_path / "c", pod_ready_delay=0.2, data_file=data) as cluster:
        assert cluster.kubectl("create", "deployment", "web", f"--image={BOOTCAMP}").returncode == 0
        waited = cluster.kubectl("wait", "--for=condition=Ready", "pod", "--all", "--timeout=60s")
        assert waited.returncode == 0
        old = descendants(cluster.pid or 0)
        assert old
        cluster.restart()
        assert wait_gone(old) == []
        waited = cluster.kubectl("wait", "--for=condition=Ready", "pod", "--all", "--timeout=60s")
        assert waited.returncode == 0, waited.stderr
        restarts = cluster.kubectl(
            "get", "pods", "-o", "jsonpath={.items[*].status.containerStatuses[*].restartCount}"
        )
        assert restarts.stdout == "1"  # like the kubelet after a node restart


def test_fake_provider_keeps_kubectls_cache_in_the_fake_home(tmp_path: Path) -> None:
    with FakeCluster(tmp_path / "c") as cluster:
        home = tmp_path / "home"
        home.mkdir()
        host = Host(name="basics", provider="fake", vars={"project_root": str(tmp_path / "p")})
        env = {**os.environ, "HOME": str(home), **get_provider("fake").env(host)}
        result = subprocess.run(
            ["kubectl", f"--kubeconfig={cluster.kubeconfig}", "get", "namespaces"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert list(home.iterdir()) == []
        cached = tmp_path / "p" / ".labtools" / "fake-minikube" / "kube-cache" / "discovery"
        assert (cached / f"127.0.0.1_{cluster.port}").is_dir()


def test_fake_cluster_env_keeps_kubectls_cache_in_its_workdir(tmp_path: Path) -> None:
    with FakeCluster(tmp_path / "c") as cluster:
        env = cluster.env()
        result = subprocess.run(
            ["kubectl", f"--kubeconfig={cluster.kubeconfig}", "get", "namespaces"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "c" / "kube-cache" / "discovery" / f"127.0.0.1_{cluster.port}").is_dir()
        assert not (tmp_path / "c" / "home" / ".kube").exists()


def _minikube(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIKUBE_")}
    env.update(HOME=str(home), KUBECONFIG=str(home / "kubeconfig"))
    return subprocess.run(
        [sys.executable, "-m", "labtools.testing.minikube", *args],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [["version", "--short"], ["status"], ["profile", "list"], ["logs"], ["version"]],
)
def test_commands_minikube_does_not_audit_write_no_audit_log(
    tmp_path: Path, args: list[str]
) -> None:
    # minikube's pkg/minikube/audit/audit.go, shouldLog: status, version, logs,
    # generate-docs and profile are never logged
    _minikube(tmp_path, *args)
    assert not (tmp_path / ".minikube" / "logs" / "audit.json").exists()


def test_other_commands_are_audited(tmp_path: Path) -> None:
    _minikube(tmp_path, "ip", "-p", "nosuch")
    assert '"command":"ip"' in (tmp_path / ".minikube" / "logs" / "audit.json").read_text()


def test_the_shim_tests_write_nothing_into_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIKUBE_")}
    env.update(HOME=str(home))
    tests = Path(__file__).with_name("test_plugin.py")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--basetemp={tmp_path / 'inner'}",
         f"{tests}::test_install_shim_runs_the_fake", f"{tests}::test_print_export_one_liner"],
        env=env, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []


def test_a_runtime_shutdown_ends_its_fork_server(tmp_path: Path) -> None:
    """PodRuntime.shutdown ends the zygote at once (not only when its parent dies): an
    in-process runtime (the streaming tests) must not leave one fork server per test."""
    from labtools.testing.apiserver.pods import PodRuntime

    runtime = PodRuntime(tmp_path / "state")
    pod = {
        "metadata": {"name": "p", "namespace": "default", "uid": "uid-p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "nodeName": "minikube"},
    }
    runtime.start(pod)  # the fork server starts with the first pod
    client = runtime.zygote
    assert client._proc is not None
    pid = client._proc.pid
    runtime.shutdown()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()


def test_a_killed_test_run_takes_its_fake_clusters_with_it(tmp_path: Path) -> None:
    # a pytest killed before its fixtures' teardown left its FakeCluster running with PPID 1
    script = (
        "import sys, time; from pathlib import Path\n"
        "from labtools.testing.cluster import FakeCluster\n"
        f"c = FakeCluster(Path({str(tmp_path / 'c')!r})).start()\n"
        "print(c.pid, flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    server = int(holder.stdout.readline())
    assert _stat(server) is not None
    holder.kill()
    holder.wait(timeout=10)
    holder.stdout.close()
    deadline = time.monotonic() + 10
    while (st := _stat(server)) is not None and st[1] != "Z" and time.monotonic() < deadline:
        time.sleep(0.1)
    st = _stat(server)
    assert st is None or st[1] == "Z", f"server {server} outlived its test run"
