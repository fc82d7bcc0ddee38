"""Parity rows for everyday kubectl commands, with the real kubectl against the fake.

Each expected text names the Kubernetes v1.32 source it comes from.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from labtools.testing.apiserver.pods import detect_isolation
from labtools.testing.cluster import FakeCluster
from labtools.testing.cluster import NamespacedKubectl as Kube

pytestmark = pytest.mark.fake

JOB_WITH_TYPOS = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: typo
  lables:
    app: typo
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
        comand: ["true"]
status:
  bogus: 1
"""


def test_strict_decoding_covers_every_kind_and_status(kube: Kube, tmp_path: Path) -> None:
    """Unknown fields of any built-in kind, metadata and status included, in document order.

    apimachinery runtime/serializer/json/json.go decodes strictly (sigs.k8s.io/json) into the
    Go types; apiserver handlers/create.go wraps it as `Job in version "v1" cannot be handled
    as a Job: strict decoding error: ...`. kubectl sends the keys sorted (YAML -> map -> JSON).
    """
    path = tmp_path / "job.yaml"
    path.write_text(JOB_WITH_TYPOS)
    result = kube("create", "-f", str(path))
    assert result.returncode == 1
    assert result.stderr == (
        f'Error from server (BadRequest): error when creating "{path}": Job in version "v1" '
        'cannot be handled as a Job: strict decoding error: unknown field "metadata.lables", '
        'unknown field "spec.template.spec.containers[0].comand", unknown field "status.bogus"\n'
    )
    warned = kube("create", "-f", str(path), "--validate=warn")
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "spec.template.spec.containers[0].comand"' in warned.stderr
    # what the server stores and serves back passes its own strict check (get -> replace)
    served = kube.ok("get", "job", "typo", "-o", "yaml")
    again = tmp_path / "served.yaml"
    # without its resourceVersion: the Job controller may write status in between (a Conflict)
    again.write_text("".join(x for x in served.splitlines(True) if "resourceVersion:" not in x))
    assert kube.ok("replace", "-f", str(again)) == "job.batch/typo replaced\n"


# ---- port-forward -------------------------------------------------------------------------
BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"


def _port_forward(kube: Kube, *args: str) -> subprocess.Popen[str]:
    cluster = kube.cluster
    argv = [
        "kubectl",
        f"--kubeconfig={cluster.kubeconfig}",
        f"--context={cluster.context}",
        "-n",
        kube.namespace,
        "port-forward",
        *args,
    ]
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env(),
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    return out, err


def _local_port(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    line, other = process.stdout.readline(), process.stdout.readline()
    match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)$", line.strip())
    assert match, line
    assert other == f"Forwarding from [::1]:{match.group(1)} -> {match.group(2)}\n"
    return int(match.group(1))


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
        body: bytes = answer.read()
    return body.decode()


def test_port_forward_to_a_pod_and_a_service(kube: Kube) -> None:
    """kubectl v1.32 tunnels SPDY/3.1 over a WebSocket (client-go tools/portforward/
    tunneling_dialer.go); each connection is an error and a data stream, served as the
    kubelet's cri/streaming/portforward/httpstream.go serves them."""
    kube.ok("create", "deployment", "kb", f"--image={BOOTCAMP}")
    kube.ok("expose", "deployment", "kb", "--port=80", "--target-port=8080")
    kube.ok("rollout", "status", "deployment/kb", "--timeout=60s")
    pod = kube.ok("get", "pods", "-o", "name").strip()
    process = _port_forward(kube, pod, ":8080")
    try:
        port = _local_port(process)
        first, second = _get(port), _get(port)
    finally:
        out, err = _stop(process)
    assert first == second
    assert first.startswith("Hello Kubernetes bootcamp! | Running on: kb-")
    assert out == f"Handling connection for {port}\n" * 2
    assert err == ""
    # a Service resolves to one of its pods and the target port (kubectl's own doing)
    process = _port_forward(kube, "svc/kb", ":80")
    try:
        answer = _get(_local_port(process))
    finally:
        _stop(process)
    assert answer.startswith("Hello Kubernetes bootcamp!")


