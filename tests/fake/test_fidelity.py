"""Fidelity of the fake API server: the real kubectl v1.32 against it, output by output."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from labtools.testing.cluster import FakeCluster
from labtools.testing.cluster import NamespacedKubectl as Kube

pytestmark = pytest.mark.fake

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
V2 = "docker.io/jocatalin/kubernetes-bootcamp:v2"
V10 = "gcr.io/google-samples/kubernetes-bootcamp:v10"
SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
POD_NAME = re.compile(rf"^kubernetes-bootcamp-{SAFE}{{6,10}}-{SAFE}{{5}}$")

DEPLOY_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write a manifest file."""
    path = tmp_path / name
    path.write_text(text)
    return path


def bootcamp(kube: Kube, replicas: int = 1) -> list[str]:
    """Create the bootcamp deployment, wait for the rollout, return the pod names."""
    kube.ok("create", "deployment", "kubernetes-bootcamp", f"--image={BOOTCAMP}")
    if replicas != 1:
        kube.ok("scale", "deployment/kubernetes-bootcamp", f"--replicas={replicas}")
    kube.ok("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=30s")
    return running_pods(kube, replicas)


def running_pods(kube: Kube, count: int, timeout: float = 20) -> list[str]:
    """Wait until exactly `count` pods are Running and none terminating; return their names."""
    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        rows = [line.split() for line in kube.ok("get", "pods", "--no-headers").splitlines()]
        names = [r[0] for r in rows if r[2] == "Running"]
        if len(names) == count and len(rows) == count:
            return names
        time.sleep(0.2)
    raise AssertionError(f"wanted {count} Running pods, have {names}")


def until(kube: Kube, pattern: str, *args: str, timeout: float = 15) -> str:
    """Repeat `kubectl ARGS` until its output matches `pattern`; return the last output."""
    deadline = time.monotonic() + timeout
    out = kube.ok(*args)
    while not re.search(pattern, out) and time.monotonic() < deadline:
        time.sleep(0.2)
        out = kube.ok(*args)
    return out


def header(text: str) -> list[str]:
    """Column names of the first line of a table."""
    return re.split(r"\s{2,}", text.splitlines()[0].strip())


# ---- cluster-level commands (seeds 3-5) ---------------------------------------------------
def test_version_reports_server_v1_32(kube: Kube) -> None:
    out = kube.ok("version")
    assert "Server Version: v1.32.0" in out
    raw = json.loads(kube.ok("get", "--raw", "/version"))
    assert list(raw) == [
        "major",
        "minor",
        "gitVersion",
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    ]
    assert (raw["major"], raw["minor"]) == ("1", "32")


def test_cluster_info_names_the_control_plane(kube: Kube) -> None:
    out = kube.ok("cluster-info")
    assert re.search(r"Kubernetes control plane is running at https://127\.0\.0\.1:\d+", out)


@pytest.mark.parametrize(
    ("args", "columns", "needle"),
    [
        (
            ("get", "nodes"),
            ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
            r"minikube\s+Ready\s+control-plane\s+\S+\s+v1\.32\.0",
        ),
        (
            ("get", "nodes", "-o", "wide"),
            [
                "NAME",
                "STATUS",
                "ROLES",
                "AGE",
                "VERSION",
                "INTERNAL-IP",
                "EXTERNAL-IP",
                "OS-IMAGE",
                "KERNEL-VERSION",
                "CONTAINER-RUNTIME",
            ],
            r"192\.168\.49\.2\s+<none>\s+Ubuntu",
        ),
        (("get", "ns"), ["NAME", "STATUS", "AGE"], r"kube-system\s+Active"),
        (
            ("get", "svc", "-n", "default"),
            ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
            r"kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443/TCP",
        ),
        (
            ("get", "ep", "-n", "default"),
            ["NAME", "ENDPOINTS", "AGE"],
            r"kubernetes\s+192\.168\.49\.2:8443",
        ),
        (
            ("get", "pods", "-n", "kube-system"),
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            r"etcd-minikube\s+1/1\s+Running",
        ),
        (("get", "cm"), ["NAME", "DATA", "AGE"], r"kube-root-ca\.crt\s+1\s"),
        (("get", "sa"), ["NAME", "SECRETS", "AGE"], r"default\s+0\s"),
        (("get", "no", "-o", "name"), None, r"^node/minikube$"),
    ],
)
def test_get_cluster_objects(
    kube: Kube, args: tuple[str, ...], columns: list[str] | None, needle: str
) -> None:
    out = kube.ok(*args)
    if columns:
        assert header(out) == columns
    assert re.search(needle, out, re.M), out


