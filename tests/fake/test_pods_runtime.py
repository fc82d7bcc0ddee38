"""The pod runtime with real processes and sockets: sandboxes, emulated images, logs, exec, stop."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labtools.testing.apiserver import apps
from labtools.testing.apiserver.pods import (
    ISOLATION_ENV,
    ExecNotFound,
    PodRuntime,
    container_env,
    parse_cri_line,
)

pytestmark = pytest.mark.fake

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"


def make_pod(name: str, *containers: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
        "spec": {"containers": list(containers) or [{"name": "app", "image": BOOTCAMP}]},
    }


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[PodRuntime]:
    pods = PodRuntime(tmp_path / "state")
    yield pods
    pods.shutdown()


def http_get(runtime: PodRuntime, name: str, port: int, path: str = "/") -> bytes:
    with runtime.connect("default", name, port) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nUser-Agent: t/1\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def run_in(
    runtime: PodRuntime, name: str, *argv: str, stdin: bytes | None = None
) -> tuple[int, str]:
    process = runtime.exec_process("default", name, "app", list(argv), stdin=stdin is not None)
    out, _ = process.communicate(stdin, timeout=20)
    runtime.forget_exec("default", name, process)
    return process.returncode, out.decode()


def log_lines(runtime: PodRuntime, name: str, container: str = "app") -> list[str]:
    time.sleep(0.2)  # the log pump writes asynchronously
    text = runtime.log_path("default", name, container).read_text()
    return [parse_cri_line(line)[1] for line in text.splitlines()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(
    ("image", "kind", "port"),
    [
        (BOOTCAMP, "bootcamp", 8080),
        ("gcr.io/k8s-minikube/kubernetes-bootcamp:v1", "bootcamp", 8080),
        ("docker.io/jocatalin/kubernetes-bootcamp:v2", "bootcamp", 8080),
        ("gcr.io/google-samples/kubernetes-bootcamp:v10", None, None),
        ("nginx", "nginx", 80),
        ("nginx:1.27-alpine", "nginx", 80),
        ("docker.io/library/nginx:latest", "nginx", 80),
        ("busybox:1.36", None, None),
        ("localhost:5000/app", None, None),
    ],
)
def test_image_kind(image: str, kind: str | None, port: int | None) -> None:
    assert apps.image_kind(image) == kind
    assert apps.default_port(image) == port


def test_image_pull_error_only_for_missing_bootcamp_tags() -> None:
    assert "manifest unknown" in (apps.image_pull_error(BOOTCAMP.replace("v1", "v10")) or "")
    assert apps.image_pull_error(BOOTCAMP) is None
    assert apps.image_pull_error("nginx") is None


@pytest.mark.parametrize(
    ("image", "extra"),
    [
        (BOOTCAMP, {"NPM_CONFIG_LOGLEVEL": "info", "NODE_VERSION": "6.3.1"}),
        ("nginx:1.27", {"NGINX_VERSION": apps.NGINX_VERSION, "PKG_RELEASE": "1~bookworm"}),
        ("busybox", {}),
    ],
)
def test_container_env(image: str, extra: dict[str, str]) -> None:
    spec = {
        "name": "app",
        "image": image,
        "env": [
            {"name": "GREETING", "value": "hi there"},
            {"name": "MY_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
    }
    env = container_env(make_pod("p1", spec), spec)
    assert list(env)[:2] == ["PATH", "HOSTNAME"]
    assert env["HOSTNAME"] == "p1"
    assert env["GREETING"] == "hi there"
    assert env["MY_POD"] == "p1"
    assert env["KUBERNETES_PORT_443_TCP_ADDR"] == "10.96.0.1"
    assert env["HOME"] == "/root"
    assert extra.items() <= env.items()
    assert "VIRTUAL_ENV" not in env
    assert "PYTHONPATH" not in env


def test_start_reports_ip_and_docker_ids(runtime: PodRuntime) -> None:
    info = runtime.start(make_pod("p1"))
    assert re.fullmatch(r"10\.244\.\d+\.\d+", info["podIP"])
    assert re.fullmatch(r"docker://[0-9a-f]{64}", info["containerIDs"]["app"])
    assert runtime.start(make_pod("p1")) == info  # same uid: idempotent
    assert (
        (runtime.state_dir / "pods" / "default_p1" / "server.js").read_text().startswith("var http")
    )


def test_two_bootcamp_pods_share_port_8080(runtime: PodRuntime) -> None:
    runtime.start(make_pod("alpha"))
    runtime.start(make_pod("beta"))
    for name in ("alpha", "beta"):
        response = http_get(runtime, name, 8080, "/any/path")
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Content-Type: text/plain\r\n" in response
        assert response.endswith(
            f"Hello Kubernetes bootcamp! | Running on: {name} | v=1\n".encode()
        )


def test_pods_have_their_own_localhost(runtime: PodRuntime) -> None:
    if runtime.isolation != "netns":
        pytest.skip("without network namespaces pods share the host's localhost (documented)")
    runtime.start(make_pod("alpha"))
    runtime.start(make_pod("beta", {"name": "app", "image": "busybox"}))
    code, out = run_in(runtime, "alpha", "curl", "-s", "localhost:8080")
    assert (code, out) == (0, "Hello Kubernetes bootcamp! | Running on: alpha | v=1\n")
    code, _ = run_in(runtime, "beta", "curl", "-s", "--max-time", "2", "localhost:8080")
    assert code != 0  # beta runs no app and cannot see alpha's
    code, out = run_in(runtime, "beta", "ss", "-ltn")
    assert ":8080" not in out
    assert run_in(runtime, "beta", "hostname") == (0, "beta\n")


def test_no_isolation_fallback_maps_ports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ISOLATION_ENV, "none")
    runtime = PodRuntime(tmp_path / "state")
    try:
        assert runtime.isolation == "none"
        runtime.start(make_pod("alpha"))
        runtime.start(make_pod("beta"))
        ports = {runtime.target("default", n, 8080)[1] for n in ("alpha", "beta")}
        assert len(ports) == 2
        assert http_get(runtime, "beta", 8080).endswith(b"Running on: beta | v=1\n")
    finally:
        runtime.shutdown()


def test_bootcamp_log_format(runtime: PodRuntime) -> None:
    runtime.start(make_pod("kubernetes-bootcamp-5dbf48f7d4-r88kt"))
    name = "kubernetes-bootcamp-5dbf48f7d4-r88kt"
    for _ in range(3):
        http_get(runtime, name, 8080)
    lines = log_lines(runtime, name)
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(
        rf"Kubernetes Bootcamp App Started At: {iso} \| Running On:  {name} ", lines[0]
    )
    assert lines[1] == ""
    assert len(lines) == 5
    for number, line in enumerate(lines[2:], start=1):
        pattern = (
            rf"Running On: {name} \| Total Requests: {number} \| "
            rf"App Uptime: \d+(\.\d+)? seconds \| Log Time: {iso}"
        )
        assert re.fullmatch(pattern, line)


def test_bootcamp_v2_answers_v2(runtime: PodRuntime) -> None:
    runtime.start(
        make_pod("p2", {"name": "app", "image": "docker.io/jocatalin/kubernetes-bootcamp:v2"})
    )
    assert http_get(runtime, "p2", 8080).endswith(b"Running on: p2 | v=2\n")


def test_nginx_page_and_access_log(runtime: PodRuntime) -> None:
    runtime.start(make_pod("web", {"name": "app", "image": "nginx:1.27"}))
    page = http_get(runtime, "web", 80)
    assert b"<title>Welcome to nginx!</title>" in page
    assert f"Server: nginx/{apps.NGINX_VERSION}".encode() in page
    assert http_get(runtime, "web", 80, "/nope").startswith(b"HTTP/1.1 404 Not Found")
    lines = log_lines(runtime, "web")
    assert lines[-1].endswith('"GET /nope HTTP/1.0" 404 153 "-" "t/1" "-"')
    assert re.fullmatch(
        r"\S+ - - \[\d\d/\w{3}/\d{4}:[\d:]{8} \+0000\] \"GET / HTTP/1.0\" 200 615 .*", lines[-2]
    )


def test_real_command_and_idle_image(runtime: PodRuntime) -> None:
    runtime.start(
        make_pod(
            "mixed",
            {
                "name": "app",
                "image": "busybox",
                "command": ["sh", "-c", "echo started; echo $HOSTNAME; sleep 60"],
            },
            {"name": "idle", "image": "registry.example/whatever:1"},
        )
    )
    assert log_lines(runtime, "mixed") == ["started", "mixed"]
    assert log_lines(runtime, "mixed", "idle") == []
    assert runtime.container_states("default", "mixed") == {"app": None, "idle": None}


@pytest.mark.parametrize(("script", "code"), [("true", 0), ("exit 3", 3), ("kill -9 $$", 137)])
def test_exec_exit_codes(runtime: PodRuntime, script: str, code: int) -> None:
    runtime.start(make_pod("p1", {"name": "app", "image": "busybox"}))
    process = runtime.exec_process("default", "p1", "app", ["sh", "-c", script], stdin=False)
    process.communicate(timeout=10)
    returncode = process.returncode
    assert (returncode if returncode >= 0 else 128 - returncode) == code


def test_exec_env_cwd_and_stdin(runtime: PodRuntime) -> None:
    runtime.start(make_pod("p1"))
    code, out = run_in(runtime, "p1", "env")
    assert code == 0
    assert "HOSTNAME=p1" in out.splitlines()
    assert "NODE_VERSION=6.3.1" in out.splitlines()
    assert run_in(runtime, "p1", "ls")[1] == "server.js\n"
    assert run_in(runtime, "p1", "cat", stdin=b"piped\n") == (0, "piped\n")


@pytest.mark.parametrize(
    ("argv0", "text"),
    [
        ("nope", 'exec: "nope": executable file not found in $PATH: unknown'),
        ("/no/such", 'exec: "/no/such": stat /no/such: no such file or directory: unknown'),
    ],
)
def test_exec_missing_command(runtime: PodRuntime, argv0: str, text: str) -> None:
    runtime.start(make_pod("p1"))
    with pytest.raises(ExecNotFound, match=re.escape(text)):
        runtime.exec_process("default", "p1", "app", [argv0], stdin=False)


def test_stop_and_shutdown_leave_no_process(runtime: PodRuntime) -> None:
    runtime.start(make_pod("p1"))
    runtime.start(make_pod("p2", {"name": "app", "image": "busybox", "command": ["sleep", "300"]}))
    # A daemon that escaped its exec session (own session, stdio closed) must die too.
    escaped = runtime.exec_process(
        "default",
        "p1",
        "app",
        ["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 & echo $!"],
        stdin=False,
    )
    daemon_pid = int(escaped.communicate(timeout=10)[0])
    pids = [daemon_pid]
    for name in ("p1", "p2"):
        sandbox = runtime.sandbox("default", name)
        assert sandbox is not None
        pids += [c.process.pid for c in sandbox.containers.values()]
        pids += [sandbox.keeper.pid] if sandbox.keeper else []
    assert all(alive(pid) for pid in pids)
    runtime.stop("default", "p1")
    assert runtime.sandbox("default", "p1") is None
    assert runtime.is_running("default", "p2", "app")
    runtime.shutdown()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in pids if alive(pid)] == []
    assert runtime.container_states("default", "p2") == {}


def test_logs_survive_stop(runtime: PodRuntime) -> None:
    runtime.start(make_pod("p1"))
    http_get(runtime, "p1", 8080)
    runtime.stop("default", "p1")
    text = runtime.log_path("default", "p1", "app").read_text()
    assert "Total Requests: 1 " in text
    assert os.path.isdir(runtime.state_dir / "pods" / "default_p1")
