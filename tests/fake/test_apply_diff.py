"""Declarative config changes: ``kubectl apply -f``, ``diff``, server dry runs, config rollouts.

Expected behaviour from kubectl v1.32 (``staging/src/k8s.io/kubectl/pkg/cmd/diff/diff.go``: exit 0
without differences, 1 with them, Secret values masked as ``***``/``*** (before)``/``*** (after)``
by its ``Masker``; ``pkg/cmd/rollout/rollout_restart.go`` via ``polymorphichelpers`` sets
``kubectl.kubernetes.io/restartedAt``) and the API server (``dryRun=All`` on create, update and
patch validates and defaults without storing:
``staging/src/k8s.io/apiserver/pkg/registry/generic/registry/dryrun.go``).
"""

from __future__ import annotations

import json
import re

import pytest

from labtools.testing.cluster import NamespacedKubectl as Kube
from tests.fake.test_fidelity import until

pytestmark = pytest.mark.fake

APP = """
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {GREETING: hello}
---
apiVersion: v1
kind: Secret
metadata: {name: app-secret}
stringData: {password: s3cr3t-value}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {checksum/config: "GREETING-hello"}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          envFrom: [{configMapRef: {name: app-config}}]
          env: [{name: PASSWORD, valueFrom: {secretKeyRef: {name: app-secret, key: password}}}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


def changed(text: str) -> str:
    """The same app with a new greeting, password and config checksum."""
    return (
        text.replace("GREETING: hello", "GREETING: bonjour")
        .replace("s3cr3t-value", "n3w-value")
        .replace("GREETING-hello", "GREETING-bonjour")
    )


def replica_sets(kube: Kube) -> list[str]:
    return kube.ok("get", "rs", "-l", "app=web", "-o", "name").split()


def test_server_dry_run_stores_nothing(kube: Kube) -> None:
    out = kube.ok("apply", "-f", "-", "--dry-run=server", stdin=APP)
    assert out.splitlines() == [
        "configmap/app-config created (server dry run)",
        "secret/app-secret created (server dry run)",
        "deployment.apps/web created (server dry run)",
        "service/web created (server dry run)",
    ]
    assert kube.ok("get", "cm,secret,deploy,svc", "-o", "name") == "configmap/kube-root-ca.crt\n"
    created = kube.ok(
        "create", "configmap", "x", "--from-literal=a=b", "--dry-run=server", "-o", "json"
    )
    obj = json.loads(created)
    assert obj["data"] == {"a": "b"}
    assert obj["metadata"]["uid"]
    assert "resourceVersion" not in obj["metadata"]
    assert kube("get", "cm", "x").returncode == 1
    # defaulting happens on a dry run too
    dry = json.loads(
        kube.ok("create", "deployment", "d", "--image=nginx", "--dry-run=server", "-o", "json")
    )
    assert dry["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert dry["metadata"]["generation"] == 1


def test_dry_run_patch_and_delete_change_nothing(kube: Kube) -> None:
    kube.ok("apply", "-f", "-", stdin=APP)
    out = kube.ok(
        "patch", "cm", "app-config", "-p", '{"data":{"GREETING":"x"}}', "--dry-run=server"
    )
    # patch.go sets the printer's operation after PrintFlagsWithDryRunStrategy: no suffix
    assert out == "configmap/app-config patched\n"
    assert kube.ok("label", "cm", "app-config", "a=b", "--dry-run=server") == (
        "configmap/app-config labeled (server dry run)\n"
    )
    assert kube.ok("delete", "cm", "app-config", "--dry-run=server") == (
        'configmap "app-config" deleted (server dry run)\n'
    )
    live = json.loads(kube.ok("get", "cm", "app-config", "-o", "json"))
    assert live["data"] == {"GREETING": "hello"}
    assert "labels" not in live["metadata"]


def test_diff_exit_codes_and_masked_secret(kube: Kube) -> None:
    new = kube("diff", "-f", "-", stdin=APP)
    assert new.returncode == 1, new.stderr
    assert "+  GREETING: hello" in new.stdout
    assert "password: '***'" in new.stdout
    assert "s3cr3t" not in new.stdout
    kube.ok("apply", "-f", "-", stdin=APP)
    same = kube("diff", "-f", "-", stdin=APP)
    assert (same.returncode, same.stdout) == (0, "")
    for args in ((), ("--server-side",)):
        diff = kube("diff", *args, "-f", "-", stdin=changed(APP))
        assert diff.returncode == 1, diff.stderr
        assert re.search(r"^-  GREETING: hello$", diff.stdout, re.M)
        assert re.search(r"^\+  GREETING: bonjour$", diff.stdout, re.M)
        assert "-  password: '*** (before)'" in diff.stdout
        assert "+  password: '*** (after)'" in diff.stdout
        # kubectl masks data only. Client-side, diff leaves the last-applied annotation as it
        # is (GetModifiedConfiguration without annotate); server-side, the server rewrites it
        # from the applied stringData (lastappliedupdater.go), so the value shows, as it does
        # against a real cluster: a lab keeps Secrets out of apply's annotation
        assert ("n3w-value" in diff.stdout) == bool(args)
        assert re.search(r"^\+        checksum/config: GREETING-bonjour$", diff.stdout, re.M)
        # unchanged objects are not shown; server-side, kubectl's apply rewrites the CSA
        # annotation of each (without its "annotations":{}), so they all differ there
        assert ("v1.Service" in diff.stdout) == bool(args)
    # diff changed nothing
    assert kube.ok("get", "cm", "app-config", "-o", "jsonpath={.data.GREETING}") == "hello"


def test_config_change_rolls_a_new_replica_set_and_reaches_the_pods(kube: Kube) -> None:
    kube.ok("apply", "-f", "-", stdin=APP)
    kube.ok("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    first = replica_sets(kube)
    assert len(first) == 1
    out = kube.ok("apply", "-f", "-", stdin=changed(APP))
    assert out.splitlines() == [
        "configmap/app-config configured",
        "secret/app-secret configured",
        "deployment.apps/web configured",
        "service/web unchanged",
    ]
    kube.ok("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    second = replica_sets(kube)
    assert len(second) == 2
    history = kube.ok("rollout", "history", "deploy/web")
    assert re.search(r"^2\s+<none>$", history, re.M), history
    newest = json.loads(kube.ok("get", "rs", "-l", "app=web", "-o", "json"))["items"]
    current = [rs for rs in newest if rs["spec"]["replicas"] == 2]
    template_hash = current[0]["metadata"]["labels"]["pod-template-hash"]
    pods = kube.ok("get", "pods", "-l", f"pod-template-hash={template_hash}", "-o", "name")
    assert len(pods.split()) == 2
    for name in pods.split():
        greeting = kube.ok("exec", name.split("/")[1], "--", "printenv", "GREETING", "PASSWORD")
        assert greeting == "bonjour\nn3w-value\n"


def test_rollout_restart_sets_restarted_at(kube: Kube) -> None:
    kube.ok("apply", "-f", "-", stdin=APP)
    kube.ok("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    assert kube.ok("rollout", "restart", "deploy/web") == "deployment.apps/web restarted\n"
    annotations = json.loads(
        kube.ok("get", "deploy", "web", "-o", "jsonpath={.spec.template.metadata.annotations}")
    )
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)",
        annotations["kubectl.kubernetes.io/restartedAt"],
    )
    kube.ok("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    assert len(replica_sets(kube)) == 2
    until(kube, r"^2$", "get", "deploy", "web", "-o", "jsonpath={.status.updatedReplicas}")
