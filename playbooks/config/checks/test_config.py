"""Checks of the config lab: the changed configuration reached every Pod.

The ConfigMap and the Secret are read from the cluster and compared with what each Pod sees, in
its environment and in its mounted files. The Secret's values are compared by digest and never
appear in an assertion message (pytest prints the operands of a failed ``==``): a failure says
which value differs, not what it is.

Run by ``lab.verify --lab config``; alone, from the project root:
``pytest -p labtools.verify.plugin --lab config playbooks/config/checks/test_config.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from labtools.verify.snapshot import is_true, name_of

KubectlJson = Callable[..., dict[str, Any]]
SECRET_KEYS = {"username": "DB_USERNAME", "password": "DB_PASSWORD"}


@pytest.fixture
def configmap(kubectl_json: KubectlJson, app_name: str) -> dict[str, str]:
    """The data of the app's ConfigMap."""
    return dict(kubectl_json("get", "configmap", f"{app_name}-config").get("data") or {})


@pytest.fixture
def secret_digests(kubectl_json: KubectlJson, app_name: str) -> dict[str, str]:
    """sha256 of each decoded value of the app's Secret (the values themselves are not kept)."""
    data = kubectl_json("get", "secret", f"{app_name}-credentials").get("data") or {}
    return {key: digest(base64.b64decode(value)) for key, value in data.items()}


def digest(value: bytes | str) -> str:
    """The sha256 hex digest of a value."""
    raw = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(raw).hexdigest()


def same_secret(seen: str, expected_digest: str) -> bool:
    """Whether a value a Pod shows has the Secret's digest (constant time, nothing printed)."""
    return hmac.compare_digest(digest(seen), expected_digest)


def test_the_configmap_holds_the_changed_greeting(
    configmap: dict[str, str], lab_vars: Mapping[str, Any]
) -> None:
    assert configmap.get("greeting") == lab_vars["new_greeting"], "the config change is not applied"
    assert configmap.get("log_level") == lab_vars["log_level"]
    assert lab_vars["new_greeting"] in configmap.get("index.html", "")


def test_the_rollout_of_the_change_finished(
    cluster: Any, app_name: str, current_app_pods: list[dict[str, Any]], lab_vars: Mapping[str, Any]
) -> None:
    deployment = cluster.deployment(app_name)
    assert deployment is not None, f"deployment {app_name} not found"
    spec, status = deployment["spec"], deployment.get("status", {})
    replicas = int(lab_vars["replicas"])
    assert spec.get("replicas") == replicas
    assert status.get("observedGeneration") == deployment["metadata"].get("generation")
    assert status.get("updatedReplicas") == replicas, status
    assert status.get("availableReplicas") == replicas, status
    assert is_true(deployment, "Available")
    revision = int(deployment["metadata"].get("annotations", {}).get(REVISION, "0"))
    assert revision >= 2, f"revision {revision}: the config change did not roll out new Pods"
    annotations = spec["template"]["metadata"].get("annotations", {})
    assert {"checksum/config", "checksum/secret"} <= set(annotations)
    # every Running Pod belongs to the newest ReplicaSet: none is left from before the change
    newest = max(cluster.replicasets({"app": app_name}), key=rs_revision)
    wanted = newest["metadata"]["labels"]["pod-template-hash"]
    hashes = {
        name_of(p): p["metadata"]["labels"].get("pod-template-hash") for p in current_app_pods
    }
    assert len(hashes) == replicas, f"{replicas} Running pods wanted: {sorted(hashes)}"
    assert set(hashes.values()) == {wanted}, f"pods not of the newest ReplicaSet: {hashes}"


REVISION = "deployment.kubernetes.io/revision"


def rs_revision(replicaset: Mapping[str, Any]) -> int:
    """The Deployment revision a ReplicaSet belongs to."""
    return int(replicaset["metadata"].get("annotations", {}).get(REVISION, "0"))


def test_every_pod_has_the_configmap_in_its_environment(
    app_pod_hosts: dict[str, Any], configmap: dict[str, str]
) -> None:
    assert app_pod_hosts, "no Running pod of the app"
    for pod, host in app_pod_hosts.items():
        env = host.environment()
        assert env.get("GREETING") == configmap["greeting"], f"GREETING in {pod}"
        assert env.get("LOG_LEVEL") == configmap["log_level"], f"LOG_LEVEL in {pod}"


def test_every_pod_has_the_configmap_as_files(
    app_pod_hosts: dict[str, Any], configmap: dict[str, str]
) -> None:
    assert app_pod_hosts, "no Running pod of the app"
    for pod, host in app_pod_hosts.items():
        for key, value in configmap.items():
            assert host.file(f"/etc/config/{key}").content_string == value, f"{key} in {pod}"
        page = host.file("/usr/share/nginx/html/index.html").content_string
        assert page == configmap["index.html"], f"the page nginx serves in {pod}"


def test_every_pod_has_the_secret_in_its_environment_and_files(
    app_pod_hosts: dict[str, Any], secret_digests: dict[str, str]
) -> None:
    assert set(secret_digests) == set(SECRET_KEYS), f"keys of the Secret: {sorted(secret_digests)}"
    assert app_pod_hosts, "no Running pod of the app"
    for pod, host in app_pod_hosts.items():
        env = host.environment()
        for key, variable in SECRET_KEYS.items():
            in_env = same_secret(env.get(variable, ""), secret_digests[key])
            assert in_env, f"{variable} in {pod} is not the Secret's {key}"
            in_file = same_secret(
                host.file(f"/etc/secret-volume/{key}").content_string, secret_digests[key]
            )
            assert in_file, f"/etc/secret-volume/{key} in {pod} is not the Secret's {key}"


def test_the_secret_files_are_readable_by_their_owner_only(app_pod_hosts: dict[str, Any]) -> None:
    for pod, host in app_pod_hosts.items():
        for key in SECRET_KEYS:
            mode = host.file(f"/etc/secret-volume/{key}").mode
            assert mode == 0o400, f"/etc/secret-volume/{key} in {pod} has mode {mode:o}"


def test_the_page_shows_the_greeting(
    lab_proxy_url: str | None,
    lab_namespace: str,
    current_app_pods: list[dict[str, Any]],
    configmap: dict[str, str],
) -> None:
    if not lab_proxy_url:
        pytest.skip("no --lab-proxy-url: the lab's kubectl proxy is not running")
    for pod in current_app_pods:
        url = f"{lab_proxy_url}/api/v1/namespaces/{lab_namespace}/pods/{name_of(pod)}:80/proxy/"
        with urllib.request.urlopen(url, timeout=10) as response:
            page = response.read().decode()
        assert configmap["greeting"] in page, f"{url} answered {json.dumps(page[:200])}"
