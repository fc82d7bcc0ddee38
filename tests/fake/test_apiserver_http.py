"""The fake API server over raw HTTP: Status errors, watch streams, tables, lifecycle, TLS."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from labtools.testing.cluster import FakeCluster

pytestmark = pytest.mark.fake

DEPLOY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
        },
    },
}


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeCluster]:
    """A plain-HTTP fake API server for raw requests."""
    cluster = FakeCluster(tmp_path_factory.mktemp("plain"), http=True, pod_ready_delay=0.1)
    cluster.start()
    yield cluster
    cluster.stop()


def call(
    cluster: FakeCluster,
    method: str,
    path: str,
    body: Any = None,
    ctype: str = "application/json",
    accept: str = "application/json",
) -> tuple[int, dict[str, str], Any]:
    """One request; returns status, headers and the decoded JSON (or text)."""
    url = urlsplit(cluster.server)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=20)
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body else None)
    headers = {"Accept": accept}
    if data is not None:
        headers["Content-Type"] = ctype
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read().decode()
    conn.close()
    try:
        payload: Any = json.loads(raw)
    except ValueError:
        payload = raw
    return resp.status, dict(resp.getheaders()), payload


def test_not_found_is_a_real_status(plain: FakeCluster) -> None:
    code, headers, body = call(plain, "GET", "/apis/apps/v1/namespaces/default/deployments/x")
    assert code == 404
    assert headers["Content-Type"] == "application/json"
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "x" not found',
        "reason": "NotFound",
        "details": {"name": "x", "group": "apps", "kind": "deployments"},
        "code": 404,
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "ctype", "code", "reason"),
    [
        (
            "PUT",
            "/api/v1/namespaces/default/configmaps",
            {"metadata": {"name": "a"}},
            "application/json",
            405,
            "MethodNotAllowed",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/services/kubernetes",
            {},
            "text/plain",
            415,
            "UnsupportedMediaType",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            b"k8s\x00garbage",
            "application/vnd.kubernetes.protobuf",
            415,
            "UnsupportedMediaType",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            b"{not json",
            "application/json",
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/api/v1/namespaces/nope/configmaps",
            {"metadata": {"name": "a"}},
            "application/json",
            404,
            "NotFound",
        ),
        ("GET", "/apis/nope.io/v1/things", None, "application/json", 404, "NotFound"),
    ],
)
def test_error_statuses(
    plain: FakeCluster, method: str, path: str, body: Any, ctype: str, code: int, reason: str
) -> None:
    got, _, status = call(plain, method, path, body, ctype)
    assert (got, status["kind"], status["reason"], status["code"]) == (code, "Status", reason, code)


def test_update_with_stale_resource_version_conflicts(plain: FakeCluster) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    code, _, cm = call(plain, "POST", path, {"metadata": {"name": "cfl"}, "data": {"a": "1"}})
    assert code == 201
    stale = dict(cm)
    cm["data"] = {"a": "2"}
    code, _, updated = call(plain, "PUT", f"{path}/cfl", cm)
    assert code == 200
    assert int(updated["metadata"]["resourceVersion"]) > int(stale["metadata"]["resourceVersion"])
    code, _, status = call(plain, "PUT", f"{path}/cfl", stale)
    assert (code, status["reason"]) == (409, "Conflict")
    assert status["message"] == (
        'Operation cannot be fulfilled on configmaps "cfl": the object '
        "has been modified; please apply your changes to the latest "
        "version and try again"
    )


def test_generate_name_dry_run_and_strict_validation(plain: FakeCluster) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    code, _, cm = call(plain, "POST", path, {"metadata": {"generateName": "gen-"}})
    assert code == 201
    assert cm["metadata"]["name"].startswith("gen-")
    assert len(cm["metadata"]["name"]) == len("gen-") + 5
    code, _, dry = call(plain, "POST", path + "?dryRun=All", {"metadata": {"name": "dry"}})
    assert (code, dry["metadata"]["name"]) == (201, "dry")
    assert call(plain, "GET", path + "/dry")[0] == 404
    code, _, status = call(
        plain,
        "POST",
        "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict",
        {**DEPLOY, "spec": {**DEPLOY["spec"], "foo": 1}},
    )
    assert (code, status["reason"]) == (400, "BadRequest")
    assert status["message"] == (
        'Deployment in version "v1" cannot be handled as a '
        'Deployment: strict decoding error: unknown field "spec.foo"'
    )


def test_watch_streams_json_lines(plain: FakeCluster) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    _, _, listed = call(plain, "GET", path)
    rv = listed["metadata"]["resourceVersion"]
    call(plain, "POST", path, {"metadata": {"name": "w1"}})
    call(plain, "DELETE", path + "/w1")
    code, headers, text = call(
        plain, "GET", f"{path}?watch=true&resourceVersion={rv}&timeoutSeconds=1"
    )
    assert code == 200
    assert headers["Content-Type"] == "application/json"
    events = [json.loads(line) for line in text.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "w1"),
        ("DELETED", "w1"),
    ]


def test_watch_as_table_sends_columns_once(plain: FakeCluster) -> None:
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
    code, _, text = call(
        plain, "GET", "/api/v1/namespaces/kube-system/pods?watch=1&timeoutSeconds=1", accept=accept
    )
    events = [json.loads(line) for line in text.splitlines()]
    assert code == 200
    assert len(events) >= 5
    assert all(e["object"]["kind"] == "Table" for e in events)
    assert [c["name"] for c in events[0]["object"]["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    assert all(e["object"]["columnDefinitions"] == [] for e in events[1:])


def test_table_rows_carry_partial_metadata(plain: FakeCluster) -> None:
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
    _, _, table = call(plain, "GET", "/api/v1/nodes", accept=accept)
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    row = table["rows"][0]
    assert row["cells"][:3] == ["minikube", "Ready", "control-plane"]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    _, _, full = call(plain, "GET", "/api/v1/nodes?includeObject=Object", accept=accept)
    assert full["rows"][0]["object"]["kind"] == "Node"


def test_foreground_deletion_removes_dependents_first(plain: FakeCluster) -> None:
    base = "/apis/apps/v1/namespaces/default/deployments"
    assert call(plain, "POST", base, DEPLOY)[0] == 201
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pods = call(plain, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")[2]
        if pods["items"]:
            break
        time.sleep(0.1)
    code, _, obj = call(plain, "DELETE", base + "/web", {"propagationPolicy": "Foreground"})
    assert code == 200
    assert "foregroundDeletion" in obj["metadata"]["finalizers"]
    while time.monotonic() < deadline and call(plain, "GET", base + "/web")[0] == 200:
        time.sleep(0.1)
    assert call(plain, "GET", base + "/web")[0] == 404
    rs = call(plain, "GET", "/apis/apps/v1/namespaces/default/replicasets")[2]
    assert [r for r in rs["items"] if r["metadata"]["name"].startswith("web-")] == []


def test_discovery_and_openapi(plain: FakeCluster) -> None:
    _, _, core = call(plain, "GET", "/api/v1")
    assert core["groupVersion"] == "v1"
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert (pods["shortNames"], pods["categories"]) == (["po"], ["all"])
    assert any(
        r["name"] == "deployments/scale"
        for r in call(plain, "GET", "/apis/apps/v1")[2]["resources"]
    )
    root = call(plain, "GET", "/openapi/v3")[2]
    apps = call(plain, "GET", root["paths"]["apis/apps/v1"]["serverRelativeURL"])[2]
    patch = apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]


def _tls_get(
    host: str, port: int, ctx: ssl.SSLContext, path: str = "/version", token: str = ""
) -> tuple[int, bytes] | None:
    """GET over TLS: (status, body); None when the handshake or request is refused."""
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=5)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (ssl.SSLError, ConnectionError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def test_https_authenticates_like_kube_apiserver(tmp_path: Path) -> None:
    """No credentials is system:anonymous (--anonymous-auth=true): /version is public
    (system:public-info-viewer), the API is Forbidden; a bad bearer token is a 401, never
    anonymous (filters/authentication.go, union.NewFailOnError); the client cert is admin."""
    # how fast it starts is measured by bench/bench_fake.py, not asserted here
    with FakeCluster(tmp_path / "tls") as cluster:
        certs = tmp_path / "tls" / "certs"
        assert sorted(p.name for p in certs.iterdir() if p.is_file()) == [
            "apiserver.crt",
            "apiserver.key",
            "ca.crt",
            "client.crt",
            "client.key",
        ]
        url = urlsplit(cluster.server)
        host, port = url.hostname or "", url.port or 0
        ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        assert _tls_get(host, port, ctx) == _tls_get(host, port, ctx, "/version/")
        status, body = _tls_get(host, port, ctx) or (0, b"")
        assert (status, json.loads(body)["gitVersion"]) == (200, "v1.32.0")
        status, body = _tls_get(host, port, ctx, "/api/v1/pods") or (0, b"")
        assert status == 403
        assert json.loads(body)["message"] == (
            'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API '
            'group "" at the cluster scope'
        )
        status, body = _tls_get(host, port, ctx, "/api") or (0, b"")
        assert (status, json.loads(body)["message"]) == (
            403,
            'forbidden: User "system:anonymous" cannot get path "/api"',
        )
        status, body = _tls_get(host, port, ctx, "/version", token="not-a-token") or (0, b"")
        assert status == 401
        assert json.loads(body) == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }
        ctx.load_cert_chain(certs / "client.crt", certs / "client.key")
        status, body = _tls_get(host, port, ctx, "/api/v1/pods") or (0, b"")
        assert status == 200, body
        pid = cluster.pid
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def processes_under(root: Path) -> list[int]:
    """Pids whose working directory is inside `root` (pod containers run in the state dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(root)):
            found.append(int(proc.name))
    return found