def test_node_looks_like_minikube(kube: Kube) -> None:
    node = json.loads(kube.ok("get", "node", "minikube", "-o", "json"))
    labels = node["metadata"]["labels"]
    assert labels["minikube.k8s.io/primary"] == "true"
    assert "node-role.kubernetes.io/control-plane" in labels
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == "v1.32.0"
    assert info["containerRuntimeVersion"].startswith("docker://27.")
    assert node["status"]["capacity"]["pods"] == "110"
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")


# ---- the bootcamp seeds (6-12) -------------------------------------------------------------
def test_create_deployment_and_get(kube: Kube) -> None:
    out = kube.ok("create", "deployment", "kubernetes-bootcamp", f"--image={BOOTCAMP}")
    assert out == "deployment.apps/kubernetes-bootcamp created\n"
    kube.ok("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=30s")
    out = kube.ok("get", "deployments")
    assert header(out) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert re.search(r"^kubernetes-bootcamp\s+1/1\s+1\s+1\s+\d+s$", out, re.M), out
    wide = kube.ok("get", "deploy", "-o", "wide")
    assert header(wide)[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert f"kubernetes-bootcamp   {BOOTCAMP}   app=kubernetes-bootcamp" in wide


def test_pods_names_labels_and_status(kube: Kube) -> None:
    (pod,) = bootcamp(kube)
    names = kube.ok(
        "get",
        "pods",
        "-o",
        "go-template",
        "--template",
        '{{range .items}}{{.metadata.name}}{{"\\n"}}{{end}}',
    )
    assert names.splitlines() == [pod]
    assert POD_NAME.match(pod)
    obj = json.loads(kube.ok("get", "pod", pod, "-o", "json"))
    rs_hash = pod.split("-")[-2]
    assert obj["metadata"]["labels"] == {"app": "kubernetes-bootcamp", "pod-template-hash": rs_hash}
    owner = obj["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"], owner["blockOwnerDeletion"]) == (
        "ReplicaSet",
        f"kubernetes-bootcamp-{rs_hash}",
        True,
        True,
    )
    status = obj["status"]
    assert status["phase"] == "Running"
    assert status["qosClass"] == "BestEffort"
    assert status["podIP"].startswith("10.244.")
    assert {c["type"] for c in status["conditions"]} == {
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    }
    cs = status["containerStatuses"][0]
    assert (cs["ready"], cs["started"], cs["restartCount"]) == (True, True, 0)
    assert cs["containerID"].startswith("docker://")
    spec = obj["spec"]
    assert (
        spec["nodeName"],
        spec["restartPolicy"],
        spec["dnsPolicy"],
        spec["serviceAccountName"],
        spec["schedulerName"],
    ) == ("minikube", "Always", "ClusterFirst", "default", "default-scheduler")
    container = spec["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    wide = kube.ok("get", "pods", "-o", "wide")
    assert header(wide) == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ]
    assert re.search(
        rf"{pod}\s+1/1\s+Running\s+0\s+\S+\s+10\.244\.\S+\s+minikube\s+<none>"
        r"\s+<none>",
        wide,
    )


def test_describe_pods_shows_events(kube: Kube) -> None:
    (pod,) = bootcamp(kube)
    out = kube.ok("describe", "pods")
    assert f"Name:             {pod}" in out
    assert f"Image:          {BOOTCAMP}" in out
    assert "Controlled By:  ReplicaSet/kubernetes-bootcamp-" in out
    assert "Container ID:   docker://" in out
    assert "docker://docker://" not in out
    events = out.split("Events:")[1]
    for reason, message in [
        ("Scheduled", f"Successfully assigned {kube.namespace}/{pod} to minikube"),
        ("Pulled", "Container image"),
        ("Created", "Created container kubernetes-bootcamp"),
        ("Started", "Started container kubernetes-bootcamp"),
    ]:
        assert (
            re.search(rf"Normal\s+{reason}\s+.*{re.escape(message)}", events) or reason == "Pulled"
        ), (reason, events)
    assert re.search(r"Normal\s+Pulled\s+", events)