def test_port_forward_to_a_closed_port_ends_the_command(kube: Kube) -> None:
    """The kubelet writes `error forwarding port P to pod ID, uid : ...` on the error stream;
    kubectl v1.32 logs it and closes the connection (portforward.go handleConnection)."""
    kube.ok("run", "quiet", f"--image={BOOTCAMP}")
    kube.ok("wait", "--for=condition=Ready", "pod/quiet", "--timeout=60s")
    process = _port_forward(kube, "pod/quiet", ":9999")
    try:
        port = _local_port(process)
        with pytest.raises(OSError, match=r"Remote end closed|Connection reset"):
            _get(port)
        process.wait(timeout=20)
    finally:
        _, err = _stop(process)
    assert process.returncode == 1
    assert "an error occurred forwarding" in err
    assert "error forwarding port 9999 to pod " in err
    assert "Connection refused" in err
    assert err.endswith("error: lost connection to pod\n")


# ---- a pod's image updated in place -------------------------------------------------------
def test_set_image_on_a_pod_restarts_its_container(kube: Kube) -> None:
    """kuberuntime_manager.go computePodActions: a changed container spec hash kills the
    container ("Container C definition changed, will be restarted") and starts the new image."""
    kube.ok("run", "solo", "--image=nginx")
    kube.ok("wait", "--for=condition=Ready", "pod/solo", "--timeout=60s")
    assert kube.ok("set", "image", "pod/solo", "solo=nginx:1.25") == "pod/solo image updated\n"
    status = "{.status.containerStatuses[0]}"
    deadline = time.monotonic() + 30
    while True:
        current = json.loads(kube.ok("get", "pod", "solo", "-o", f"jsonpath={status}"))
        if current["image"] == "nginx:1.25" and current["ready"]:
            break
        assert time.monotonic() < deadline, current
        time.sleep(0.2)
    assert current["restartCount"] == 1
    assert current["lastState"]["terminated"]["reason"] == "Completed"
    events = kube.ok("events", "--for", "pod/solo")
    assert "Killing     Pod/solo   Container solo definition changed, will be restarted" in events
    assert 'Pulling image "nginx:1.25"' in events


# ---- validation of specs ------------------------------------------------------------------
POD = """\
apiVersion: v1
kind: Pod
metadata: {name: v}
spec:
  restartPolicy: %(policy)s
  containers:
  - name: c
    image: nginx
    ports: [{containerPort: %(port)s}]
    resources: {requests: {cpu: "%(request)s"}, limits: {cpu: "1"}}
"""


@pytest.mark.parametrize(
    ("values", "error"),
    [
        (
            {"port": 70000},
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 "
            "and 65535, inclusive",
        ),
        (
            {"request": "2"},
            'spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than '
            "or equal to cpu limit of 1",
        ),
        (
            {"policy": "Sometimes"},
            'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
            '"OnFailure", "Never"',
        ),
    ],
)
def test_pod_spec_validation(
    kube: Kube, tmp_path: Path, values: dict[str, object], error: str
) -> None:
    """core/validation/validation.go: validateContainerPorts, ValidateResourceRequirements,
    validateRestartPolicy (field.Invalid / field.NotSupported texts)."""
    path = tmp_path / "pod.yaml"
    path.write_text(POD % {"policy": "Always", "port": 80, "request": "500m", **values})
    result = kube("create", "-f", str(path))
    assert result.returncode == 1
    assert result.stderr == f'The Pod "v" is invalid: {error}\n'


