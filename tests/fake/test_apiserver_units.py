"""Pure pieces of the fake API server: durations, hashes, selectors, patches, validation."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from labtools.testing.apiserver import resources as R
from labtools.testing.apiserver.certs import make_certs
from labtools.testing.apiserver.controllers import compute_hash, go_duration, image_missing
from labtools.testing.apiserver.defaults import apply_defaults, pull_policy, validate
from labtools.testing.apiserver.patch import json_patch, merge_patch, strategic_merge
from labtools.testing.apiserver.selectors import match_requirements, parse_labels
from labtools.testing.apiserver.status import ApiError
from labtools.testing.apiserver.tables import human_duration

pytestmark = pytest.mark.fake


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (123, "2m3s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600, "8h"),
        (48 * 3600, "2d"),
        (50 * 3600, "2d2h"),
        (10 * 86400, "10d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4245, "424ms"), (1.2, "1.2s"), (7.3861, "7.386s"), (2.0, "2s")]
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_compute_hash_is_stable_and_uses_safe_alphabet() -> None:
    tpl = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "x"}]}}
    first = compute_hash(tpl)
    assert first == compute_hash({"spec": tpl["spec"], "metadata": tpl["metadata"]})
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert 6 <= len(first) <= 10
    assert compute_hash(tpl, 1) != first


@pytest.mark.parametrize(
    ("image", "missing"),
    [
        ("gcr.io/google-samples/kubernetes-bootcamp:v10", True),
        ("gcr.io/k8s-minikube/kubernetes-bootcamp:v10", True),
        ("gcr.io/google-samples/kubernetes-bootcamp:v1", False),
        ("nginx:does-not-exist", True),
        ("nginx", False),
        ("does-not-exist/app", True),  # no tag: the name still says it never pulls
        ("localhost:5000/nonexistent", True),  # a registry port is not a tag
        ("localhost:5000/app", False),
    ],
)
def test_image_missing(image: str, missing: bool) -> None:
    assert image_missing(image) is missing


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v1", "IfNotPresent"),
        ("nginx@sha256:abc", "IfNotPresent"),
    ],
)
def test_pull_policy(image: str, policy: str) -> None:
    assert pull_policy(image) == policy


@pytest.mark.parametrize(
    ("selector", "labels", "ok"),
    [
        ("a=b", {"a": "b"}, True),
        ("a==b", {"a": "c"}, False),
        ("a!=b", {}, True),
        ("a in (b, c)", {"a": "c"}, True),
        ("a notin (b,c)", {"a": "c"}, False),
        ("a", {"a": ""}, True),
        ("!a", {"a": "x"}, False),
        ("a=b,c", {"a": "b"}, False),
        ("a=b, c notin (d)", {"a": "b"}, True),
    ],
)
def test_label_selector(selector: str, labels: dict[str, str], ok: bool) -> None:
    assert match_requirements(parse_labels(selector), labels) is ok


CONTAINERS = {
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "v1",
                        "ports": [{"containerPort": 80}],
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    },
                    {"name": "side", "image": "s1"},
                ]
            }
        }
    }
}


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        (
            {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "v2"}]}}}},
            lambda c: (
                (c[0]["image"], c[0]["ports"], c[1]["image"])
                == ("v2", [{"containerPort": 80}], "s1")
            ),
        ),
        (
            {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}
                }
            },
            lambda c: [x["name"] for x in c] == ["app"],
        ),
        (
            {"spec": {"template": {"spec": {"containers": [{"name": "new", "image": "n"}]}}}},
            lambda c: [x["name"] for x in c] == ["app", "side", "new"],
        ),
        (
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "app", "env": [{"name": "B", "value": "3"}]}]
                        }
                    }
                }
            },
            lambda c: c[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}],
        ),
        (
            {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "only"}, {"$patch": "replace"}]}}
                }
            },
            lambda c: c == [{"name": "only"}],
        ),
    ],
)
def test_strategic_merge_uses_merge_keys(patch: dict[str, Any], check: Any) -> None:
    out = strategic_merge(CONTAINERS, patch)
    assert check(out["spec"]["template"]["spec"]["containers"])


def test_strategic_merge_service_ports_by_port_and_retain_keys() -> None:
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    out = strategic_merge(svc, {"spec": {"ports": [{"port": 80, "nodePort": 30001}]}})
    assert out["spec"]["ports"] == [
        {"port": 80, "targetPort": 8080, "nodePort": 30001},
        {"port": 443},
    ]
    strategy = {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}
    out = strategic_merge(strategy, {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}})
    assert out == {"strategy": {"type": "Recreate"}}


def test_merge_and_json_patch() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {
        "a": {"c": 2, "d": 3}
    }
    doc = {"spec": {"list": [1, 2]}, "x": 1}
    out = json_patch(
        doc,
        [
            {"op": "add", "path": "/spec/list/-", "value": 3},
            {"op": "replace", "path": "/x", "value": 2},
            {"op": "remove", "path": "/spec/list/0"},
        ],
    )
    assert out == {"spec": {"list": [2, 3]}, "x": 2}
    with pytest.raises(ApiError) as err:
        json_patch(doc, [{"op": "replace", "path": "/nope/x", "value": 1}])
    assert err.value.code == 422


def _deployment(name: str, image: str | None = "nginx") -> dict[str, Any]:
    container = {"name": "c"} if image is None else {"name": "c", "image": image}
    return {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [container]}},
        },
    }


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            _deployment("Bad_Name"),
            'Deployment.apps "Bad_Name" is invalid: metadata.name: Invalid '
            'value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of',
        ),
        (
            _deployment("ok", None),
            'Deployment.apps "ok" is invalid: '
            "spec.template.spec.containers[0].image: Required value",
        ),
    ],
)
def test_validation_messages(obj: dict[str, Any], message: str) -> None:
    apply_defaults(R.DEPLOYMENT, obj)
    with pytest.raises(ApiError) as err:
        validate(R.DEPLOYMENT, obj)
    assert err.value.code == 422
    assert err.value.message.startswith(message)
    assert err.value.status()["details"]["kind"] == "Deployment"


def test_deployment_defaults() -> None:
    obj = _deployment("ok")
    apply_defaults(R.DEPLOYMENT, obj)
    spec = obj["spec"]
    assert (spec["replicas"], spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (
        1,
        10,
        600,
    )
    container = spec["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "Always"
    assert spec["template"]["spec"]["securityContext"] == {}


def _issued_by(cert: Path, ca: Path) -> bool:
    leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    issuer = x509.load_pem_x509_certificate(ca.read_bytes())
    try:
        leaf.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError):
        return False
    return True


def test_make_certs_reuses_a_given_ca(tmp_path: Path) -> None:
    ca_cert, ca_key = tmp_path / "ca.crt", tmp_path / "ca.key"
    first = make_certs(tmp_path / "p1", ["127.0.0.1"], ca_cert, ca_key)  # generated and written
    assert ca_key.stat().st_mode & 0o777 == 0o600
    second = make_certs(tmp_path / "p2", ["127.0.0.1"], ca_cert, ca_key)  # loaded
    for files in (first, second):
        assert files.ca.read_bytes() == ca_cert.read_bytes()
        assert _issued_by(files.server_cert, ca_cert)
        assert _issued_by(files.client_cert, ca_cert)
    alone = make_certs(tmp_path / "p3", ["127.0.0.1"])  # a throwaway CA
    assert alone.ca.read_bytes() != ca_cert.read_bytes()
    assert not _issued_by(alone.client_cert, ca_cert)


def test_make_certs_signs_with_an_rsa_ca(tmp_path: Path) -> None:
    """minikube's own ca.key is RSA: such a CA is loaded and signs the server and client certs."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "minikubeCA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca_cert, ca_key = tmp_path / "ca.crt", tmp_path / "ca.key"
    ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ca_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    files = make_certs(tmp_path / "p", ["127.0.0.1"], ca_cert, ca_key)
    assert _issued_by(files.server_cert, ca_cert)
    assert _issued_by(files.client_cert, ca_cert)