def test_events_of_a_rollout(kube: Kube) -> None:
    (pod,) = bootcamp(kube)
    out = kube.ok("get", "events")
    assert header(out) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    rs = pod.rsplit("-", 1)[0]
    assert re.search(
        rf"Normal\s+ScalingReplicaSet\s+deployment/kubernetes-bootcamp\s+"
        rf"Scaled up replica set {rs} from 0 to 1",
        out,
    ), out
    assert re.search(rf"Normal\s+SuccessfulCreate\s+replicaset/{rs}\s+Created pod: {pod}", out)
    only = kube.ok(
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=Deployment,reason=ScalingReplicaSet",
        "-o",
        "name",
    )
    assert len(only.split()) == 1


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        ("json", lambda out: json.loads(out)["kind"] == "List"),
        ("yaml", lambda out: out.startswith("apiVersion: v1\nitems:\n")),
        ("name", lambda out: out.startswith("deployment.apps/kubernetes-bootcamp")),
        (
            "jsonpath={.items[0].spec.template.spec.containers[0].image}",
            lambda out: out == BOOTCAMP,
        ),
        (
            "go-template={{range .items}}{{.status.availableReplicas}}{{end}}",
            lambda out: out == "1",
        ),
        (
            "custom-columns=N:.metadata.name,R:.spec.replicas",
            lambda out: out.splitlines()[1].split() == ["kubernetes-bootcamp", "1"],
        ),
    ],
)
def test_output_formats(kube: Kube, fmt: str, check: object) -> None:
    bootcamp(kube)
    out = kube.ok("get", "deploy", "-o", fmt)
    assert check(out), out  # type: ignore[operator]


def test_deployment_status_and_replicaset_annotations(kube: Kube) -> None:
    bootcamp(kube)
    dep = json.loads(kube.ok("get", "deploy", "kubernetes-bootcamp", "-o", "json"))
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    spec, status = dep["spec"], dep["status"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    assert {
        k: status[k]
        for k in (
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
        )
    } == {
        "observedGeneration": 1,
        "replicas": 1,
        "updatedReplicas": 1,
        "readyReplicas": 1,
        "availableReplicas": 1,
    }
    conds = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conds == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }
    rs = json.loads(kube.ok("get", "rs", "-o", "json"))["items"][0]
    ann = rs["metadata"]["annotations"]
    assert (
        ann["deployment.kubernetes.io/desired-replicas"],
        ann["deployment.kubernetes.io/max-replicas"],
        ann["deployment.kubernetes.io/revision"],
    ) == ("1", "2", "1")
    out = kube.ok("get", "rs")
    assert header(out) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]


# ---- modules 4-6: expose, scale, update, rollback ------------------------------------------
def test_expose_nodeport(kube: Kube) -> None:
    bootcamp(kube)
    out = kube.ok("expose", "deployment/kubernetes-bootcamp", "--type=NodePort", "--port", "8080")
    assert out == "service/kubernetes-bootcamp exposed\n"
    svc = kube.ok("get", "services/kubernetes-bootcamp")
    m = re.search(r"kubernetes-bootcamp\s+NodePort\s+(10\.\S+)\s+<none>\s+8080:(\d+)/TCP", svc)
    assert m, svc
    assert 30000 <= int(m.group(2)) <= 32767
    port = kube.ok(
        "get",
        "services/kubernetes-bootcamp",
        "-o",
        "go-template={{(index .spec.ports 0).nodePort}}",
    )
    assert port == m.group(2)
    eps = until(kube, r"10\.244\.\d+\.\d+:8080", "get", "ep", "kubernetes-bootcamp")
    assert re.search(r"10\.244\.\d+\.\d+:8080", eps), eps
    slices = kube.ok(
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=kubernetes-bootcamp",
        "-o",
        "jsonpath={.items[0].ports[0].port}",
    )
    assert slices == "8080"