def test_stop_leaves_no_pod_process(tmp_path: Path) -> None:
    with FakeCluster(tmp_path / "pods", pod_ready_delay=0.1) as cluster:
        cluster.kubectl(
            "create",
            "deployment",
            "kubernetes-bootcamp",
            "--image=gcr.io/google-samples/kubernetes-bootcamp:v1",
            check=True,
        )
        cluster.kubectl("scale", "deployment/kubernetes-bootcamp", "--replicas=2", check=True)
        cluster.kubectl(
            "rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=30s", check=True
        )
        assert len(processes_under(tmp_path / "pods")) >= 2
        # delete while new sandboxes may still be starting: none may leak
        cluster.kubectl("scale", "deployment/kubernetes-bootcamp", "--replicas=4", check=True)
        cluster.kubectl("delete", "deployment", "kubernetes-bootcamp", check=True)
    deadline = time.monotonic() + 5
    while processes_under(tmp_path / "pods") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_under(tmp_path / "pods") == []


def test_data_file_keeps_objects_across_restart(tmp_path: Path) -> None:
    data = tmp_path / "cluster.json"
    with FakeCluster(tmp_path / "one", data_file=data, pod_ready_delay=0.1) as cluster:
        cluster.kubectl("create", "deployment", "keep", "--image=nginx:1.25", check=True)
        cluster.kubectl("rollout", "status", "deployment/keep", "--timeout=20s", check=True)
        before = cluster.kubectl("get", "pods", "-o", "name").stdout
    assert data.exists()
    with FakeCluster(tmp_path / "two", data_file=data, pod_ready_delay=0.1) as cluster:
        assert (
            cluster.kubectl("get", "deploy", "keep", "-o", "name").stdout
            == "deployment.apps/keep\n"
        )
        assert cluster.kubectl("get", "pods", "-o", "name").stdout == before
        cluster.kubectl("rollout", "status", "deployment/keep", "--timeout=20s", check=True)
        deadline = time.monotonic() + 10
        restarts = ""
        while time.monotonic() < deadline:
            restarts = cluster.kubectl(
                "get", "pods", "-o", "jsonpath={.items[0].status.containerStatuses[0].restartCount}"
            ).stdout
            if restarts == "1":
                break
            time.sleep(0.1)
        assert restarts == "1"
