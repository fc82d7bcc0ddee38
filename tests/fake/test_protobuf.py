"""The fake API server's protobuf decoder against what the real kubectl v1.32 sends.

The fixtures under ``data/protobuf`` are bodies captured from ``kubectl create ...`` (``NAME.pb``)
next to what ``kubectl create ... --dry-run=client -o json`` printed (``NAME.json``). The live tests
capture both again with the kubectl on PATH; set ``LABTOOLS_REGEN_PROTOBUF_FIXTURES=1`` to rewrite
the fixtures from them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labtools.testing.apiserver.protobuf import (
    ProtobufError,
    _iter_wire,
    decode_object,
    encode_object,
    is_protobuf,
)
from labtools.testing.apiserver.protoschema import KINDS, MESSAGES

DATA = Path(__file__).parent / "data" / "protobuf"
REGEN = os.environ.get("LABTOOLS_REGEN_PROTOBUF_FIXTURES") == "1"

# name -> kubectl arguments; each one POSTs a protobuf body through a typed-clientset generator.
CASES: dict[str, list[str]] = {
    "deployment": [
        "create", "deployment", "web", "--image=nginx:1.27", "--replicas=3", "--port=80",
    ],
    "deployment-two-images": [
        "create", "deployment", "pair", "--image=nginx:1.27", "--image=busybox:1.36",
    ],
    "namespace": ["create", "namespace", "lab"],
    "configmap": [
        "create", "configmap", "cfg", "--from-literal=a=1", "--from-literal=greeting=hello world",
    ],
    "configmap-in-namespace": ["-n", "lab", "create", "configmap", "cfg2", "--from-literal=k=v"],
    "secret-generic": [
        "create", "secret", "generic", "sec", "--from-literal=user=admin",
        "--from-literal=pass=s3 cr=t\u00e9", "--type=Opaque",
    ],
    "secret-docker-registry": [
        "create", "secret", "docker-registry", "reg", "--docker-server=registry.example",
        "--docker-username=u", "--docker-password=p", "--docker-email=u@example.com",
    ],
    "service-clusterip": ["create", "service", "clusterip", "web", "--tcp=80:8080"],
    "service-clusterip-headless": ["create", "service", "clusterip", "hl", "--clusterip=None"],
    "service-nodeport": [
        "create", "service", "nodeport", "web-np", "--tcp=80:8080", "--node-port=30080",
    ],
    "service-loadbalancer": ["create", "service", "loadbalancer", "lb", "--tcp=443:8443"],
    "service-externalname": [
        "create", "service", "externalname", "ext", "--external-name=db.example.com",
    ],
    "job": ["create", "job", "pi", "--image=busybox:1.36", "--", "sh", "-c", "echo hi"],
    "cronjob": [
        "create", "cronjob", "tick", "--image=busybox:1.36", "--schedule=*/5 * * * *",
        "--restart=OnFailure", "--", "date",
    ],
    "serviceaccount": ["create", "serviceaccount", "robot"],
    "role": [
        "create", "role", "reader", "--verb=get,list,watch", "--resource=pods,deployments.apps",
        "--resource-name=web",
    ],
    "clusterrole": [
        "create", "clusterrole", "creader", "--verb=get", "--resource=deployments.apps",
        "--non-resource-url=/healthz",
    ],
    "clusterrole-aggregated": [
        "create", "clusterrole", "agg", "--aggregation-rule=rbac.example.com/aggregate=true",
    ],
    "rolebinding": [
        "create", "rolebinding", "rb", "--role=reader", "--user=alice",
        "--serviceaccount=default:robot",
    ],
    "clusterrolebinding": [
        "create", "clusterrolebinding", "crb", "--clusterrole=creader", "--group=devs",
    ],
    "quota": [
        "create", "quota", "q", "--hard=cpu=1,memory=1Gi,pods=10", "--scopes=NotTerminating",
    ],
    "priorityclass": [
        "create", "priorityclass", "high", "--value=1000", "--description=high",
        "--preemption-policy=Never",
    ],
    "priorityclass-zero": ["create", "priorityclass", "zero", "--global-default=false"],
    "pdb": ["create", "pdb", "pdb", "--selector=app=web", "--min-available=1"],
    "pdb-percent": ["create", "pdb", "pdb2", "--selector=app=web", "--max-unavailable=50%"],
    "ingress": [
        "create", "ingress", "ing", "--class=nginx", "--rule=foo.com/bar*=svc1:8080,tls=my-cert",
        "--rule=/path=svc2:http", "--default-backend=defsvc:80", "--annotation=a.example/b=c",
    ],
}  # fmt: skip

# Commands with no --dry-run: name -> (arguments, the object the real server would decode).
CAPTURE_ONLY: dict[str, tuple[list[str], dict[str, Any]]] = {
    "selfsubjectaccessreview": (["auth", "can-i", "get", "pods"], {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "metadata": {}, "status": {"allowed": False},
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "get",
                                        "resource": "pods"}},
    }),
    "selfsubjectaccessreview-subresource": (
        ["-n", "lab", "auth", "can-i", "list", "pods", "--subresource=log"], {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "metadata": {}, "status": {"allowed": False},
            "spec": {"resourceAttributes": {"namespace": "lab", "verb": "list",
                                            "resource": "pods", "subresource": "log"}},
        },
    ),
    "tokenrequest": (["create", "token", "robot", "--duration=10m", "--audience=api"], {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {},
        "spec": {"audiences": ["api"], "expirationSeconds": 600}, "status": {"token": ""},
    }),
}  # fmt: skip
FIXTURES = sorted([*CASES, *CAPTURE_ONLY])

# Just enough legacy discovery for `create role|clusterrole` to resolve resource names.
DISCOVERY: dict[str, Any] = {
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/apis": {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": "apps",
                "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"},
            }
        ],
    },
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
             "verbs": ["get", "list", "create"]},
            {"name": "serviceaccounts", "singularName": "serviceaccount", "namespaced": True,
             "kind": "ServiceAccount", "verbs": ["get", "list", "create"]},
        ],
    },
    "/apis/apps/v1": {
        "kind": "APIResourceList",
        "groupVersion": "apps/v1",
        "resources": [
            {"name": "deployments", "singularName": "deployment", "namespaced": True,
             "kind": "Deployment", "verbs": ["get", "list", "create"]},
        ],
    },
}  # fmt: skip


class CaptureHandler(BaseHTTPRequestHandler):
    """Answers discovery, records each POST body with its content type, answers 201 ``{}``."""

    posts: list[tuple[str, bytes]]

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""

    def _reply(self, code: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        doc = DISCOVERY.get(self.path.split("?", 1)[0])
        self._reply(200 if doc else 404, doc or {"kind": "Status", "code": 404})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.posts.append((self.headers.get("Content-Type", ""), body))
        self._reply(201, {})


@pytest.fixture(scope="module")
def capture_server() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A plain-HTTP server on a free port; yields its URL and the list of recorded POSTs."""
    posts: list[tuple[str, bytes]] = []
    handler = type("Handler", (CaptureHandler,), {"posts": posts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", posts
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def kubectl_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment with its own HOME and an empty KUBECONFIG, so no user config is touched."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH")
    home = tmp_path_factory.mktemp("home")
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "KUBECONFIG": str(home / "kubeconfig"),
        "MINIKUBE_HOME": str(home / ".minikube"),
    }


