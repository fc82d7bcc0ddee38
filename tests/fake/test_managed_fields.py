"""Server-side apply and field ownership (``metadata.managedFields``) with the real kubectl.

Expected behaviour from Kubernetes v1.32: ``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/
fieldmanager`` (``internal/stripmeta.go``: untracked metadata; ``internal/conflict.go``: the
409 texts, ``printManager``; ``internal/managedfieldsupdater.go``: Update entries and their time;
``managedfields.go``: sorting), sigs.k8s.io/structured-merge-diff (``typed/tofieldset.go``,
``typed/compare.go``, ``merge/update.go``: Apply ownership, conflicts, pruning), kubectl's field
managers (``kubectl-create``, ``kubectl-client-side-apply``, ``kubectl-label``,
``kubectl-rollout``, ``kubectl`` for ``apply --server-side`` and, by its User-Agent, ``scale``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from labtools.testing.apiserver import fieldmanager
from labtools.testing.cluster import NamespacedKubectl as Kube
from tests.fake.test_fidelity import until

pytestmark = pytest.mark.fake

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: nginx:1.27}]
"""

KUBECTL_CREATE_FIELDS = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {
        "f:progressDeadlineSeconds": {},
        "f:replicas": {},
        "f:revisionHistoryLimit": {},
        "f:selector": {},
        "f:strategy": {
            "f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
            "f:type": {},
        },
        "f:template": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"nginx"}': {
                        ".": {},
                        "f:image": {},
                        "f:imagePullPolicy": {},
                        "f:name": {},
                        "f:resources": {},
                        "f:terminationMessagePath": {},
                        "f:terminationMessagePolicy": {},
                    }
                },
                "f:dnsPolicy": {},
                "f:restartPolicy": {},
                "f:schedulerName": {},
                "f:securityContext": {},
                "f:terminationGracePeriodSeconds": {},
            },
        },
    },
}


def managed(kube: Kube, *target: str) -> list[dict[str, Any]]:
    out = kube.ok("get", *target, "-o", "json", "--show-managed-fields")
    entries: list[dict[str, Any]] = json.loads(out)["metadata"]["managedFields"]
    return entries


def entry(entries: list[dict[str, Any]], manager: str, subresource: str = "") -> dict[str, Any]:
    found = [
        e for e in entries if e["manager"] == manager and e.get("subresource", "") == subresource
    ]
    assert len(found) == 1, [(e["manager"], e.get("subresource")) for e in entries]
    return found[0]


