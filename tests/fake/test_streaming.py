"""Exec/logs/proxy streaming: the WebSocket codec, and the real kubectl against a tiny stub server.

The stub serves just enough of the API (discovery, GET pod, the pod subresources) to drive the
streaming handlers with kubectl v1.32; the full fake API server has its own end-to-end tests.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from labtools.testing.apiserver import streaming
from labtools.testing.apiserver.pods import PodRuntime
from labtools.testing.apiserver.websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    accept_key,
    decode_frame,
    encode_frame,
)

pytestmark = pytest.mark.fake

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")


# -- WebSocket codec --------------------------------------------------------------------------


def test_accept_key_matches_rfc6455_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
@pytest.mark.parametrize("mask", [False, True])
def test_frame_round_trip(size: int, mask: bool) -> None:
    payload = bytes(i % 251 for i in range(size))
    data = encode_frame(OP_BINARY, payload, mask=mask)
    assert (data[1] & 0x80 != 0) is mask
    frame, used = decode_frame(data + b"extra") or pytest.fail("frame not decoded")
    assert (frame.fin, frame.opcode, frame.payload, used) == (True, OP_BINARY, payload, len(data))


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 5, 9])
def test_incomplete_frame_waits_for_more(cut: int) -> None:
    data = encode_frame(OP_BINARY, b"x" * 300, mask=True)
    assert decode_frame(data[:cut]) is None


# -- a stub API server around the streaming handlers ------------------------------------------


class Stub:
    """Pods by name, the runtime, and the HTTP server serving them."""

    def __init__(self, runtime: PodRuntime) -> None:
        self.runtime = runtime
        self.pods: dict[str, dict[str, Any]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_pod(self, name: str, containers: list[dict[str, Any]]) -> dict[str, Any]:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {"containers": containers, "nodeName": "minikube"},
            "status": {"phase": "Running"},
        }
        info = self.runtime.start(pod)
        pod["status"]["podIP"] = info["podIP"]
        self.pods[name] = pod
        return pod


def _discovery(path: str) -> dict[str, Any] | None:
    resources = [
        {"name": n, "singularName": "", "namespaced": True, "kind": k, "verbs": v}
        for n, k, v in [
            ("pods", "Pod", ["get", "list"]),
            ("pods/exec", "PodExecOptions", ["create", "get"]),
            ("pods/log", "Pod", ["get"]),
            ("pods/proxy", "PodProxyOptions", ["get", "create"]),
        ]
    ]
    return {
        "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
        "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources},
        "/version": {"major": "1", "minor": "32", "gitVersion": "v1.32.0"},
    }.get(path)


POD_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/:]+)(?::(\d+))?(?:/([a-z]+)(/.*)?)?$")


def _handler_for(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _json(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            found = _discovery(parts.path)
            if found is not None:
                self._json(200, found)
                return
            match = POD_PATH.match(parts.path)
            pod = stub.pods.get(match.group(2)) if match else None
            if match is None or pod is None:
                self._json(404, streaming.status_body(404, "NotFound", "not found"))
                return
            port, sub, rest = match.group(3), match.group(4), match.group(5) or ""
            if sub is None:
                self._json(200, pod)
            elif sub == "exec":
                streaming.handle_exec(self, stub.runtime, pod, query)
            elif sub == "log":
                streaming.handle_log(self, stub.runtime, pod, query)
            elif sub == "proxy":
                streaming.handle_pod_proxy(
                    self, stub.runtime, pod, int(port) if port else None, rest
                )
            else:
                streaming.handle_portforward(self, stub.runtime, pod, query)

        do_GET = do_POST = _route

    return Handler


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[Stub]:
    runtime = PodRuntime(tmp_path / "state")
    server = Stub(runtime)
    yield server
    server.server.shutdown()
    server.server.server_close()
    runtime.shutdown()


@pytest.fixture
def kube_env(tmp_path: Path, stub: Stub) -> dict[str, str]:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "stub", "cluster": {"server": stub.url}}],
        "users": [{"name": "stub", "user": {}}],
        "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "stub"}}],
        "current-context": "stub",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": os.environ["PATH"], "HOME": str(home), "KUBECONFIG": str(path)}


def kubectl(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# -- exec with the real kubectl ---------------------------------------------------------------


@needs_kubectl
def test_exec_env_is_the_containers_env(stub: Stub, kube_env: dict[str, str]) -> None:
    stub.add_pod(
        "boot",
        [
            {
                "name": "kubernetes-bootcamp",
                "image": BOOTCAMP,
                "env": [{"name": "A", "value": "b c"}],
            }
        ],
    )
    result = kubectl(kube_env, "exec", "boot", "--", "env")
    assert result.returncode == 0, result.stderr
    lines = set(result.stdout.splitlines())
    expected = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME=boot",
        "A=b c",
        "KUBERNETES_SERVICE_HOST=10.96.0.1",
        "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
        "NPM_CONFIG_LOGLEVEL=info",
        "NODE_VERSION=6.3.1",
        "HOME=/root",
    }
    assert expected <= lines
    assert not any(line.startswith(("KUBECONFIG=", "PYTHONPATH=")) for line in lines)


@needs_kubectl
@pytest.mark.parametrize(
    ("script", "code"), [("exit 0", 0), ("exit 3", 3), ("echo oops >&2; exit 42", 42)]
)
def test_exec_exit_code(stub: Stub, kube_env: dict[str, str], script: str, code: int) -> None:
    stub.add_pod("boot", [{"name": "c", "image": "busybox"}])
    result = kubectl(kube_env, "exec", "boot", "--", "sh", "-c", script)
    assert result.returncode == code
    if code:
        assert f"command terminated with exit code {code}" in result.stderr
    if code == 42:
        assert "oops" in result.stderr


@needs_kubectl
def test_exec_stdin_relay(stub: Stub, kube_env: dict[str, str]) -> None:
    stub.add_pod("boot", [{"name": "c", "image": "busybox"}])
    data = "hi\n" + "x" * 200_000 + "\nend\n"
    result = kubectl(kube_env, "exec", "-i", "boot", "--", "cat", stdin=data)
    assert result.returncode == 0, result.stderr
    assert result.stdout == data


@needs_kubectl
def test_exec_curl_reaches_the_pods_own_app(stub: Stub, kube_env: dict[str, str]) -> None:
    if shutil.which("curl") is None or stub.runtime.isolation != "netns":
        pytest.skip("needs curl and network namespaces")
    stub.add_pod("boot-abc", [{"name": "kubernetes-bootcamp", "image": BOOTCAMP}])
    result = kubectl(kube_env, "exec", "boot-abc", "--", "curl", "-s", "localhost:8080")
    assert result.stdout == "Hello Kubernetes bootcamp! | Running on: boot-abc | v=1\n"


@needs_kubectl
def test_exec_unknown_command(stub: Stub, kube_env: dict[str, str]) -> None:
    stub.add_pod("boot", [{"name": "c", "image": "busybox"}])
    result = kubectl(kube_env, "exec", "boot", "--", "nope")
    assert result.returncode == 126
    assert 'exec: "nope": executable file not found in $PATH' in result.stdout
    assert "command terminated with exit code 126" in result.stderr


@needs_kubectl
def test_exec_tty(stub: Stub, kube_env: dict[str, str]) -> None:
    stub.add_pod("boot", [{"name": "c", "image": "busybox"}])
    # kubectl only allocates a tty when its stdin is a terminal: `script` gives it one.
    command = "kubectl exec -ti boot -- sh -c 'tty; echo TERM=$TERM; exit 5'"
    result = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        env=kube_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "/dev/pts/" in result.stdout
    assert "TERM=xterm" in result.stdout
    assert result.returncode == 5


@needs_kubectl
def test_spdy_only_client_gets_a_clear_error(stub: Stub, kube_env: dict[str, str]) -> None:
    stub.add_pod("boot", [{"name": "c", "image": "busybox"}])
    env = {**kube_env, "KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}
    result = kubectl(env, "exec", "boot", "--", "true")
    assert result.returncode != 0
    assert "SPDY is not supported" in result.stderr


# -- logs and proxy ---------------------------------------------------------------------------


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@needs_kubectl
def test_logs_of_bootcamp_after_requests(stub: Stub, kube_env: dict[str, str]) -> None:
    stub.add_pod("boot", [{"name": "kubernetes-bootcamp", "image": BOOTCAMP}])
    for _ in range(3):
        assert _get(f"{stub.url}/api/v1/namespaces/default/pods/boot:8080/proxy/")[0] == 200
    result = kubectl(kube_env, "logs", "boot")
    lines = result.stdout.split("\n")
    assert re.fullmatch(r"Kubernetes Bootcamp App Started At: \S+Z \| Running On:  boot ", lines[0])
    assert lines[1] == ""
    for number, line in enumerate(lines[2:5], start=1):
        assert re.fullmatch(
            rf"Running On: boot \| Total Requests: {number} \| App Uptime: [\d.]+ seconds \| "
            r"Log Time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
            line,
        )
    tail = kubectl(kube_env, "logs", "boot", "--tail=1", "--timestamps")
    assert re.fullmatch(r"\S+Z Running On: boot \| Total Requests: 3 .*\n", tail.stdout)


@needs_kubectl
def test_logs_errors(stub: Stub, kube_env: dict[str, str]) -> None:
    stub.add_pod("two", [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}])
    status, body = _get(f"{stub.url}/api/v1/namespaces/default/pods/two/log")
    assert status == 400
    assert (
        json.loads(body)["message"]
        == "a container name must be specified for pod two, choose one of: [a b]"
    )
    previous = kubectl(kube_env, "logs", "two", "-c", "a", "--previous")
    assert 'previous terminated container "a" in pod "two" not found' in previous.stderr


@needs_kubectl
def test_logs_follow_streams_new_lines(stub: Stub, kube_env: dict[str, str]) -> None:
    stub.add_pod("boot", [{"name": "kubernetes-bootcamp", "image": BOOTCAMP}])
    follower = subprocess.Popen(
        ["kubectl", "logs", "-f", "boot"], env=kube_env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert follower.stdout is not None
        assert "Started At" in follower.stdout.readline()
        assert follower.stdout.readline() == "\n"
        _get(f"{stub.url}/api/v1/namespaces/default/pods/boot:8080/proxy/")
        assert "Total Requests: 1 " in follower.stdout.readline()
        stub.runtime.stop("default", "boot")
        assert follower.wait(timeout=10) == 0
    finally:
        follower.kill()
        follower.communicate()


@pytest.mark.parametrize(
    ("image", "path", "status", "needle"),
    [
        (BOOTCAMP, "boot:8080/proxy/", 200, "Hello Kubernetes bootcamp! | Running on: web | v=1\n"),
        (BOOTCAMP, "boot:8080/proxy/any/path?x=1", 200, "Running on: web | v=1"),
        ("nginx:1.27", "boot/proxy/", 200, "<title>Welcome to nginx!</title>"),
        ("nginx:1.27", "boot/proxy/missing", 404, "404 Not Found"),
        (BOOTCAMP, "boot:9999/proxy/", 503, "connect: connection refused"),
    ],
)
def test_pod_proxy(stub: Stub, image: str, path: str, status: int, needle: str) -> None:
    pod = stub.add_pod("web", [{"name": "c", "image": image}])
    stub.pods["boot"] = pod  # the URL names the pod "boot"; the hostname stays "web"
    code, body = _get(f"{stub.url}/api/v1/namespaces/default/pods/{path}")
    assert code == status
    assert needle in body


def test_websocket_exec_by_hand(stub: Stub) -> None:
    """Drive the channel protocol directly: ping/pong, fragmented stdin, v5 close, status."""
    stub.add_pod("boot", [{"name": "c", "image": "busybox"}])
    sock = socket.create_connection(("127.0.0.1", stub.server.server_address[1]), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET /api/v1/namespaces/default/pods/boot/exec?command=cat&stdin=true&stdout=true"
        "&stderr=true HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    assert f"Sec-WebSocket-Accept: {accept_key(key)}".encode() in head
    assert b"Sec-WebSocket-Protocol: v5.channel.k8s.io" in head
    sock.sendall(encode_frame(OP_PING, b"p", mask=True))
    sock.sendall(encode_frame(OP_BINARY, b"\x00hel", mask=True, fin=False))
    sock.sendall(encode_frame(0, b"lo\n", mask=True))
    sock.sendall(encode_frame(OP_BINARY, b"\xff\x00", mask=True))
    frames = _read_frames(sock)
    sock.close()
    assert (OP_PONG, b"p") in frames
    stdout = b"".join(p[1:] for op, p in frames if op == OP_BINARY and p[:1] == b"\x01")
    assert stdout == b"hello\n"
    status = [json.loads(p[1:]) for op, p in frames if op == OP_BINARY and p[:1] == b"\x03"]
    assert status == [{"metadata": {}, "status": "Success"}]
    assert frames[-1][0] == OP_CLOSE
    assert all(op != OP_TEXT for op, _ in frames)


def _read_frames(sock: socket.socket) -> list[tuple[int, bytes]]:
    buffer = b""
    frames: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        decoded = decode_frame(buffer)
        if decoded is None:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
            continue
        frame, used = decoded
        buffer = buffer[used:]
        frames.append((frame.opcode, frame.payload))
        if frame.opcode == OP_CLOSE:
            break
    return frames


@needs_kubectl
def test_testinfra_kubectl_backend(
    stub: Stub, kube_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    testinfra = pytest.importorskip("testinfra")
    if stub.runtime.isolation != "netns":
        pytest.skip("ss inside the pod needs network namespaces")
    stub.add_pod("boot", [{"name": "kubernetes-bootcamp", "image": BOOTCAMP}])
    for key, value in kube_env.items():
        monkeypatch.setenv(key, value)
    host = testinfra.get_host(
        f"kubectl://boot?namespace=default&kubeconfig={kube_env['KUBECONFIG']}"
    )
    assert host.run("hostname").stdout == "boot\n"
    assert host.run("exit 4").rc == 4
    assert host.socket("tcp://0.0.0.0:8080").is_listening
    assert not host.socket("tcp://0.0.0.0:80").is_listening
    assert host.file("server.js").exists
    assert host.file("server.js").contains("Hello Kubernetes bootcamp!")
    assert host.check_output("curl -s localhost:8080").endswith("| v=1")


# -- end to end: the real kubectl against the fake API server (labtools.testing.cluster) --------


@pytest.fixture(scope="module")
def cluster_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A FakeCluster with the bootcamp deployment Running; env for kubectl and the pod name."""
    if KUBECTL is None:
        pytest.skip("kubectl is not on PATH")
    cluster_module = pytest.importorskip("labtools.testing.cluster")
    root = tmp_path_factory.mktemp("e2e")
    home = root / "home"
    home.mkdir()
    cluster = cluster_module.FakeCluster(root / "cluster", name="fake", node_name="minikube")
    cluster.start()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "KUBECONFIG": str(cluster.kubeconfig),
        "CONTEXT": cluster.context,
    }
    try:
        kubectl(
            env,
            "--context",
            cluster.context,
            "create",
            "deployment",
            "kubernetes-bootcamp",
            f"--image={BOOTCAMP}",
        )
        waited = kubectl(
            env,
            "--context",
            cluster.context,
            "wait",
            "--for=condition=Ready",
            "pod",
            "-l",
            "app=kubernetes-bootcamp",
            "--timeout=30s",
        )
        assert waited.returncode == 0, waited.stderr
        name = kubectl(
            env,
            "--context",
            cluster.context,
            "get",
            "pods",
            "-l",
            "app=kubernetes-bootcamp",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ).stdout
        yield {**env, "POD": name}
    finally:
        cluster.stop()