def kubectl(env: dict[str, str], server: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", f"--server={server}", *args],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def without_nulls(value: Any) -> Any:
    """Drop null-valued keys (``creationTimestamp: null``): Go prints them, a store omits them."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


# ---------------------------------------------------------------------------------------------
# Real kubectl: what it POSTs decodes to what it prints with --dry-run=client -o json
# ---------------------------------------------------------------------------------------------


@pytest.mark.fake
@pytest.mark.parametrize("name", sorted(CASES))
def test_kubectl_body_decodes_to_dry_run_object(
    name: str, capture_server: tuple[str, list[tuple[str, bytes]]], kubectl_env: dict[str, str]
) -> None:
    url, posts = capture_server
    args = CASES[name]
    # Flags go before a `--` that starts the container command.
    split = args.index("--") if "--" in args else len(args)
    dry_run = [*args[:split], "--dry-run=client", "-o", "json", *args[split:]]
    printed = kubectl(kubectl_env, url, dry_run)
    assert printed.returncode == 0, printed.stderr
    before = len(posts)
    created = kubectl(kubectl_env, url, args)
    assert created.returncode == 0, created.stderr
    assert len(posts) == before + 1
    content_type, body = posts[-1]

    assert is_protobuf(content_type)
    assert decode_object(body) == without_nulls(json.loads(printed.stdout))
    assert encode_object(decode_object(body)) == body
    if REGEN:
        (DATA / f"{name}.pb").write_bytes(body)
        (DATA / f"{name}.json").write_text(printed.stdout)


@pytest.mark.fake
@pytest.mark.parametrize("name", sorted(CAPTURE_ONLY))
def test_kubectl_body_without_dry_run_decodes(
    name: str, capture_server: tuple[str, list[tuple[str, bytes]]], kubectl_env: dict[str, str]
) -> None:
    url, posts = capture_server
    args, expected = CAPTURE_ONLY[name]
    before = len(posts)
    # The answer ({}) is not what kubectl wants (it then says "no" or fails): only the POST matters.
    kubectl(kubectl_env, url, args)
    assert len(posts) == before + 1
    content_type, body = posts[-1]

    assert is_protobuf(content_type)
    assert decode_object(body) == expected
    assert encode_object(expected) == body
    if REGEN:
        (DATA / f"{name}.pb").write_bytes(body)
        (DATA / f"{name}.json").write_text(json.dumps(expected, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Saved fixtures: no kubectl needed
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_decodes_and_reencodes_byte_for_byte(name: str) -> None:
    body = (DATA / f"{name}.pb").read_bytes()
    printed = json.loads((DATA / f"{name}.json").read_text())

    decoded = decode_object(body)

    assert decoded == without_nulls(printed)
    assert list(decoded)[:2] == ["apiVersion", "kind"]
    assert encode_object(decoded) == body


@pytest.mark.parametrize(
    ("name", "path", "expected"),
    [
        ("deployment", ("spec", "replicas"), 3),
        ("deployment", ("spec", "template", "spec", "containers", 0, "ports"),
         [{"containerPort": 80}]),
        ("secret-generic", ("data", "pass"), base64.b64encode("s3 cr=t\u00e9".encode()).decode()),
        ("secret-generic", ("type",), "Opaque"),
        ("configmap", ("data",), {"a": "1", "greeting": "hello world"}),
        ("configmap-in-namespace", ("metadata", "namespace"), "lab"),
        ("service-nodeport", ("spec", "ports", 0),
         {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080}),
        ("service-clusterip-headless", ("spec", "clusterIP"), "None"),
        ("pdb-percent", ("spec", "maxUnavailable"), "50%"),
        ("pdb", ("spec", "minAvailable"), 1),
        ("priorityclass-zero", ("value",), 0),
        ("quota", ("spec", "hard"), {"cpu": "1", "memory": "1Gi", "pods": "10"}),
        ("rolebinding", ("roleRef",),
         {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}),
        ("ingress", ("spec", "rules", 0, "http", "paths", 0, "pathType"), "Prefix"),
        ("cronjob", ("spec", "schedule"), "*/5 * * * *"),
    ],
)  # fmt: skip
def test_fixture_values(name: str, path: tuple[str | int, ...], expected: Any) -> None:
    value: Any = decode_object((DATA / f"{name}.pb").read_bytes())
    for step in path:
        value = value[step]
    assert value == expected


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def field(number: int, payload: bytes | int) -> bytes:
    """One protobuf field: a varint when given an int, else length-delimited bytes."""
    if isinstance(payload, int):
        return bytes([number << 3, payload])
    return bytes([number << 3 | 2, len(payload)]) + payload


def envelope(api_version: str, kind: str, raw: bytes | None, encoding: str = "") -> bytes:
    """A ``k8s\\x00`` + runtime.Unknown body around ``raw`` (None leaves the field out)."""
    type_meta = field(1, api_version.encode()) + field(2, kind.encode())
    raw_field = b"" if raw is None else field(2, raw)
    return b"k8s\x00" + field(1, type_meta) + raw_field + field(3, encoding.encode())


def test_every_truncation_of_a_real_body_is_a_400() -> None:
    body = (DATA / "deployment.pb").read_bytes()
    # The body ends with two empty optional strings (contentEncoding, contentType); without them
    # it is still a complete message, so every cut before them must fail.
    assert body.endswith(b"\x1a\x00\x22\x00")
    for cut in range(len(body) - 4):
        with pytest.raises(ProtobufError) as caught:
            decode_object(body[:cut])
        assert caught.value.status == 400, (cut, caught.value.message)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (envelope("apps/v1", "Frobnicator", b""), 415, ["Frobnicator", "apps/v1"]),
        (envelope("example.com/v1", "Widget", b""), 415, ["Widget", "example.com/v1"]),
        (envelope("v1", "Namespace", b"", encoding="gzip"), 415, ["contentEncoding", "gzip"]),
        (b'{"kind": "Namespace"}', 400, ["magic"]),
        (envelope("v1", "Namespace", field(1, field(1, b"ns")) + field(9, 1)), 400,
         ["core/v1.Namespace", "field 9"]),
        (envelope("v1", "Namespace", field(1, field(1, b"ns") + field(15, b"x"))), 400,
         ["meta/v1.ObjectMeta", "field 15", "Namespace.metadata"]),
        (envelope("v1", "Namespace", field(1, field(1, 7))), 400,
         ["Namespace.metadata.name", "wire type 0"]),
        (envelope("v1", "Namespace", field(1, field(1, b"\xff\xfe"))), 400, ["UTF-8"]),
        (envelope("v1", "ConfigMap", field(3, field(1, b"k") + field(3, b"v"))), 400,
         ["ConfigMap.binaryData", "map entry has no field 3"]),
        (envelope("v1", "Namespace", None), 400, ["no raw object"]),
        (envelope("v1", "ResourceQuota", field(2, field(1, field(1, b"cpu") + field(2, field(
            1, b"lots"))))), 400, ["ResourceQuota.spec.hard['cpu']", "'lots' is not a quantity"]),
    ],
    ids=["unknown-kind", "unknown-group", "gzip", "json-body", "unknown-field",
         "unknown-nested-field", "wrong-wire-type", "bad-utf8", "bad-map-entry", "no-raw",
         "bad-quantity"],
)  # fmt: skip
def test_undecodable_bodies_name_the_problem(body: bytes, status: int, words: list[str]) -> None:
    with pytest.raises(ProtobufError) as caught:
        decode_object(body)
    assert caught.value.status == status
    assert "\n" not in caught.value.message
    for word in words:
        assert word in caught.value.message


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        ({"apiVersion": "v1", "kind": "Gadget"}, ["Gadget"]),
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"nmae": "x"}}, ["nmae"]),
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": 3}}, ["metadata.name"]),
        ({"apiVersion": "v1", "kind": "Secret", "data": {"k": "not base64!"}}, ["base64"]),
        ({"apiVersion": "v1", "kind": "Secret", "immutable": "yes"}, ["immutable"]),
        ({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "3"}},
         ["spec.replicas"]),
        ({"apiVersion": "v1", "kind": "Event", "eventTime": "yesterday"}, ["eventTime"]),
    ],
)  # fmt: skip
def test_unencodable_objects_name_the_field(obj: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ProtobufError) as caught:
        encode_object(obj)
    for word in words:
        assert word in caught.value.message


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/vnd.kubernetes.protobuf", True),
        ("application/vnd.kubernetes.protobuf; charset=binary", True),
        ("Application/VND.Kubernetes.Protobuf;stream=watch", True),
        ("application/json", False),
        ("application/apply-patch+yaml", False),
        ("", False),
    ],
)
def test_is_protobuf(content_type: str, expected: bool) -> None:
    assert is_protobuf(content_type) is expected


# ---------------------------------------------------------------------------------------------
# Round trips of hand-written objects: the JSON shapes that generators never send
# ---------------------------------------------------------------------------------------------

POD_SPEC: dict[str, Any] = {
    "restartPolicy": "Always",
    "serviceAccountName": "robot",
    "nodeSelector": {"disk": "ssd"},
    "securityContext": {"runAsUser": 1000, "runAsNonRoot": True, "fsGroup": 0},
    "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule",
                     "tolerationSeconds": 30}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}},
    "automountServiceAccountToken": False,
    "terminationGracePeriodSeconds": 0,
    "volumes": [
        {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420,
                                      "items": [{"key": "a", "path": "a.txt"}]}},
        {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "tok", "secret": {"secretName": "sec", "optional": False}},
        {"name": "host", "hostPath": {"path": "/data", "type": "Directory"}},
        {"name": "claim", "persistentVolumeClaim": {"claimName": "pvc"}},
    ],
    "initContainers": [{"name": "init", "image": "busybox", "command": ["true"],
                        "resources": {}}],
    "containers": [{
        "name": "app", "image": "nginx:1.27", "command": ["nginx"], "args": ["-g", "daemon off;"],
        "workingDir": "/srv", "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
        "env": [
            {"name": "PLAIN", "value": "1"},
            {"name": "EMPTY"},
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pass"}}},
            {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "a",
                                                                  "optional": True}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m"}},
        "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                          "initialDelaySeconds": 5, "periodSeconds": 10},
        "readinessProbe": {"tcpSocket": {"port": 80}},
        "startupProbe": {"exec": {"command": ["cat", "/ready"]}, "failureThreshold": 30},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
    }],
}  # fmt: skip

ROUND_TRIPS: dict[str, dict[str, Any]] = {
    "deployment-full": {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "generateName": "web-", "namespace": "lab", "uid": "1234-abcd",
            "resourceVersion": "42", "generation": 7,
            "creationTimestamp": "2024-05-06T07:08:09Z",
            "deletionTimestamp": "1970-01-01T00:00:00Z", "deletionGracePeriodSeconds": 0,
            "labels": {"app": "web", "tier": ""}, "annotations": {"note": "a\nb"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                                 "uid": "u-1", "controller": True,
                                 "blockOwnerDeletion": False}],
            "finalizers": ["example.com/keep"],
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [
                {"key": "tier", "operator": "NotIn", "values": ["db"]}]},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": POD_SPEC},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
            "revisionHistoryLimit": 0, "progressDeadlineSeconds": 600,
        },
        "status": {"replicas": 3, "conditions": [
            {"type": "Available", "status": "True",
             "lastUpdateTime": "2024-05-06T07:08:10Z", "reason": "MinimumReplicasAvailable"}]},
    },
    "configmap-binary": {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bin"},
        "data": {"empty": ""}, "binaryData": {"blob": base64.b64encode(bytes(range(256))).decode()},
        "immutable": False,
    },
    "secret-string-data": {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "type": "kubernetes.io/basic-auth", "stringData": {"username": "u"},
        "data": {"password": "cA==", "empty": ""}, "immutable": True,
    },
    "lease-microtime": {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                 "renewTime": "2024-05-06T07:08:09.123456Z"},
    },
    "controllerrevision-rawextension": {
        "apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r"},
        "data": {"spec": {"template": {"x": [1, 2.5, None, "s"]}}}, "revision": 2,
    },
    "event-negative-and-large-ints": {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "generation": -5},
        "involvedObject": {"kind": "Pod", "name": "p"}, "source": {}, "count": -1,
        "series": {"count": 2147483647, "lastObservedTime": "2024-01-01T00:00:00.000001Z"},
    },
    "service-ipfamilies": {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 53, "protocol": "UDP", "targetPort": "dns"}],
                 "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                 "sessionAffinity": "ClientIP",
                 "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}},
        "status": {"loadBalancer": {}},
    },
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ROUND_TRIPS))
def test_round_trip_keeps_every_field(name: str) -> None:
    obj = ROUND_TRIPS[name]
    body = encode_object(obj)
    assert decode_object(body) == obj
    assert encode_object(decode_object(body)) == body


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        # A plain Go bool/int/string that is zero is left out, as omitempty JSON does...
        ({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"paused": False,
          "minReadySeconds": 0}}, {"spec": {"template": {"metadata": {}, "spec": {}},
                                            "strategy": {}}, "metadata": {}, "status": {}}),
        # ...but fields whose JSON tag has no omitempty are kept, like Go prints them.
        ({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass"},
         {"metadata": {}, "value": 0}),
        ({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding"},
         {"metadata": {}, "roleRef": {"apiGroup": "", "kind": "", "name": ""}}),
    ],
)  # fmt: skip
def test_zero_values_follow_go_json(obj: dict[str, Any], expected: dict[str, Any]) -> None:
    decoded = decode_object(encode_object(obj))
    assert decoded == {"apiVersion": obj["apiVersion"], "kind": obj["kind"], **expected}


@settings(max_examples=60, deadline=None)
@given(
    replicas=st.integers(-(2**31), 2**31 - 1),
    generation=st.integers(-(2**63), 2**63 - 1),
    label=st.text(max_size=20),
)
def test_integers_and_text_survive_any_value(replicas: int, generation: int, label: str) -> None:
    obj = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"generation": generation, "labels": {"k": label}} if generation else
        {"labels": {"k": label}},
        "spec": {"replicas": replicas, "template": {"metadata": {}, "spec": {}}, "strategy": {}},
        "status": {},
    }  # fmt: skip
    assert decode_object(encode_object(obj)) == obj


# ---------------------------------------------------------------------------------------------
# The schema tables agree with the descriptors compiled into kubectl v1.32
# ---------------------------------------------------------------------------------------------

SCALAR_TYPES = {3: "int64", 5: "int32", 8: "bool", 9: "string", 12: "bytes"}
PACKAGES = {
    "core/v1": "k8s.io.api.core.v1", "apps/v1": "k8s.io.api.apps.v1",
    "batch/v1": "k8s.io.api.batch.v1", "rbac/v1": "k8s.io.api.rbac.v1",
    "networking/v1": "k8s.io.api.networking.v1", "policy/v1": "k8s.io.api.policy.v1",
    "scheduling/v1": "k8s.io.api.scheduling.v1", "autoscaling/v1": "k8s.io.api.autoscaling.v1",
    "autoscaling/v2": "k8s.io.api.autoscaling.v2",
    "authentication/v1": "k8s.io.api.authentication.v1",
    "authorization/v1": "k8s.io.api.authorization.v1",
    "coordination/v1": "k8s.io.api.coordination.v1",
    "meta/v1": "k8s.io.apimachinery.pkg.apis.meta.v1", "runtime": "k8s.io.apimachinery.pkg.runtime",
    "intstr": "k8s.io.apimachinery.pkg.util.intstr",
    "resource": "k8s.io.apimachinery.pkg.api.resource",
}  # fmt: skip


def wire_fields(data: bytes) -> list[tuple[int, Any]]:
    return [(number, value) for number, _wire, value in _iter_wire(data, "descriptor")]


def kubectl_descriptors() -> dict[str, dict[int, Any]]:
    """Proto message name -> {field number: (name, type, label, nullable)} from kubectl's binary.

    generated.pb.go registers each package's FileDescriptorProto gzipped; they sit in the binary.
    """
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not on PATH")
    real = Path(found).resolve()
    # gcloud's kubectl is a dispatcher; prefer the versioned binary next to it.
    binary = next(p for p in (real.with_name("kubectl.1.32"), real) if p.exists())
    data = binary.read_bytes()
    messages: dict[str, dict[int, Any]] = {}
    start = data.find(b"\x1f\x8b\x08\x00\x00\x00\x00\x00")
    while start >= 0:
        try:
            gzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
            blob = gzip.decompress(data[start : start + (1 << 20)])
        except zlib.error:
            blob = b""
        if b"generated.proto" in blob[:200]:
            add_file_descriptor(blob, messages)
        start = data.find(b"\x1f\x8b\x08\x00\x00\x00\x00\x00", start + 1)
    if "k8s.io.api.core.v1.PodSpec" not in messages:
        pytest.skip(f"{binary} carries no Kubernetes protobuf descriptors")
    return messages


def add_file_descriptor(blob: bytes, messages: dict[str, dict[int, Any]]) -> None:
    """FileDescriptorProto: package = 2, message_type = 4; DescriptorProto: name 1, field 2."""
    top = wire_fields(blob)
    package = next(value for number, value in top if number == 2).decode()
    for number, value in top:
        if number != 4:
            continue
        message = wire_fields(value)
        name = next(v for n, v in message if n == 1).decode()
        fields: dict[int, Any] = {}
        for n, v in message:
            if n == 2:  # FieldDescriptorProto: name 1, number 3, label 4, type 5, type_name 6
                f = dict(wire_fields(v))
                options = dict(wire_fields(f.get(8, b"")))
                nullable = options.get(65001, 1) != 0  # gogoproto.nullable
                fields[f[3]] = (f[1].decode(), f[5], f.get(6, b"").decode(), f[4], nullable)
        messages[f"{package}.{name}"] = fields


def test_schema_matches_kubectl_descriptors() -> None:
    descriptors = kubectl_descriptors()
    checked = 0
    for message, table in MESSAGES.items():
        prefix, _, name = message.partition(".")
        compiled = descriptors[f"{PACKAGES[prefix]}.{name}"]
        assert set(table) == set(compiled), message
        for number, (json_name, type_name, mode) in table.items():
            proto_name, proto_type, type_ref, label, nullable = compiled[number]
            where = f"{message} field {number}"
            assert json_name == proto_name, where
            if mode == "map":
                assert label == 3, where
                assert type_ref.endswith("Entry"), where
                continue
            if proto_type in SCALAR_TYPES:
                assert type_name == SCALAR_TYPES[proto_type], where
            else:
                ref_prefix, _, ref_name = type_name.partition(".")
                assert type_ref == f".{PACKAGES[ref_prefix]}.{ref_name}", where
            expected_mode = {3: {"list"}, 1: {"ptr"} if nullable else {"val", "always", "inline"}}
            assert mode in expected_mode[label], where
            checked += 1
    assert checked > 1300
    assert all(message in MESSAGES for message in KINDS.values())
