"""More fidelity rows: the real kubectl v1.32 against the fake, output by output.

Each expected text comes from the Kubernetes v1.32 source (printers.go, the registries'
strategies and allocators, the Job and HPA defaults) or from minikube's addons.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from labtools.testing.cluster import FakeCluster
from labtools.testing.cluster import NamespacedKubectl as Kube
from tests.fake.test_fidelity import until

pytestmark = pytest.mark.fake


def header(text: str) -> list[str]:
    """Column names of the first line of a table."""
    return re.split(r"\s{2,}", text.splitlines()[0].strip())


# ---- node ports: pkg/registry/core/service/portallocator -------------------------------
@pytest.mark.parametrize(
    ("port", "message"),
    [
        (
            "80",
            "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid "
            "range. The range of valid ports is 30000-32767",
        ),
        (
            "30080",
            "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated",
        ),
    ],
)
def test_node_port_allocation_errors(kube: Kube, port: str, message: str) -> None:
    name = f"taken{port}"
    kube.ok("create", "service", "nodeport", name, "--tcp=80:8080", f"--node-port={30080}")
    # the first service holds 30080; a second one asks for `port`
    result = kube("create", "service", "nodeport", "second", "--tcp=80:8080", f"--node-port={port}")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f'error: failed to create NodePort service: Service "second" is invalid: {message}'
    )
    kube.ok("delete", "service", name)


def test_node_port_is_kept_on_update(kube: Kube) -> None:
    kube.ok("create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30090")
    out = kube.ok("label", "service", "np", "tier=web")
    assert out.strip() == "service/np labeled"
    assert kube.ok("get", "svc", "np", "-o", "jsonpath={.spec.ports[0].nodePort}") == "30090"


# ---- componentstatuses: computed, deprecated -------------------------------------------
def test_componentstatuses(apiserver: FakeCluster) -> None:
    result = apiserver.kubectl("get", "cs")
    assert result.returncode == 0
    assert result.stderr.strip() == "Warning: v1 ComponentStatus is deprecated in v1.19+"
    assert header(result.stdout) == ["NAME", "STATUS", "MESSAGE", "ERROR"]
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:]}
    assert rows == {
        "controller-manager": ["Healthy", "ok"],
        "scheduler": ["Healthy", "ok"],
        "etcd-0": ["Healthy", "ok"],
    }
    got = json.loads(apiserver.kubectl("get", "cs", "etcd-0", "-o", "json", check=True).stdout)
    assert got["conditions"] == [{"type": "Healthy", "status": "True", "message": "ok"}]
    assert got["metadata"] == {"name": "etcd-0", "creationTimestamp": None}
    missing = apiserver.kubectl("get", "cs", "nope")
    assert 'componentstatuses "nope" not found' in missing.stderr


# ---- printers.go columns of kinds beyond the workloads -----------------------------------
@pytest.mark.parametrize(
    ("create", "get", "columns", "row"),
    [
        (
            ("create", "cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *"),
            ("get", "cronjobs"),
            ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"],
            r"^cj\s+\*/5 \* \* \* \*\s+<none>\s+False\s+0\s+<none>\s+\d+s$",
        ),
        (
            ("create", "ingress", "ing", "--rule=foo.com/bar=svc1:8080"),
            ("get", "ingress"),
            ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
            r"^ing\s+<none>\s+foo\.com\s+80\s+\d+s$",
        ),
        (
            ("create", "pdb", "p", "--selector=app=web", "--min-available=1"),
            ("get", "pdb"),
            ["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"],
            r"^p\s+1\s+N/A\s+0\s+\d+s$",
        ),
        (
            ("create", "rolebinding", "rb", "--clusterrole=view", "--user=bob"),
            ("get", "rolebindings", "-o", "wide"),
            ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"],
            r"^rb\s+ClusterRole/view\s+\d+s\s+bob\s*$",
        ),
        (
            ("create", "role", "r1", "--verb=get", "--resource=pods"),
            ("get", "roles"),
            ["NAME", "CREATED AT"],
            r"^r1\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
        ),
    ],
)
def test_more_printers(
    kube: Kube, create: tuple[str, ...], get: tuple[str, ...], columns: list[str], row: str
) -> None:
    kube.ok(*create)
    out = kube.ok(*get)
    assert header(out) == columns
    assert re.match(row, out.splitlines()[1]), out


def test_storage_class_of_minikube(apiserver: FakeCluster) -> None:
    out = apiserver.kubectl("get", "storageclass", check=True).stdout
    assert header(out) == [
        "NAME",
        "PROVISIONER",
        "RECLAIMPOLICY",
        "VOLUMEBINDINGMODE",
        "ALLOWVOLUMEEXPANSION",
        "AGE",
    ]
    assert re.match(
        r"^standard \(default\)\s+k8s\.io/minikube-hostpath\s+Delete\s+Immediate\s+false\s+\S+$",
        out.splitlines()[1],
    )


# ---- HorizontalPodAutoscaler: v1 requests, v2 storage and defaults -------------------------
def test_autoscale_defaults_and_columns(kube: Kube) -> None:
    kube.ok("create", "deployment", "web", "--image=nginx")
    assert kube.ok("autoscale", "deployment", "web", "--max=3").strip() == (
        "horizontalpodautoscaler.autoscaling/web autoscaled"
    )
    kube.ok("autoscale", "deployment", "web", "--max=5", "--min=2", "--cpu-percent=50", "--name=h2")
    out = kube.ok("get", "hpa")
    assert header(out) == [
        "NAME",
        "REFERENCE",
        "TARGETS",
        "MINPODS",
        "MAXPODS",
        "REPLICAS",
        "AGE",
    ]
    rows = [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()[1:]]
    assert [r[:5] for r in rows] == [
        ["h2", "Deployment/web", "cpu: <unknown>/50%", "2", "5"],
        ["web", "Deployment/web", "cpu: <unknown>/80%", "1", "3"],
    ]
    hpa = json.loads(kube.ok("get", "hpa", "web", "-o", "json"))
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert hpa["spec"]["behavior"]["scaleUp"]["policies"] == [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ]
    assert hpa["status"] == {"desiredReplicas": 0}
    v1 = json.loads(
        kube.ok(
            "get",
            "--raw",
            f"/apis/autoscaling/v1/namespaces/{kube.namespace}/horizontalpodautoscalers/h2",
        )
    )
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    assert "metrics" not in v1["spec"]


# ---- Jobs: the job controller -----------------------------------------------------------
def test_job_runs_to_completion(kube: Kube) -> None:
    kube.ok("create", "job", "hello", "--image=busybox", "--", "echo", "hi")
    out = kube.ok("wait", "--for=condition=complete", "job/hello", "--timeout=20s")
    assert out.strip() == "job.batch/hello condition met"
    out = kube.ok("get", "jobs")
    assert header(out) == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert re.match(r"^hello\s+Complete\s+1/1\s+\d+s\s+\d+s$", out.splitlines()[1])
    job = json.loads(kube.ok("get", "job", "hello", "-o", "json"))
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert job["spec"]["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": "hello",
        "controller-uid": uid,
        "job-name": "hello",
    }
    assert [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert job["status"]["succeeded"] == 1
    pods = kube.ok("get", "pods", "-l", "job-name=hello", "--no-headers").split()
    assert re.match(r"^hello-[a-z0-9]{5}$", pods[0])
    assert pods[2] == "Completed"
    assert kube.ok("logs", "job/hello") == "hi\n"
    events = kube.ok("get", "events", "--field-selector=involvedObject.kind=Job")
    assert re.search(r"Normal\s+SuccessfulCreate\s+job/hello\s+Created pod: hello-", events)
    assert re.search(r"Normal\s+Completed\s+job/hello\s+Job completed", events)


FAILING_JOB = """\
apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: bad, image: busybox, command: [sh, -c, "exit 1"]}
"""


def test_job_fails_after_backoff_limit(kube: Kube) -> None:
    kube.ok("apply", "-f", "-", stdin=FAILING_JOB)
    out = until(kube, r"Failed", "get", "job", "bad", "--no-headers", timeout=30)
    assert re.match(r"^bad\s+Failed\s+0/1\s+\d+s\s+\d+s$", out.strip())
    job = json.loads(kube.ok("get", "job", "bad", "-o", "json"))
    failed = [c for c in job["status"]["conditions"] if c["type"] == "Failed"]
    assert failed[0]["reason"] == "BackoffLimitExceeded"
    assert failed[0]["message"] == "Job has reached the specified backoff limit"
    assert job["status"]["failed"] == 2
    events = kube.ok("get", "events", "--field-selector=reason=BackoffLimitExceeded")
    assert re.search(r"Warning\s+BackoffLimitExceeded\s+job/bad", events)


# ---- control-plane loops ------------------------------------------------------------------
def test_endpoints_go_with_their_service(kube: Kube) -> None:
    kube.ok("create", "deployment", "web", "--image=nginx")
    kube.ok("expose", "deployment", "web", "--port=80")
    until(kube, r"web\s+\d", "get", "endpoints")
    assert kube.ok("delete", "service", "web").strip() == 'service "web" deleted'
    out = until(kube, r"^(?!.*\bweb\b)", "get", "endpoints", "--no-headers")
    assert "web" not in out
    missing = kube("get", "endpoints", "web")
    assert missing.stderr.strip() == 'Error from server (NotFound): endpoints "web" not found'


def test_kubernetes_service_comes_back(tmp_path: Path) -> None:
    with FakeCluster(tmp_path / "c", pod_ready_delay=0.2) as cluster:
        deleted = cluster.kubectl("delete", "service", "kubernetes", check=True).stdout
        assert deleted.strip() == 'service "kubernetes" deleted'
        deadline = time.monotonic() + 25
        out = ""
        while time.monotonic() < deadline:
            out = cluster.kubectl("get", "service", "kubernetes", "--no-headers").stdout
            if out:
                break
            time.sleep(0.5)
        assert re.match(r"^kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443/TCP\s+\d+s$", out)