def test_scale_to_four(kube: Kube) -> None:
    bootcamp(kube)
    out = kube.ok("scale", "deployments/kubernetes-bootcamp", "--replicas=4")
    assert out == "deployment.apps/kubernetes-bootcamp scaled\n"
    kube.ok("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=30s")
    assert len(running_pods(kube, 4)) == 4
    assert re.search(r"kubernetes-bootcamp\s+4/4\s+4\s+4", kube.ok("get", "deployments"))
    events = kube.ok("get", "events", "--field-selector", "reason=ScalingReplicaSet")
    assert re.search(r"Scaled up replica set kubernetes-bootcamp-\S+ from 1 to 4", events)
    scale = json.loads(
        kube.ok(
            "get",
            "--raw",
            f"/apis/apps/v1/namespaces/{kube.namespace}/deployments/kubernetes-bootcamp/scale",
        )
    )
    assert (scale["kind"], scale["apiVersion"], scale["spec"]["replicas"]) == (
        "Scale",
        "autoscaling/v1",
        4,
    )


def test_rolling_update_history_and_undo(kube: Kube) -> None:
    bootcamp(kube, replicas=2)
    out = kube.ok("set", "image", "deployments/kubernetes-bootcamp", f"kubernetes-bootcamp={V2}")
    assert out == "deployment.apps/kubernetes-bootcamp image updated\n"
    out = kube.ok("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=30s")
    assert out.endswith('deployment "kubernetes-bootcamp" successfully rolled out\n')
    image = kube.ok(
        "get",
        "deploy",
        "kubernetes-bootcamp",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    )
    assert image == V2
    history = kube.ok("rollout", "history", "deployment/kubernetes-bootcamp")
    assert re.findall(r"^(\d+)\s+<none>$", history, re.M) == ["1", "2"]
    rs = kube.ok("get", "rs", "--no-headers").splitlines()
    assert sorted(line.split()[1] for line in rs) == ["0", "2"]
    assert (
        kube.ok("rollout", "undo", "deployments/kubernetes-bootcamp")
        == "deployment.apps/kubernetes-bootcamp rolled back\n"
    )
    kube.ok("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=30s")
    image = kube.ok(
        "get",
        "deploy",
        "kubernetes-bootcamp",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    )
    assert image == BOOTCAMP
    history = kube.ok("rollout", "history", "deployment/kubernetes-bootcamp")
    assert re.findall(r"^(\d+)\s+<none>$", history, re.M) == ["2", "3"]
    assert len(kube.ok("get", "rs", "--no-headers").splitlines()) == 2
    ann = kube.ok(
        "get",
        "deploy",
        "kubernetes-bootcamp",
        "-o",
        "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
    )
    assert ann == "3"


def test_missing_image_goes_to_image_pull_backoff(kube: Kube) -> None:
    bootcamp(kube)
    kube.ok("set", "image", "deployments/kubernetes-bootcamp", f"kubernetes-bootcamp={V10}")
    out = until(kube, r"0/1\s+(ErrImagePull|ImagePullBackOff)", "get", "pods")
    assert re.search(r"0/1\s+(ErrImagePull|ImagePullBackOff)", out), out
    assert re.search(r"1/1\s+Running", out), "the old pod keeps serving"
    events = kube.ok("get", "events", "--field-selector", "type=Warning")
    assert f'Failed to pull image "{V10}"' in events
    status = kube("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=2s")
    assert status.returncode == 1
    assert (
        "1 old replicas are pending termination" in status.stdout
        or "0 of 1 updated replicas are available" in status.stdout
        or "out of 1 new replicas" in status.stdout
    ), status.stdout