def ck(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """kubectl with the cluster's context."""
    kube_env = {k: v for k, v in env.items() if k not in ("CONTEXT", "POD")}
    return kubectl(kube_env, "--context", env["CONTEXT"], *args, stdin=stdin)


@needs_kubectl
def test_e2e_exec_env_and_curl(cluster_env: dict[str, str]) -> None:
    pod = cluster_env["POD"]
    env = ck(cluster_env, "exec", pod, "--", "env")
    assert env.returncode == 0, env.stderr
    assert f"HOSTNAME={pod}" in env.stdout.splitlines()
    assert "NODE_VERSION=6.3.1" in env.stdout.splitlines()
    curl = ck(cluster_env, "exec", pod, "--", "curl", "-s", "localhost:8080")
    assert curl.stdout == f"Hello Kubernetes bootcamp! | Running on: {pod} | v=1\n"


@needs_kubectl
def test_e2e_exec_exit_code_and_stdin(cluster_env: dict[str, str]) -> None:
    pod = cluster_env["POD"]
    failed = ck(cluster_env, "exec", pod, "--", "sh", "-c", "exit 3")
    assert failed.returncode == 3
    assert "command terminated with exit code 3" in failed.stderr
    echoed = ck(cluster_env, "exec", "-i", pod, "--", "cat", stdin="hi\n")
    assert echoed.stdout == "hi\n"


@needs_kubectl
def test_e2e_logs_and_proxy(cluster_env: dict[str, str]) -> None:
    pod = cluster_env["POD"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kube_env = {k: v for k, v in cluster_env.items() if k not in ("CONTEXT", "POD")}
    proxy = subprocess.Popen(
        ["kubectl", "--context", cluster_env["CONTEXT"], "proxy", f"--port={port}"],
        env=kube_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        version: tuple[int, str] = (0, "")
        while time.monotonic() < deadline:
            try:
                version = _get(f"{base}/version")
                break
            except OSError:
                time.sleep(0.1)
        assert version[0] == 200
        assert json.loads(version[1])["major"] == "1"
        # no container port declared: the API server dials port 80, where nothing listens
        status, body = _get(f"{base}/api/v1/namespaces/default/pods/{pod}/proxy/")
        pod_ip = ck(cluster_env, "get", "pod", pod, "-o", "jsonpath={.status.podIP}").stdout
        assert (status, json.loads(body)["message"]) == (
            503,
            f"error trying to reach service: dial tcp {pod_ip}:80: connect: connection refused",
        )
        status, body = _get(f"{base}/api/v1/namespaces/default/pods/{pod}:8080/proxy/")
        assert (status, body) == (200, f"Hello Kubernetes bootcamp! | Running on: {pod} | v=1\n")
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
    logs = ck(cluster_env, "logs", pod)
    assert logs.stdout.startswith("Kubernetes Bootcamp App Started At: ")
    assert f"Running On: {pod} | Total Requests: " in logs.stdout


@needs_kubectl
def test_e2e_testinfra(cluster_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    testinfra = pytest.importorskip("testinfra")
    for key in ("HOME", "KUBECONFIG"):
        monkeypatch.setenv(key, cluster_env[key])
    host = testinfra.get_host(
        f"kubectl://{cluster_env['POD']}?namespace=default&context={cluster_env['CONTEXT']}"
    )
    assert host.run("hostname").stdout.strip() == cluster_env["POD"]
    assert host.socket("tcp://0.0.0.0:8080").is_listening
    assert host.file("server.js").exists
    assert host.run("sh -c 'exit 3'").rc == 3