def test_create_records_the_kubectl_create_update(kube: Kube) -> None:
    kube.ok("create", "deployment", "web", "--image=nginx", "--replicas=2")
    kube.ok("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    entries = managed(kube, "deploy", "web")
    create = entry(entries, "kubectl-create")
    assert create["operation"] == "Update"
    assert create["apiVersion"] == "apps/v1"
    assert create["fieldsType"] == "FieldsV1"
    assert create["fieldsV1"] == KUBECTL_CREATE_FIELDS
    status = entry(entries, "kube-controller-manager", "status")
    assert status["fieldsV1"]["f:metadata"] == {
        "f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}
    }
    assert "f:spec" not in status["fieldsV1"]
    assert {"f:availableReplicas", "f:conditions", "f:replicas"} <= set(
        status["fieldsV1"]["f:status"]
    )
    # kubectl hides them unless asked
    assert "managedFields" not in kube.ok("get", "deploy", "web", "-o", "yaml")
    pod = kube.ok("get", "pods", "-l", "app=web", "-o", "name").split()[0].split("/")[1]
    pod_entries = managed(kube, "pod", pod)
    assert [e["manager"] for e in pod_entries] == ["kube-controller-manager", "kubelet"]
    assert entry(pod_entries, "kubelet", "status")["fieldsV1"]["f:status"]["f:phase"] == {}


def test_apply_conflicts_force_and_ownership(kube: Kube) -> None:
    kube.ok("apply", "-f", "-", stdin=DEPLOY)
    csa = entry(managed(kube, "deploy", "web"), "kubectl-client-side-apply")
    assert (
        "f:kubectl.kubernetes.io/last-applied-configuration"
        in (csa["fieldsV1"]["f:metadata"]["f:annotations"])
    )
    three = DEPLOY.replace("replicas: 2", "replicas: 3")
    denied = kube("apply", "--server-side", "--field-manager=ci", "-f", "-", stdin=three)
    assert denied.returncode == 1
    assert denied.stderr.splitlines()[0] == (
        'error: Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
        "using apps/v1: .spec.replicas"
    )
    assert kube.ok("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "2"
    # the same values are no conflict: the appliers share them
    same = kube.ok("apply", "--server-side", "--field-manager=ci", "-f", "-", stdin=DEPLOY)
    assert same == "deployment.apps/web serverside-applied\n"
    forced = kube.ok(
        "apply", "--server-side", "--field-manager=ci", "--force-conflicts", "-f", "-", stdin=three
    )
    assert forced == "deployment.apps/web serverside-applied\n"
    entries = managed(kube, "deploy", "web")
    applier = entry(entries, "ci")
    assert applier["operation"] == "Apply"
    assert "f:replicas" in applier["fieldsV1"]["f:spec"]
    assert "f:progressDeadlineSeconds" not in applier["fieldsV1"]["f:spec"]  # defaults: nobody's
    assert "f:replicas" not in entry(entries, "kubectl-client-side-apply")["fieldsV1"]["f:spec"]


def test_kubectl_server_side_apply_takes_over_client_side_apply(kube: Kube) -> None:
    # lastappliedmanager.go: as "kubectl", the fields still at their last-applied values move
    kube.ok("apply", "-f", "-", stdin=DEPLOY)
    three = DEPLOY.replace("replicas: 2", "replicas: 3")
    assert kube.ok("apply", "--server-side", "-f", "-", stdin=three) == (
        "deployment.apps/web serverside-applied\n"
    )
    assert kube.ok("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "3"
    last = json.loads(
        kube.ok(
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
        )
    )
    assert last["spec"]["replicas"] == 3  # lastappliedupdater.go keeps the annotation in step
    # scale has no --field-manager: the server names it after kubectl's User-Agent
    kube.ok("scale", "deploy", "web", "--replicas=4")
    scaled = entry(managed(kube, "deploy", "web"), "kubectl", "scale")
    assert scaled["operation"] == "Update"
    assert scaled["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    again = kube("apply", "--server-side", "-f", "-", stdin=three)
    assert again.stderr.splitlines()[0] == (
        'error: Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" '
        "using apps/v1: .spec.replicas"
    )


def test_several_conflicts_are_listed_per_manager(kube: Kube) -> None:
    kube.ok("apply", "-f", "-", stdin=DEPLOY)
    changed = DEPLOY.replace("replicas: 2", "replicas: 3").replace("nginx:1.27", "nginx:1.28")
    denied = kube("apply", "--server-side", "--field-manager=ci", "-f", "-", stdin=changed)
    assert denied.returncode == 1
    assert denied.stderr.splitlines()[:4] == [
        'error: Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" '
        "using apps/v1:",
        "- .spec.replicas",
        '- .spec.template.spec.containers[name="nginx"].image',
        "Please review the fields above--they currently have other managers. Here",
    ]


def test_apply_prunes_what_it_no_longer_applies(kube: Kube) -> None:
    two = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1', b: '2', c: '3'}\n"
    kube.ok("apply", "--server-side", "-f", "-", stdin=two)
    created = entry(managed(kube, "cm", "c"), "kubectl")
    assert created["operation"] == "Apply"
    assert created["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}, "f:c": {}}}
    # another manager takes c over (an Update: no conflict, it just owns it too)
    kube.ok("patch", "cm", "c", "-p", '{"data":{"c":"30"}}')
    one = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1'}\n"
    kube.ok("apply", "--server-side", "-f", "-", stdin=one)
    data = json.loads(kube.ok("get", "cm", "c", "-o", "jsonpath={.data}"))
    assert data == {"a": "1", "c": "30"}  # b was only the applier's: removed; c is kubectl-patch's
    entries = managed(kube, "cm", "c")
    assert entry(entries, "kubectl")["fieldsV1"] == {"f:data": {"f:a": {}}}
    assert entry(entries, "kubectl-patch")["fieldsV1"] == {"f:data": {"f:c": {}}}


def test_update_managers_of_kubectl_verbs(kube: Kube) -> None:
    kube.ok("create", "deployment", "web", "--image=nginx")
    kube.ok("label", "deploy", "web", "tier=front")
    kube.ok("rollout", "restart", "deploy/web")
    entries = managed(kube, "deploy", "web")
    assert entry(entries, "kubectl-label")["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:tier": {}}}
    }
    rollout = entry(entries, "kubectl-rollout")["fieldsV1"]
    assert rollout == {
        "f:spec": {
            "f:template": {
                "f:metadata": {
                    "f:annotations": {".": {}, "f:kubectl.kubernetes.io/restartedAt": {}}
                }
            }
        }
    }
    # sorted as the server sorts them: operation, then time, then manager
    until(
        kube,
        "kube-controller-manager",
        "get",
        "deploy",
        "web",
        "-o",
        "yaml",
        "--show-managed-fields",
    )
    order = [(e["operation"], e["time"], e["manager"]) for e in managed(kube, "deploy", "web")]
    assert order == sorted(order)


def test_field_set_encoding_and_paths() -> None:
    fields = {
        ("f:metadata", "f:labels"),
        ("f:metadata", "f:labels", "f:app"),
        ("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}'),
        ("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}', "f:port"),
        ("f:spec", "f:finalizers", 'v:"x"'),
    }
    trie = fieldmanager.to_trie(fields)
    assert trie == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:finalizers": {'v:"x"': {}},
            "f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}},
        },
    }
    assert fieldmanager._from_trie(trie, ()) == fields
    assert (
        fieldmanager.path_string(("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}'))
        == '.spec.ports[port=80,protocol="TCP"]'
    )
    assert fieldmanager.path_string(("f:spec", "f:finalizers", 'v:"x"')) == '.spec.finalizers[="x"]'
