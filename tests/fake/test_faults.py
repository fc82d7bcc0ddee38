"""Faults injected into the fake API server, seen through the real kubectl.

The bodies are the real server's: ``staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go``
(NewInternalError, NewServiceUnavailable, NewTimeoutError, NewTooManyRequests) and the
max-in-flight filter's text 429 (``staging/src/k8s.io/apiserver/pkg/server/filters/
maxinflight.go``: ``Retry-After: 1``, "Too many requests, please try again later."). What kubectl
makes of them is kubectl's own doing: client-go retries a 429 or 5xx that carries
``Retry-After`` up to 10 times (``staging/src/k8s.io/client-go/rest/with_retry.go``, checkWait),
and words a body that is not a Status with NewGenericServerResponse (errors.go).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from labtools.testing.apiserver.faults import request_verb, validate
from labtools.testing.apiserver.status import ApiError
from labtools.testing.cluster import FakeCluster
from labtools.testing.faults import FaultClient, FaultError

pytestmark = pytest.mark.fake


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    """A fresh server per test: faults are server-wide."""
    with FakeCluster(tmp_path / "c", pod_ready_delay=0.2) as running:
        yield running


def timed(cluster: FakeCluster, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    result = cluster.kubectl(*args)
    return result, time.monotonic() - began


# ---- errors -------------------------------------------------------------------------------
def test_500_is_an_internal_error_status_for_the_next_request_only(cluster: FakeCluster) -> None:
    fault = cluster.inject("error", code=500, path="/api/v1/namespaces/*/pods")
    assert (fault["id"], fault["remaining"]) == ("f1", 1)
    failed = cluster.kubectl("get", "pods")
    assert failed.returncode == 1
    assert failed.stderr == (
        "Error from server (InternalError): Internal error occurred: "
        "fault injected by the fake API server\n"
    )
    assert cluster.kubectl("get", "pods").returncode == 0
    assert cluster.admin.list() == []


def raw_get(cluster: FakeCluster, path: str) -> tuple[int, dict[str, str], bytes]:
    """One GET with the admin's credentials, below kubectl: status, headers, body."""
    client = FaultClient(cluster.kubeconfig)
    conn = client._connection("127.0.0.1", cluster.port)
    conn.request("GET", path)
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    return answer.status, dict(answer.getheaders()), body


def test_status_body_is_the_real_shape(cluster: FakeCluster) -> None:
    cluster.inject("error", code=500, path="/version", message="etcdserver: boom", retryAfter=3)
    code, headers, body = raw_get(cluster, "/version")
    assert (code, headers["Content-Type"], headers["Retry-After"]) == (500, "application/json", "3")
    assert json.loads(body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Internal error occurred: etcdserver: boom",
        "reason": "InternalError",
        "details": {"causes": [{"message": "etcdserver: boom"}], "retryAfterSeconds": 3},
        "code": 500,
    }


def test_429_is_max_in_flights_text(cluster: FakeCluster) -> None:
    cluster.inject("error", code=429, path="/version")
    code, headers, body = raw_get(cluster, "/version")
    assert (code, headers["Retry-After"]) == (429, "1")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body == b"Too many requests, please try again later.\n"
    assert raw_get(cluster, "/version")[0] == 200


def test_503_without_retry_after_fails_at_once(cluster: FakeCluster) -> None:
    cluster.inject("error", code=503, verb="list", message="etcd cluster is unavailable")
    result, took = timed(cluster, "get", "pods")
    assert result.returncode == 1
    assert result.stderr == "Error from server (ServiceUnavailable): etcd cluster is unavailable\n"
    assert took < 5


def test_503_with_retry_after_is_retried_by_kubectl(cluster: FakeCluster) -> None:
    cluster.inject("error", code=503, verb="list", count=2, retryAfter=1)
    result, took = timed(cluster, "get", "pods")
    assert (result.returncode, result.stderr) == (0, "No resources found in default namespace.\n")
    assert took >= 2  # two answers with Retry-After: 1, then the real one
    assert cluster.admin.list() == []


def test_429_text_body_and_retry_after_like_max_in_flight(cluster: FakeCluster) -> None:
    cluster.inject("error", code=429, verb="list", count=2)
    result, took = timed(cluster, "get", "pods")
    assert result.returncode == 0
    assert 2 <= took < 10


