"""Field selectors per kind, and ``rollout status`` of a paused Deployment, with the real kubectl.

Sources (Kubernetes v1.32): the labels each kind accepts and the error for any other one come
from its field label conversion (``pkg/apis/core/v1/conversion.go``: Pod, Node,
ReplicationController, Event, Namespace, Secret, Service -> ``field label not supported: X``;
``pkg/apis/batch/v1/conversion.go``: Job; ``pkg/apis/certificates/v1/conversion.go``: CSR; every
other kind ``runtime.DefaultMetaV1FieldSelectorConversion``), answered as a 400 by
``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/get.go``; the values from each registry's
``ToSelectableFields`` (``pkg/registry/core/pod/strategy.go``: ``spec.hostNetwork`` as
``strconv.FormatBool``, ``status.podIP`` the first of ``podIPs``). A paused Deployment:
``pkg/controller/deployment/sync.go`` (``sync``: no new ReplicaSet while paused) and
``progress.go`` (``checkPausedConditions``); kubectl's ``DeploymentStatusViewer``
(``staging/src/k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go``).
"""

from __future__ import annotations

import json

import pytest

from labtools.testing.cluster import NamespacedKubectl as Kube
from tests.fake.test_fidelity import until

pytestmark = pytest.mark.fake

NOT_SUPPORTED = "field label not supported: {label}"
DEFAULT = '"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"'


@pytest.mark.parametrize(
    ("resource", "label", "text"),
    [
        ("pods", "spec.nope", NOT_SUPPORTED),
        ("nodes", "metadata.namespace", NOT_SUPPORTED),
        ("namespaces", "metadata.namespace", NOT_SUPPORTED),
        ("events", "message", NOT_SUPPORTED),
        ("secrets", "data", NOT_SUPPORTED),
        ("services", "spec.ports", NOT_SUPPORTED),
        ("replicationcontrollers", "spec.replicas", NOT_SUPPORTED),
        ("certificatesigningrequests", "spec.username", NOT_SUPPORTED),
        ("jobs", "status.failed", 'field label "{label}" not supported for batchv1.Job'),
        ("deployments", "spec.replicas", DEFAULT),
        ("configmaps", "data", DEFAULT),
        ("serviceaccounts", "secrets", DEFAULT),
    ],
)
def test_unknown_field_label_is_the_kinds_400(
    kube: Kube, resource: str, label: str, text: str
) -> None:
    # the selector is checked before anything is listed: an empty list fails the same way
    result = kube("get", resource, "--field-selector", f"{label}=x")
    assert result.returncode == 1
    assert result.stderr.startswith("Error from server (BadRequest): ")
    assert result.stderr.rstrip().endswith(text.format(label=label)), result.stderr


def test_pod_and_event_fields(kube: Kube) -> None:
    kube.ok("run", "web", "--image=nginx", "--restart=Never")
    until(kube, "Running", "get", "pod", "web", "--no-headers")
    ip = kube.ok("get", "pod", "web", "-o", "jsonpath={.status.podIP}")
    for selector, expected in [
        ("spec.hostNetwork=false", ["web"]),
        ("spec.hostNetwork=true", []),
        ("spec.restartPolicy=Never", ["web"]),
        ("spec.schedulerName=default-scheduler", ["web"]),
        ("spec.serviceAccountName=default", ["web"]),
        (f"status.podIP={ip}", ["web"]),
        ("spec.host=minikube", ["web"]),  # the old name of spec.nodeName
        ("status.phase!=Running", []),
        ("metadata.name==web,status.phase=Running", ["web"]),
    ]:
        out = kube.ok("get", "pods", "--field-selector", selector, "-o", "name")
        assert [n.split("/", 1)[1] for n in out.split()] == expected, selector
    events = kube.ok(
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=Pod,source=kubelet,reason=Started",
        "-o",
        "jsonpath={.items[*].involvedObject.name}",
    )
    assert events == "web"


def test_cluster_scoped_and_typed_fields(kube: Kube) -> None:
    kube.ok("create", "secret", "generic", "plain", "--from-literal=a=b")
    kube.ok(
        "create",
        "secret",
        "docker-registry",
        "reg",
        "--docker-server=r.example",
        "--docker-username=u",
        "--docker-password=p",
    )
    secrets = kube.ok("get", "secrets", "--field-selector", "type=Opaque", "-o", "name")
    assert secrets.split() == ["secret/plain"]
    nodes = kube.ok("get", "nodes", "--field-selector", "spec.unschedulable=false", "-o", "name")
    assert nodes.split() == ["node/minikube"]
    active = kube.ok(
        "get", "ns", "--field-selector", f"status.phase=Active,metadata.name={kube.namespace}"
    )
    assert kube.namespace in active


def test_rollout_status_of_a_paused_deployment(kube: Kube) -> None:
    kube.ok("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
    kube.ok("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    assert kube.ok("rollout", "pause", "deploy/web") == "deployment.apps/web paused\n"
    # nothing pending: the rollout is complete, paused or not
    done = kube.ok("rollout", "status", "deploy/web", "--timeout=10s")
    assert done == 'deployment "web" successfully rolled out\n'
    kube.ok("set", "image", "deploy/web", "nginx=nginx:1.28")
    waiting = kube("rollout", "status", "deploy/web", "--timeout=3s")
    assert waiting.returncode == 1
    assert waiting.stdout.splitlines()[0] == (
        'Waiting for deployment "web" rollout to finish: '
        "0 out of 2 new replicas have been updated..."
    )
    assert "error: timed out waiting for the condition" in waiting.stderr
    assert len(kube.ok("get", "rs", "-o", "name").split()) == 1  # no new ReplicaSet while paused
    status = json.loads(kube.ok("get", "deploy", "web", "-o", "jsonpath={.status}"))
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "Unknown",
        "DeploymentPaused",
        "Deployment is paused",
    )
    assert "updatedReplicas" not in status
    kube.ok("rollout", "resume", "deploy/web")
    finished = kube.ok("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    assert finished.endswith('deployment "web" successfully rolled out\n')
    assert len(kube.ok("get", "rs", "-o", "name").split()) == 2