def test_label_pods_and_select(kube: Kube) -> None:
    (pod,) = bootcamp(kube)
    assert kube.ok("label", "pods", pod, "version=v1") == f"pod/{pod} labeled\n"
    out = kube.ok("describe", "pods", pod)
    assert "version=v1" in out
    assert kube.ok("get", "pods", "-l", "version=v1", "-o", "name") == f"pod/{pod}\n"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=web", ["a", "b"]),
        ("tier==web", ["a", "b"]),
        ("tier!=web", ["c", "d"]),
        ("tier in (web,db)", ["a", "b", "c"]),
        ("tier notin (web)", ["c", "d"]),
        ("tier", ["a", "b", "c"]),
        ("!tier", ["d"]),
        ("tier=web,env=prod", ["a"]),
    ],
)
def test_label_selectors(kube: Kube, selector: str, expected: list[str]) -> None:
    labels = {"a": "tier=web,env=prod", "b": "tier=web", "c": "tier=db", "d": "env=dev"}
    for name, text in labels.items():
        kube.ok("create", "configmap", name)
        kube.ok("label", "configmap", name, *text.split(","))
    out = kube.ok("get", "cm", "-l", selector, "-o", "name")
    names = [line.split("/")[1] for line in out.split()]
    assert [n for n in names if n in labels] == expected


def test_field_selectors(kube: Kube) -> None:
    (pod,) = bootcamp(kube)
    for sel, want in [
        (f"metadata.name={pod}", [pod]),
        ("status.phase=Running", [pod]),
        ("status.phase=Pending", []),
        ("spec.nodeName=minikube", [pod]),
        (f"metadata.namespace={kube.namespace}", [pod]),
    ]:
        out = kube.ok("get", "pods", "--field-selector", sel, "-o", "name")
        assert [n.split("/")[1] for n in out.split()] == want, sel
    bad = kube("get", "pods", "--field-selector", "spec.foo=bar")
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error from server (BadRequest): ")
    # Pod has its own field label conversion (pkg/apis/core/v1/conversion.go)
    assert "field label not supported: spec.foo" in bad.stderr