@pytest.mark.slow
def test_429_beyond_the_ten_retries_is_kubectls_too_many_requests(cluster: FakeCluster) -> None:
    cluster.inject("error", code=429, verb="list", count=11)
    result, took = timed(cluster, "get", "pods")
    assert result.returncode == 1
    assert result.stderr == (
        "Error from server (TooManyRequests): the server has received too many requests and "
        "has asked us to try again later (get pods)\n"
    )
    assert took >= 10


def test_504_is_a_timeout_status(cluster: FakeCluster) -> None:
    cluster.inject("error", code=504, verb="create")
    result = cluster.kubectl("create", "configmap", "c1")
    assert result.returncode == 1
    assert result.stderr == (
        "error: failed to create configmap: Timeout: fault injected by the fake API server\n"
    )


def test_a_fault_only_hits_matching_requests(cluster: FakeCluster) -> None:
    cluster.inject("error", code=503, verb="create", count=None, seconds=60)
    assert cluster.kubectl("get", "configmaps").returncode == 0
    for name in ("a", "b"):
        result = cluster.kubectl("create", "configmap", name)
        # kubectl's create generators word every failure this way, whatever the reason
        assert result.stderr == (
            "error: failed to create configmap: fault injected by the fake API server\n"
        )
    [fault] = cluster.admin.list()
    assert (fault["hits"], fault["remaining"]) == (2, None)
    assert cluster.clear_faults() == 1
    assert cluster.kubectl("create", "configmap", "a").returncode == 0


# ---- hangs --------------------------------------------------------------------------------
def test_hang_holds_requests_but_not_the_admin(cluster: FakeCluster) -> None:
    fault = cluster.inject("hang", verb="list")
    result, took = timed(cluster, "get", "pods", "--request-timeout=1s")
    assert result.returncode == 1
    # Go words the timeout by where the deadline strikes (`net/http: request canceled
    # (Client.Timeout exceeded ...)`, `context deadline exceeded`, or both): all are real
    assert result.stderr.startswith("Unable to connect to the server: ")
    assert "Client.Timeout exceeded" in result.stderr or "deadline exceeded" in result.stderr
    assert 1 <= took < 5
    assert cluster.admin.list()[0]["hits"] == 1  # the admin endpoint still answers
    assert cluster.kubectl("get", "pod", "nothing").returncode == 1  # a get is not held
    cluster.clear_faults(fault["id"])
    assert cluster.kubectl("get", "pods", "--request-timeout=5s").returncode == 0


def test_held_request_is_served_when_the_hang_ends(cluster: FakeCluster) -> None:
    cluster.inject("hang", seconds=2, verb="list")
    result, took = timed(cluster, "get", "pods")
    assert result.returncode == 0
    assert took >= 1.5


@pytest.mark.slow
def test_hang_at_connect_is_a_tls_handshake_timeout(cluster: FakeCluster) -> None:
    # kubectl gives up a TLS handshake after 10 s (client-go's TLSHandshakeTimeout); a
    # version-picking dispatcher in front of kubectl may add its own probe's 5 s before that
    assert cluster.kubectl("get", "pods").returncode == 0  # discovery cached: one request left
    cluster.inject("hang", stage="connect", seconds=20)
    result, took = timed(cluster, "get", "pods")
    assert result.returncode == 1
    assert "Unable to connect to the server: net/http: TLS handshake timeout" in result.stderr
    assert 10 <= took < 20
    time.sleep(max(0.0, 20.5 - took))
    assert cluster.kubectl("get", "pods").returncode == 0


def test_hang_at_connect_needs_seconds(cluster: FakeCluster) -> None:
    with pytest.raises(FaultError, match="stage 'connect' needs 'seconds'"):
        cluster.inject("hang", stage="connect")