def test_owner_kinds_restrict_the_restart_policy(kube: Kube) -> None:
    """apps/validation ValidatePodTemplateSpecForReplicaSet (only Always) and
    batch/validation validateJobSpec (Always or unset: Required, with the valid values)."""
    deploy = kube.ok("create", "deployment", "d", "--image=nginx", "--dry-run=client", "-o", "yaml")
    deploy = deploy.replace("    spec:\n", "    spec:\n      restartPolicy: Never\n", 1)
    result = kube("create", "-f", "-", stdin=deploy)
    assert result.stderr == (
        'The Deployment "d" is invalid: spec.template.spec.restartPolicy: Unsupported value: '
        '"Never": supported values: "Always"\n'
    )
    job = kube.ok("create", "job", "j", "--image=busybox", "--dry-run=client", "-o", "yaml")
    result = kube(
        "create", "-f", "-", stdin=job.replace("restartPolicy: Never", "restartPolicy: Always")
    )
    assert result.stderr == (
        'The Job "j" is invalid: spec.template.spec.restartPolicy: Required value: valid '
        'values: "OnFailure", "Never"\n'
    )


@pytest.mark.parametrize(
    ("schedule", "error"),
    [
        ("bad", "expected exactly 5 fields, found 1: [bad]"),
        ("61 * * * *", "end of range (61) above maximum (59): 61"),
        ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
        ("@often", "unrecognized descriptor: @often"),
    ],
)
def test_cronjob_schedule_is_parsed(kube: Kube, schedule: str, error: str) -> None:
    """batch/validation validateScheduleFormat: cron.ParseStandard's error (robfig/cron v3
    parser.go); kubectl create cronjob words it `failed to create cronjob: ...`."""
    result = kube("create", "cronjob", "c", "--image=busybox", f"--schedule={schedule}")
    assert result.returncode == 1
    assert result.stderr == (
        f'error: failed to create cronjob: CronJob.batch "c" is invalid: spec.schedule: '
        f'Invalid value: "{schedule}": {error}\n'
    )
    made = kube("create", "cronjob", "ok", "--image=busybox", "--schedule=*/5 * * * *")
    assert made.stdout == "cronjob.batch/ok created\n"


def test_service_type_is_one_of_four(kube: Kube) -> None:
    """core/validation ValidateService: field.NotSupported over the four Service types."""
    svc = kube.ok(
        "create", "service", "clusterip", "s", "--tcp=80:8080", "--dry-run=client", "-o", "yaml"
    )
    result = kube("create", "-f", "-", stdin=svc.replace("type: ClusterIP", "type: Foo"))
    assert result.stderr == (
        'The Service "s" is invalid: spec.type: Unsupported value: "Foo": supported values: '
        '"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"\n'
    )


# ---- labels: names on objects, selectors on lists -----------------------------------------
QNAME = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def test_label_and_annotation_keys_are_validated(kube: Kube) -> None:
    """meta/v1/validation ValidateLabels and api/validation ValidateAnnotations
    (validation.IsQualifiedName); kubectl label checks only the value itself."""
    kube.ok("run", "p", "--image=nginx")
    result = kube("label", "pod", "p", "bad key=v")
    assert (
        result.stderr
        == f'The Pod "p" is invalid: metadata.labels: Invalid value: "bad key": {QNAME}\n'
    )
    result = kube("annotate", "pod", "p", "a b=c")
    assert result.stderr == (
        f'The Pod "p" is invalid: metadata.annotations: Invalid value: "a b": {QNAME}\n'
    )
    made = kube("run", "q", "--image=nginx", "--labels=app=x,bad label=y")
    assert made.returncode == 1
    assert 'metadata.labels: Invalid value: "bad label": name part' in made.stderr
    assert kube.ok("label", "pod", "p", "example.com/tier=fe") == "pod/p labeled\n"


@pytest.mark.parametrize(
    ("selector", "error"),
    [
        ("app in (a,b", "unable to parse requirement: found '', expected: ',' or ')'"),
        (
            "bad key",
            "unable to parse requirement: found 'key', expected: '=', '!=', '==', 'in', notin'",
        ),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("=b", "found '=', expected: !, identifier, or 'end of string'"),
    ],
)
def test_label_selector_errors(kube: Kube, selector: str, error: str) -> None:
    """labels.Parse (apimachinery pkg/labels/selector.go): the server's BadRequest, which
    kubectl words `Unable to find ... that match label selector ...`."""
    result = kube("get", "pods", "-l", selector)
    assert result.returncode == 1
    assert result.stderr == (
        'Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label '
        f'selector "{selector}", field selector "": {error}\n'
    )