# ---- apply, diff, create -f, delete, wait ------------------------------------------------
def test_apply_twice_is_unchanged_and_diff(kube: Kube, tmp_path: Path) -> None:
    path = write(tmp_path, "web.yaml", DEPLOY_YAML)
    assert kube.ok("apply", "-f", str(path)) == "deployment.apps/web created\n"
    assert kube.ok("apply", "-f", str(path)) == "deployment.apps/web unchanged\n"
    same = kube("diff", "-f", str(path))
    assert (same.returncode, same.stdout) == (0, "")
    changed = write(tmp_path, "web2.yaml", DEPLOY_YAML.replace("replicas: 2", "replicas: 3"))
    diff = kube("diff", "-f", str(changed))
    assert diff.returncode == 1
    assert "-  replicas: 2\n+  replicas: 3" in diff.stdout
    assert kube.ok("apply", "-f", str(changed)) == "deployment.apps/web configured\n"
    dep = json.loads(kube.ok("get", "deploy", "web", "-o", "json"))
    assert dep["spec"]["replicas"] == 3
    assert dep["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in dep["metadata"]["annotations"]


def test_apply_keeps_container_fields_on_set_image(kube: Kube, tmp_path: Path) -> None:
    kube.ok("apply", "-f", str(write(tmp_path, "web.yaml", DEPLOY_YAML)))
    kube.ok("set", "image", "deploy/web", "nginx=nginx:1.27")
    container = json.loads(
        kube.ok("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0]}")
    )
    assert container["image"] == "nginx:1.27"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_create_twice_already_exists(kube: Kube, tmp_path: Path) -> None:
    path = write(tmp_path, "web.yaml", DEPLOY_YAML)
    assert kube.ok("create", "-f", str(path)) == "deployment.apps/web created\n"
    again = kube("create", "-f", str(path))
    assert again.returncode == 1
    assert again.stderr == (
        f'Error from server (AlreadyExists): error when creating "{path}": '
        'deployments.apps "web" already exists\n'
    )


def test_server_side_apply(kube: Kube, tmp_path: Path) -> None:
    path = write(tmp_path, "web.yaml", DEPLOY_YAML)
    assert (
        kube.ok("apply", "--server-side", "-f", str(path))
        == "deployment.apps/web serverside-applied\n"
    )
    changed = write(tmp_path, "web2.yaml", DEPLOY_YAML.replace("replicas: 2", "replicas: 1"))
    kube.ok("apply", "--server-side", "-f", str(changed))
    assert kube.ok("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "1"


def test_strict_field_validation(kube: Kube, tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", DEPLOY_YAML.replace("replicas: 2", "replicas: 2\n  foo: 1"))
    result = kube("apply", "-f", str(bad))
    assert result.returncode == 1
    assert (
        'Error from server (BadRequest): error when creating "'
        + str(bad)
        + '": Deployment in version "v1" cannot be handled as a Deployment: strict decoding '
        'error: unknown field "spec.foo"'
    ) in result.stderr
    warn = kube("create", "-f", str(bad), "--validate=warn")
    assert warn.returncode == 0
    assert 'Warning: unknown field "spec.foo"' in warn.stderr


def test_delete_and_wait(kube: Kube, tmp_path: Path) -> None:
    path = write(tmp_path, "web.yaml", DEPLOY_YAML)
    kube.ok("apply", "-f", str(path))
    out = kube.ok("wait", "--for=condition=Available", "deployment/web", "--timeout=30s")
    assert out == "deployment.apps/web condition met\n"
    running_pods(kube, 2)
    assert kube.ok("delete", "deployment", "web") == 'deployment.apps "web" deleted\n'
    gone = kube("get", "deploy", "web")
    assert gone.stderr == 'Error from server (NotFound): deployments.apps "web" not found\n'
    running_pods(kube, 0)
    assert kube.ok("get", "rs", "-o", "name") == ""


def test_delete_pod_is_replaced(kube: Kube) -> None:
    (pod,) = bootcamp(kube)
    assert kube.ok("delete", "pod", pod) == f'pod "{pod}" deleted\n'
    (new,) = running_pods(kube, 1)
    assert new != pod


def test_orphan_delete_keeps_replicaset(kube: Kube) -> None:
    bootcamp(kube)
    kube.ok("delete", "deployment", "kubernetes-bootcamp", "--cascade=orphan")
    rs = json.loads(kube.ok("get", "rs", "-o", "json"))["items"]
    assert len(rs) == 1
    assert "ownerReferences" not in rs[0]["metadata"]


def test_get_watch_with_timeout(kube: Kube) -> None:
    (pod,) = bootcamp(kube)
    result = kube("get", "pods", "-w", "--request-timeout=2s", timeout=20)
    lines = result.stdout.splitlines()
    assert header(result.stdout) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert re.match(rf"{pod}\s+1/1\s+Running", lines[1])
    assert sum(1 for line in lines if line.startswith("NAME")) == 1


def test_get_all(kube: Kube) -> None:
    bootcamp(kube)
    kube.ok("expose", "deployment/kubernetes-bootcamp", "--port", "8080")
    out = kube.ok("get", "all")
    for needle in [
        "pod/kubernetes-bootcamp-",
        "service/kubernetes-bootcamp   ClusterIP",
        "deployment.apps/kubernetes-bootcamp   1/1",
        "replicaset.apps/kubernetes-bootcamp-",
    ]:
        assert needle in out, out


# ---- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (
            ("get", "deploy", "nope"),
            'Error from server (NotFound): deployments.apps "nope" not found\n',
        ),
        (("get", "pods", "nope"), 'Error from server (NotFound): pods "nope" not found\n'),
        (("get", "svc", "nope"), 'Error from server (NotFound): services "nope" not found\n'),
        (("delete", "cm", "nope"), 'Error from server (NotFound): configmaps "nope" not found\n'),
        (
            ("get", "ns", "nope-ns"),
            'Error from server (NotFound): namespaces "nope-ns" not found\n',
        ),
    ],
)
def test_not_found_errors(kube: Kube, args: tuple[str, ...], stderr: str) -> None:
    result = kube(*args)
    assert (result.returncode, result.stderr) == (1, stderr)


def test_invalid_names(kube: Kube) -> None:
    result = kube("create", "deployment", "Foo_Bar", "--image=nginx")
    assert result.returncode == 1
    assert (
        'Deployment.apps "Foo_Bar" is invalid: metadata.name: Invalid value: "Foo_Bar": '
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
        "'-' or '.', and must start and end with an alphanumeric character"
    ) in result.stderr
    svc = kube("create", "service", "clusterip", "9svc", "--tcp=80")
    assert svc.returncode == 1
    assert 'metadata.name: Invalid value: "9svc": a DNS-1035 label must consist of' in svc.stderr