# ---- restart ------------------------------------------------------------------------------
def test_restart_keeps_port_certificates_and_objects(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    with FakeCluster(tmp_path / "c", pod_ready_delay=0.2, data_file=data) as cluster:
        assert cluster.kubectl("create", "configmap", "kept", "--from-literal=a=1").returncode == 0
        before = cluster.admin.info()
        ca = (tmp_path / "c" / "certs" / "ca.crt").read_bytes()
        client = (tmp_path / "c" / "certs" / "client.crt").read_bytes()
        down: list[subprocess.CompletedProcess[str]] = []
        restarting = threading.Thread(target=lambda: cluster.restart(downtime=2))
        restarting.start()
        time.sleep(0.8)
        down.append(cluster.kubectl("get", "configmaps", "--request-timeout=2s"))
        restarting.join()
        after = cluster.admin.info()
        assert (after["pid"], after["port"]) == (before["pid"], before["port"])
        assert after["bootID"] != before["bootID"]
        assert down[0].returncode == 1
        # after its discovery retries (memcache.go lines), kubectl's last word
        assert down[0].stderr.splitlines()[-1] == (
            f"The connection to the server 127.0.0.1:{before['port']} was refused - "
            "did you specify the right host or port?"
        )
        assert (tmp_path / "c" / "certs" / "ca.crt").read_bytes() == ca
        assert (tmp_path / "c" / "certs" / "client.crt").read_bytes() == client
        got = cluster.kubectl("get", "configmap", "kept", "-o", "jsonpath={.data.a}")
        assert got.stdout == "1"


def test_objects_survive_kill_9_through_the_write_ahead_log(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    cluster = FakeCluster(tmp_path / "c", pod_ready_delay=0.2, data_file=data).start()
    try:
        port = cluster.port
        assert cluster.kubectl("create", "namespace", "survivor").returncode == 0
        cluster.kill()  # no clean stop: nothing written but the log
        assert "survivor" in (tmp_path / "data.json.wal").read_text()
        cluster.start()
        assert cluster.port == port
        assert cluster.kubectl("get", "namespace", "survivor", "-o", "name").stdout == (
            "namespace/survivor\n"
        )
    finally:
        cluster.stop()


def test_restart_of_an_in_process_app_is_refused(cluster: FakeCluster) -> None:
    # the FakeCluster server runs as `python -m`, so it may restart; an App inside a test
    # process may not (it would replace the test runner)
    from labtools.testing.apiserver.app import App, Options

    app = App(Options(http=True, state_dir=Path(cluster.workdir) / "inproc"))
    app.start()
    try:
        with pytest.raises(ApiError, match="cannot re-execute itself"):
            app.schedule_restart(0)
    finally:
        app.stop()


# ---- who may use the endpoint -------------------------------------------------------------
def _client_cert(ca_cert: Path, ca_key: Path, out: Path) -> tuple[Path, Path]:
    ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    signer = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
            x509.NameAttribute(NameOID.COMMON_NAME, "another-admin"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(signer, hashes.SHA256())  # type: ignore[arg-type]
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "other.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (out / "other.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return out / "other.crt", out / "other.key"


def test_only_the_admin_certificate_reaches_the_endpoint(tmp_path: Path) -> None:
    ca_cert, ca_key = tmp_path / "ca" / "ca.crt", tmp_path / "ca" / "ca.key"
    extra = ["--ca-cert", str(ca_cert), "--ca-key", str(ca_key)]
    with FakeCluster(tmp_path / "c", extra_args=extra) as cluster:
        admin = cluster.kubectl("get", "--raw", "/_fake/faults")
        assert json.loads(admin.stdout) == {"kind": "FaultList", "items": []}
        crt, key = _client_cert(ca_cert, ca_key, tmp_path / "other")
        doc = yaml.safe_load(cluster.kubeconfig.read_text())
        doc["users"][0]["user"] = {"client-certificate": str(crt), "client-key": str(key)}
        other = tmp_path / "other.kubeconfig"
        other.write_text(yaml.safe_dump(doc))
        env = cluster.env()
        run = ["kubectl", f"--kubeconfig={other}", f"--cache-dir={tmp_path / 'cache'}"]
        listing = subprocess.run(
            [*run, "get", "--raw", "/_fake/faults"], capture_output=True, text=True, env=env
        )
        assert (listing.returncode, listing.stderr) == (
            1,
            "Error from server (NotFound): the server could not find the requested resource\n",
        )
        spec = tmp_path / "fault.json"
        spec.write_text('{"kind": "error", "code": 500}')
        posted = subprocess.run(
            [*run, "create", "--raw", "/_fake/faults", "-f", str(spec)],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        assert posted.returncode == 1
        assert "NotFound" in posted.stderr
        assert cluster.admin.list() == []
        assert subprocess.run([*run, "get", "ns"], capture_output=True, env=env).returncode == 0


def test_kubectl_raw_is_an_admin_client_too(cluster: FakeCluster, tmp_path: Path) -> None:
    spec = tmp_path / "fault.json"
    spec.write_text('{"kind": "error", "code": 503, "verb": "list", "message": "from raw"}')
    created = cluster.kubectl("create", "--raw", "/_fake/faults", "-f", str(spec))
    assert json.loads(created.stdout)["id"] == "f1"
    assert cluster.kubectl("get", "pods").stderr == (
        "Error from server (ServiceUnavailable): from raw\n"
    )


# ---- the CLI ------------------------------------------------------------------------------
def faults_cli(cluster: FakeCluster, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        "-m",
        "labtools.testing.faults",
        "--kubeconfig",
        str(cluster.kubeconfig),
    ]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60)


def test_cli_adds_lists_and_clears(cluster: FakeCluster) -> None:
    added = faults_cli(cluster, "add", "error", "--set", "code=503", "--set", "verb=create",
                       "--set", "count=null", "--set", "seconds=60")  # fmt: skip
    assert added.returncode == 0, added.stderr
    fault = json.loads(added.stdout)
    assert (fault["code"], fault["verb"], fault["remaining"]) == (503, "create", None)
    assert "fault injected" in cluster.kubectl("create", "configmap", "x").stderr
    listed = json.loads(faults_cli(cluster, "list").stdout)
    assert [f["id"] for f in listed] == [fault["id"]]
    assert json.loads(faults_cli(cluster, "clear", fault["id"]).stdout) == {"cleared": 1}
    info = json.loads(faults_cli(cluster, "info").stdout)
    assert info["pid"] == cluster.pid
    assert info["requests"]["create"] >= 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('{"kind": "nope"}', "unknown kind 'nope' (known kinds: error, hang, image-pull"),
        ('{"kind": "error", "code": 418}', "'code' must be one of 429, 500, 503, 504, got 418"),
        ('{"kind": "error", "cuont": 2}', "unknown key 'cuont' (allowed: count, seconds"),
        ('{"kind": "error", "count": 0}', "'count' must be a number from 1 to 1e+06, got 0"),
        ('{"kind": "hang", "verb": "fetch"}', "unknown verb 'fetch'"),
        ("[1]", "the fault must be a JSON object"),
    ],
)
def test_cli_reports_a_bad_fault_with_the_servers_message(
    cluster: FakeCluster, spec: str, message: str
) -> None:
    result = faults_cli(cluster, "add", spec)
    assert result.returncode == (2 if spec == "[1]" else 1)
    assert message in result.stderr
    assert result.stderr.startswith("error: ")


def test_cli_exits_3_when_the_server_is_gone(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "c").start()
    cluster.stop()
    result = faults_cli(cluster, "list")
    assert result.returncode == 3
    assert "cannot reach the fake API server https://127.0.0.1:" in result.stderr


def test_client_reads_embedded_certificates(cluster: FakeCluster, tmp_path: Path) -> None:
    flat = cluster.kubectl("config", "view", "--raw", "--flatten", "--minify")
    path = tmp_path / "flat.kubeconfig"
    path.write_text(flat.stdout)
    assert "client-certificate-data" in flat.stdout
    assert FaultClient(path).info()["pid"] == cluster.pid


# ---- units --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "query", "verb"),
    [
        ("GET", "/api/v1/namespaces/default/pods", "", "list"),
        ("GET", "/api/v1/namespaces/default/pods", "watch=true", "watch"),
        ("GET", "/api/v1/namespaces/default/pods/web", "", "get"),
        ("GET", "/api/v1/namespaces/default", "", "get"),
        ("GET", "/api/v1/namespaces", "", "list"),
        ("PUT", "/api/v1/namespaces/ns/finalize", "", "update"),
        ("POST", "/apis/apps/v1/namespaces/x/deployments", "", "create"),
        ("PATCH", "/apis/apps/v1/namespaces/x/deployments/web/scale", "", "patch"),
        ("DELETE", "/api/v1/namespaces/x/pods", "", "deletecollection"),
        ("DELETE", "/api/v1/nodes/n1", "", "delete"),
        ("GET", "/version", "", "get"),
        ("POST", "/openapi/v2", "", "post"),
    ],
)
def test_request_verb(method: str, path: str, query: str, verb: str) -> None:
    assert request_verb(method, path, query) == verb


def test_validate_fills_defaults() -> None:
    assert validate({"kind": "error", "code": 429}) == {
        "kind": "error",
        "count": 1,
        "seconds": None,
        "path": None,
        "method": None,
        "verb": None,
        "code": 429,
        "message": None,
        "retryAfter": 1,
        "body": "text",
    }