def test_set_based_selectors_select(kube: Kube) -> None:
    kube.ok("run", "a", "--image=nginx", "--labels=tier=fe,env=prod")
    kube.ok("run", "b", "--image=nginx", "--labels=tier=be")
    assert kube.ok("get", "pods", "-l", "tier in (fe,x),env", "-o", "name") == "pod/a\n"
    assert kube.ok("get", "pods", "-l", "tier notin (fe),!env", "-o", "name") == "pod/b\n"
    assert kube.ok("get", "pods", "-l", "tier!=fe", "-o", "name") == "pod/b\n"


@pytest.mark.parametrize(
    ("patch", "kind"), [("notjson", "string"), ("[1]", "array"), ("5", "number")]
)
def test_strategic_patch_that_is_not_an_object(kube: Kube, patch: str, kind: str) -> None:
    """apiserver handlers/patch.go strategicPatchObject: the patch is unmarshalled into a map
    first; its decoder's error is a BadRequest."""
    kube.ok("create", "deployment", "web", "--image=nginx")
    result = kube("patch", "deployment", "web", "-p", patch)
    assert result.returncode == 1
    assert result.stderr == (
        "Error from server (BadRequest): json: cannot unmarshal "
        f"{kind} into Go value of type map[string]interface {{}}\n"
    )


# ---- a namespace being deleted ------------------------------------------------------------
def test_terminating_namespace_refuses_new_content(kube: Kube) -> None:
    """The namespace controller deletes the content (pods gracefully) and the namespace stays
    Terminating while anything is left (here a pod held by a finalizer); NamespaceLifecycle
    admission refuses new objects: NewForbidden(resource, name, ...)."""
    cluster = kube.cluster
    ns = f"{kube.namespace}-gone"
    cluster.kubectl("create", "namespace", ns, check=True)
    pod = kube.ok("run", "held", "--image=nginx", "-n", ns, "--dry-run=client", "-o", "yaml")
    pod = pod.replace("  name: held\n", "  name: held\n  finalizers: [example.com/hold]\n", 1)
    assert cluster.kubectl("-n", ns, "create", "-f", "-", stdin=pod).returncode == 0
    cluster.kubectl("-n", ns, "create", "configmap", "keep", "--from-literal=a=b", check=True)
    assert cluster.kubectl("delete", "namespace", ns, "--wait=false").returncode == 0
    deadline = time.monotonic() + 20
    while cluster.kubectl("-n", ns, "get", "configmap", "keep").returncode == 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    phase = cluster.kubectl("get", "namespace", ns, "-o", "jsonpath={.status.phase}")
    assert phase.stdout == "Terminating"
    held = cluster.kubectl(
        "-n", ns, "get", "pod", "held", "-o", "jsonpath={.metadata.deletionTimestamp}"
    )
    assert held.stdout  # deleted gracefully, kept by its finalizer
    refused = cluster.kubectl("-n", ns, "create", "configmap", "late", "--from-literal=a=b")
    assert refused.returncode == 1
    assert refused.stderr == (
        'error: failed to create configmap: configmaps "late" is forbidden: unable to create new '
        f"content in namespace {ns} because it is being terminated\n"
    )
    patch = '{"metadata":{"finalizers":null}}'
    cluster.kubectl("-n", ns, "patch", "pod", "held", "--type=merge", "-p", patch, check=True)
    gone = cluster.kubectl("wait", "--for=delete", f"namespace/{ns}", "--timeout=30s")
    assert gone.returncode == 0, gone.stderr


# ---- persistent volumes -------------------------------------------------------------------
CLAIM_AND_POD = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
  containers:
  - name: web
    image: nginx
    volumeMounts: [{mountPath: /data, name: data}]
