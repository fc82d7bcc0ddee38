"""Checks of the __LAB__ lab, run by `invoke lab.verify --lab __LAB__` (pytest-testinfra).

Fixtures (labtools.verify.plugin): ``lab_vars`` (the lab's variables for this host), ``cluster``
(one snapshot of the namespace), ``app_pods``, ``current_app_pods``, ``app_pod_host`` /
``app_pod_hosts`` (testinfra hosts inside the pods), ``kubectl``, ``kubectl_json``, ``lab_env``.
Alone, from the project root:
``pytest -p labtools.verify.plugin --lab __LAB__ playbooks/__LAB__/checks/test___LAB__.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labtools.verify.snapshot import condition, is_true, name_of, pod_is_ready


def test_deployment_is_available(cluster: Any, app_name: str, lab_vars: Mapping[str, Any]) -> None:
    deployment = cluster.deployment(app_name)
    assert deployment is not None, f"deployment {app_name} not found"
    replicas = int(lab_vars["replicas"])
    assert deployment["spec"]["replicas"] == replicas
    assert deployment.get("status", {}).get("availableReplicas") == replicas
    assert is_true(deployment, "Available"), condition(deployment, "Available")


def test_deployment_runs_the_lab_image(
    cluster: Any, app_name: str, lab_vars: Mapping[str, Any]
) -> None:
    deployment = cluster.deployment(app_name)
    assert deployment is not None, f"deployment {app_name} not found"
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == [lab_vars["image"]]


def test_pods_are_ready(
    current_app_pods: list[dict[str, Any]], lab_vars: Mapping[str, Any]
) -> None:
    # current: Running and not being deleted (a scaled-down pod lingers for its grace period)
    ready = [name_of(pod) for pod in current_app_pods if pod_is_ready(pod)]
    assert len(ready) == int(lab_vars["replicas"]), f"ready pods: {ready}"


def test_each_pod_knows_its_name(app_pod_hosts: dict[str, Any]) -> None:
    assert app_pod_hosts, "no Running pod of the app"
    for pod, host in app_pod_hosts.items():
        assert host.environment().get("HOSTNAME") == pod