def test_missing_image_is_invalid(kube: Kube) -> None:
    manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n"
    result = kube("create", "-f", "-", stdin=manifest)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'The Pod "p" is invalid: spec.containers[0].image: Required value'
    )


# ---- namespaces and generators (protobuf bodies) ------------------------------------------
def test_namespace_has_defaults_and_deletion_cascades(apiserver: FakeCluster) -> None:
    kube = Kube(apiserver, "cascade")
    apiserver.kubectl("create", "namespace", "cascade", check=True)
    assert until(kube, "default", "get", "sa", "-o", "name") == "serviceaccount/default\n"
    bootcamp(kube)
    out = apiserver.kubectl("delete", "namespace", "cascade", timeout=60)
    assert out.stdout == 'namespace "cascade" deleted\n'
    gone = apiserver.kubectl("get", "ns", "cascade")
    assert 'namespaces "cascade" not found' in gone.stderr
    assert apiserver.kubectl("get", "pods", "-n", "cascade", "-o", "name").stdout == ""


@pytest.mark.parametrize(
    ("args", "out", "get"),
    [
        (
            ("create", "configmap", "c1", "--from-literal=a=1"),
            "configmap/c1 created\n",
            ("get", "cm", "c1", "-o", "jsonpath={.data.a}"),
        ),
        (
            ("create", "secret", "generic", "s1", "--from-literal=a=1"),
            "secret/s1 created\n",
            ("get", "secret", "s1", "-o", "jsonpath={.type}"),
        ),
        (
            ("create", "service", "clusterip", "s2", "--tcp=80:8080"),
            "service/s2 created\n",
            ("get", "svc", "s2", "-o", "jsonpath={.spec.ports[0].targetPort}"),
        ),
        (
            ("run", "p1", "--image=nginx:1.25"),
            "pod/p1 created\n",
            ("get", "pod", "p1", "-o", "jsonpath={.spec.containers[0].imagePullPolicy}"),
        ),
        (
            ("create", "serviceaccount", "bot"),
            "serviceaccount/bot created\n",
            ("get", "sa", "bot", "-o", "jsonpath={.metadata.name}"),
        ),
    ],
)
def test_generators(kube: Kube, args: tuple[str, ...], out: str, get: tuple[str, ...]) -> None:
    assert kube.ok(*args) == out
    value = kube.ok(*get)
    assert value in {"1", "Opaque", "8080", "IfNotPresent", "bot"}, value


def test_latest_image_pull_policy_always(kube: Kube) -> None:
    kube.ok("run", "p2", "--image=nginx")
    assert (
        kube.ok("get", "pod", "p2", "-o", "jsonpath={.spec.containers[0].imagePullPolicy}")
        == "Always"
    )


def test_explain_deployment(kube: Kube) -> None:
    out = kube.ok("explain", "deployment.spec.replicas")
    assert "GROUP:      apps" in out
    assert "KIND:       Deployment" in out


def test_container_exit_completes_or_crash_loops(kube: Kube) -> None:
    kube.ok("run", "once", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo hi")
    kube.ok("run", "crash", "--image=busybox", "--", "sh", "-c", "exit 3")
    out = kube.ok("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/once", "--timeout=20s")
    assert out == "pod/once condition met\n"
    table = until(kube, r"crash\s+0/1\s+CrashLoopBackOff", "get", "pods", timeout=20)
    # the first exit restarts at once (doBackOff in kuberuntime_manager.go starts the
    # back-off); the second waits: CrashLoopBackOff shows with one restart
    assert re.search(r"crash\s+0/1\s+CrashLoopBackOff\s+1 \(\d+s ago\)\s", table), table
    assert re.search(r"once\s+0/1\s+Completed\s+0\s", table), table
    assert kube.ok("logs", "once") == "hi\n"
    code = kube.ok(
        "get",
        "pod",
        "crash",
        "-o",
        "jsonpath={.status.containerStatuses[0].lastState.terminated.exitCode}",
    )
    assert code == "3"
    events = kube.ok("get", "events", "--field-selector", "reason=BackOff")
    assert "Back-off restarting failed container crash in pod crash_" in events