"""


def _jsonpath(kube: Kube, *args: str) -> str:
    return kube.ok("get", *args[:-1], "-o", f"jsonpath={args[-1]}")


def _until_bound(kube: Kube, claim: str) -> None:
    deadline = time.monotonic() + 30
    while _jsonpath(kube, "pvc", claim, "{.status.phase}") != "Bound":
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_claim_is_provisioned_by_minikubes_hostpath_provisioner(kube: Kube) -> None:
    """DefaultStorageClass admission gives the claim `standard`; pv_controller.go asks the
    class's provisioner (event ExternalProvisioning), minikube's storage-provisioner makes
    `pvc-<uid>` (Delete policy) and both end Bound with the pv.kubernetes.io annotations."""
    kube.ok("apply", "-f", "-", stdin=CLAIM_AND_POD % "first")
    _until_bound(kube, "data")
    uid = _jsonpath(kube, "pvc", "data", "{.metadata.uid}")
    claim = json.loads(kube.ok("get", "pvc", "data", "-o", "json"))
    assert claim["spec"]["storageClassName"] == "standard"
    assert claim["spec"]["volumeMode"] == "Filesystem"
    assert claim["spec"]["volumeName"] == f"pvc-{uid}"
    assert claim["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    notes = claim["metadata"]["annotations"]
    assert notes["pv.kubernetes.io/bind-completed"] == "yes"
    assert notes["pv.kubernetes.io/bound-by-controller"] == "yes"
    assert notes["volume.kubernetes.io/storage-provisioner"] == "k8s.io/minikube-hostpath"
    assert claim["status"] == {
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "1Gi"},
        "phase": "Bound",
    }
    pv = json.loads(kube.ok("get", "pv", f"pvc-{uid}", "-o", "json"))
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert pv["spec"]["claimRef"]["name"] == "data"
    assert pv["spec"]["hostPath"]["path"] == f"/tmp/hostpath-provisioner/{kube.namespace}/data"
    assert pv["status"]["phase"] == "Bound"
    events = kube.ok("events", "--for", "pvc/data")
    assert "ExternalProvisioning" in events
    assert "ProvisioningSucceeded" in events
    # deleting the claim (once no pod uses it) deletes its Delete-policy volume
    kube.ok("delete", "pod", "first")
    kube.ok("delete", "pvc", "data", "--timeout=30s")
    gone = kube("wait", "--for=delete", f"pv/pvc-{uid}", "--timeout=30s")
    assert gone.returncode == 0, gone.stderr


@pytest.mark.skipif(
    detect_isolation() != "netns",
    reason="volumes appear at their mountPath only with pod isolation (root, netns)",
)
def test_claim_files_outlive_the_pod(kube: Kube) -> None:
    """A claim's volume is the node's directory, not the pod's: a new pod sees the files."""
    kube.ok("apply", "-f", "-", stdin=CLAIM_AND_POD % "first")
    kube.ok("wait", "--for=condition=Ready", "pod/first", "--timeout=60s")
    kube.ok("exec", "first", "--", "sh", "-c", "echo kept > /data/note")
    kube.ok("delete", "pod", "first")
    kube.ok("apply", "-f", "-", stdin=CLAIM_AND_POD % "second")
    kube.ok("wait", "--for=condition=Ready", "pod/second", "--timeout=60s")
    assert kube.ok("exec", "second", "--", "cat", "/data/note") == "kept\n"


STATIC = """\
apiVersion: v1
kind: PersistentVolume
metadata: {name: %(ns)s-pv}
spec:
  storageClassName: manual
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /mnt/data}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: task-pv-claim}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 3Gi}}
"""


