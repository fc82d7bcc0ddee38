"""Checks of the Kubernetes Basics lab: the cluster is in the state the lab promises.

Run by ``lab.verify``; usable alone:
``pytest -p labtools.verify.plugin --lab-inventory inventory.yml <this file>``.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Mapping
from typing import Any

import pytest

from labtools.verify.probes import listening
from labtools.verify.snapshot import condition, is_true, name_of, pod_is_ready

APP_PORT = 8080


def wanted_replicas(lab_vars: Mapping[str, Any]) -> int:
    """The replicas the lab expects (lab var ``replicas``, default 1)."""
    return int(lab_vars.get("replicas", 1))


def app_version(lab_vars: Mapping[str, Any]) -> str:
    """The ``v=N`` the app answers: lab var ``app_version``, else the image tag's number."""
    if lab_vars.get("app_version"):
        return str(lab_vars["app_version"])
    match = re.search(r":v(\d+)$", str(lab_vars.get("image", "")))
    return match.group(1) if match else "1"


def test_node_is_ready(cluster: Any) -> None:
    node = cluster.node()
    assert node is not None, "the cluster has no node"
    ready = condition(node, "Ready")
    assert ready.get("status") == "True", f"node {name_of(node)} is not Ready: {ready}"


def test_deployment_is_available(
    cluster: Any, app_name: str, lab_namespace: str, lab_vars: Mapping[str, Any]
) -> None:
    deployment = cluster.deployment(app_name)
    assert deployment is not None, f"deployment {app_name} not found in namespace {lab_namespace}"
    replicas = wanted_replicas(lab_vars)
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    assert spec.get("replicas") == replicas, f"{app_name} wants {spec.get('replicas')} replicas"
    assert status.get("availableReplicas", 0) == replicas, f"{app_name} status: {status}"
    assert is_true(deployment, "Available"), condition(deployment, "Available")


def test_deployment_runs_the_lab_image(
    cluster: Any, app_name: str, lab_vars: Mapping[str, Any]
) -> None:
    if not lab_vars.get("image"):
        pytest.skip("lab var `image` not given")
    deployment = cluster.deployment(app_name)
    assert deployment is not None, f"deployment {app_name} not found"
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c.get("image") for c in containers] == [lab_vars["image"]]


def test_pods_are_running_and_ready(
    app_pods: list[dict[str, Any]], app_name: str, lab_vars: Mapping[str, Any]
) -> None:
    # a pod being deleted (scaled down, replaced by a rollout) is on its way out, Ready or not:
    # a real cluster keeps it for its grace period (30 s by default)
    current = [p for p in app_pods if not p.get("metadata", {}).get("deletionTimestamp")]
    replicas = wanted_replicas(lab_vars)
    ready = [name_of(p) for p in current if pod_is_ready(p)]
    phases = {name_of(p): p.get("status", {}).get("phase") for p in current}
    leaving = sorted(name_of(p) for p in app_pods if p not in current)
    assert len(ready) == replicas, (
        f"{replicas} ready pod(s) of {app_name} wanted; pods: {phases}"
        + (f" (being deleted: {', '.join(leaving)})" if leaving else "")
    )


def test_app_listens_on_8080(app_pod_host: Any) -> None:
    # the kernel's socket table, in one exec: no `ss`/`netstat` in the image, no OS detection
    assert listening(app_pod_host, APP_PORT), f"nothing listens on port {APP_PORT} in the pod"


def test_app_answers_inside_the_pod(
    app_pod_host: Any, app_pod_name: str, lab_vars: Mapping[str, Any]
) -> None:
    result = app_pod_host.run(f"curl -s localhost:{APP_PORT}")
    assert result.rc == 0, f"curl failed with {result.rc}: {result.stderr}"
    expected = (
        f"Hello Kubernetes bootcamp! | Running on: {app_pod_name} | v={app_version(lab_vars)}"
    )
    assert result.stdout.strip() == expected


def through_the_proxy(proxy_url: str, path: str) -> dict[str, Any]:
    """The JSON the API answers at ``path`` through the lab's ``kubectl proxy``."""
    with urllib.request.urlopen(f"{proxy_url}{path}", timeout=10) as response:
        return dict(json.load(response))


def test_api_answers_through_the_proxy(lab_proxy_url: str | None, cluster: Any) -> None:
    if not lab_proxy_url:
        pytest.skip("no --lab-proxy-url: the lab's kubectl proxy is not running")
    version = through_the_proxy(lab_proxy_url, "/version")
    assert version.get("gitVersion"), f"{lab_proxy_url}/version answered {version}"
    # this host's cluster, not any cluster: a node's uid is given once, by the cluster that
    # registered it, so the proxy's nodes and the snapshot's (kubectl) must be the same ones
    nodes = through_the_proxy(lab_proxy_url, "/api/v1/nodes").get("items") or []
    seen = {node.get("metadata", {}).get("uid") for node in nodes}
    known = {node.get("metadata", {}).get("uid") for node in cluster.nodes()}
    assert seen == known, f"the proxy at {lab_proxy_url} reaches another cluster: nodes {seen}"