def test_claim_binds_a_matching_volume(kube: Kube) -> None:
    """The "Configure a Pod to Use a PersistentVolume" task: findBestMatchForClaim binds the
    manual-class volume (bound-by-controller on both); Retain leaves it Released after."""
    pv = f"{kube.namespace}-pv"
    try:
        kube.ok("apply", "-f", "-", stdin=STATIC % {"ns": kube.namespace})
        _until_bound(kube, "task-pv-claim")
        assert _jsonpath(kube, "pvc", "task-pv-claim", "{.spec.volumeName}") == pv
        assert _jsonpath(kube, "pvc", "task-pv-claim", "{.status.capacity.storage}") == "10Gi"
        bound = "{.metadata.annotations.pv\\.kubernetes\\.io/bound-by-controller}"
        assert _jsonpath(kube, "pv", pv, bound) == "yes"
        kube.ok("delete", "pvc", "task-pv-claim", "--timeout=30s")
        deadline = time.monotonic() + 30
        while _jsonpath(kube, "pv", pv, "{.status.phase}") != "Released":
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        kube("delete", "pv", pv, "--wait=false")


def test_pod_waits_for_its_claim(kube: Kube) -> None:
    """The scheduler's VolumeBinding plugin: a missing claim keeps the pod Pending."""
    overrides = '{"spec":{"volumes":[{"name":"d","persistentVolumeClaim":{"claimName":"nope"}}]}}'
    kube.ok("run", "waits", "--image=nginx", f"--overrides={overrides}")
    deadline = time.monotonic() + 20
    while "FailedScheduling" not in kube.ok("events", "--for", "pod/waits"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert (
        '0/1 nodes are available: persistentvolumeclaim "nope" not found. preemption: 0/1 '
        "nodes are available: 1 Preemption is not helpful for scheduling."
    ) in kube.ok("events", "--for", "pod/waits")
    assert _jsonpath(kube, "pod", "waits", "{.status.phase}") == "Pending"


# ---- cordon, drain and disruption budgets (a cluster of its own: the node is shared) -------
@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with FakeCluster(tmp_path / "c", pod_ready_delay=0.2) as running:
        yield running


def _ok(cluster: FakeCluster, *args: str, timeout: float = 60) -> str:
    result = cluster.kubectl(*args, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_cordon_taints_the_node_and_new_pods_wait(own_cluster: FakeCluster) -> None:
    """The node lifecycle controller taints a cordoned node (node.kubernetes.io/unschedulable)
    and the scheduler's NodeUnschedulable filter keeps new pods Pending."""
    node = own_cluster.node_name
    assert _ok(own_cluster, "cordon", node) == f"node/{node} cordoned\n"
    _ok(own_cluster, "run", "late", "--image=nginx")
    deadline = time.monotonic() + 20
    while "FailedScheduling" not in _ok(own_cluster, "events", "--for", "pod/late"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert (
        "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are "
        "available: 1 Preemption is not helpful for scheduling."
    ) in _ok(own_cluster, "events", "--for", "pod/late")
    taints = _ok(own_cluster, "get", "node", node, "-o", "jsonpath={.spec.taints[*].key}")
    assert taints == "node.kubernetes.io/unschedulable"
    _ok(own_cluster, "uncordon", node)
    ready = own_cluster.kubectl("wait", "--for=condition=Ready", "pod/late", "--timeout=30s")
    assert ready.returncode == 0, ready.stderr
    assert _ok(own_cluster, "get", "node", node, "-o", "jsonpath={.spec.taints}") == ""


def test_drain_evicts_within_the_disruption_budget(own_cluster: FakeCluster) -> None:
    """kubectl drain evicts (pods/eviction, policy/v1), skips mirror and DaemonSet pods; the
    eviction registry refuses what the budget does not allow (429, eviction.go) and the
    disruption controller keeps `ALLOWED DISRUPTIONS`."""
    node = own_cluster.node_name
    _ok(own_cluster, "create", "deployment", "web", "--image=nginx", "--replicas=2")
    _ok(own_cluster, "create", "pdb", "web", "--selector=app=web", "--min-available=2")
    _ok(own_cluster, "rollout", "status", "deployment/web", "--timeout=60s")
    deadline = time.monotonic() + 20
    while _ok(own_cluster, "get", "pdb", "web", "-o", "jsonpath={.status.currentHealthy}") != "2":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    pdb = json.loads(_ok(own_cluster, "get", "pdb", "web", "-o", "json"))["status"]
    assert (pdb["disruptionsAllowed"], pdb["desiredHealthy"], pdb["expectedPods"]) == (0, 2, 2)
    assert pdb["conditions"][0]["reason"] == "InsufficientPods"
    drained = own_cluster.kubectl(
        "drain", node, "--ignore-daemonsets", "--force", "--timeout=7s", timeout=60
    )
    assert drained.returncode == 1
    assert "evicting pod kube-system/storage-provisioner" in drained.stdout
    assert "pod/storage-provisioner evicted" in drained.stdout
    assert f"etcd-{node}" not in drained.stdout + drained.stderr  # a mirror pod: skipped
    assert 'error when evicting pods/"web-' in drained.stderr
    assert "Cannot evict pod as it would violate the pod's disruption budget." in drained.stderr
    assert len(_ok(own_cluster, "get", "pods", "-l", "app=web", "-o", "name").split()) == 2
    kube_system = _ok(own_cluster, "get", "pods", "-n", "kube-system", "-o", "name")
    assert f"pod/etcd-{node}" in kube_system.split()


# ---- CronJobs -----------------------------------------------------------------------------
def test_cronjob_starts_its_job_for_the_latest_missed_minute(kube: Kube) -> None:
    """cronjob_controllerv2.go: the most recent unmet schedule time since lastScheduleTime
    becomes a Job `<name>-<unix minutes>` with the scheduled-timestamp annotation, owned by
    the CronJob; a finished Job leaves `active` with a SawCompletedJob event."""
    kube.ok("create", "cronjob", "hello", "--image=busybox", "--schedule=* * * * *", "--", "true")
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)
    stamp = earlier.strftime("%Y-%m-%dT%H:%M:00Z")
    patch = json.dumps({"status": {"lastScheduleTime": stamp}})
    kube.ok("patch", "cronjob", "hello", "--subresource=status", "--type=merge", "-p", patch)
    deadline = time.monotonic() + 30
    while not kube.ok("get", "jobs", "-o", "name"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    job = json.loads(kube.ok("get", "jobs", "-o", "json"))["items"]
    assert len(job) == 1  # only the latest of the three missed minutes
    meta = job[0]["metadata"]
    scheduled = meta["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    when = dt.datetime.strptime(scheduled, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert meta["name"] == f"hello-{int(when.timestamp()) // 60}"
    assert when > earlier
    owner = meta["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("CronJob", "hello", True)
    kube.ok("wait", "--for=condition=complete", f"job/{meta['name']}", "--timeout=60s")
    deadline = time.monotonic() + 30
    while "SawCompletedJob" not in kube.ok("events", "--for", "cronjob/hello"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    events = kube.ok("events", "--for", "cronjob/hello")
    assert f"Created job {meta['name']}" in events
    assert f"Saw completed job: {meta['name']}, condition: Complete" in events
    status = json.loads(kube.ok("get", "cronjob", "hello", "-o", "json"))["status"]
    assert status["lastScheduleTime"] == scheduled
    assert "active" not in status
    assert "lastSuccessfulTime" in status


def test_logs_since_time(kube: Kube) -> None:
    """PodLogOptions.sinceTime: only lines at or after it (kubectl logs --since-time)."""
    kube.ok("run", "talks", "--image=gcr.io/google-samples/kubernetes-bootcamp:v1")
    kube.ok("wait", "--for=condition=Ready", "pod/talks", "--timeout=60s")
    assert "Kubernetes Bootcamp App Started" in kube.ok(
        "logs", "talks", "--since-time=2000-01-01T00:00:00Z"
    )
    assert kube.ok("logs", "talks", "--since-time=2100-01-01T00:00:00Z") == ""
