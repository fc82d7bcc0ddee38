"""ConfigMaps, Secrets and the downward API reaching pods, with the real kubectl against the fake.

Expected behaviour and texts, from Kubernetes v1.32:
- env/envFrom and their errors: ``pkg/kubelet/kubelet_pods.go`` (``makeEnvironmentVariables``);
  the ``configmap "x" not found`` wording comes from the watch-based manager
  (``pkg/kubelet/util/manager/watch_based_manager.go``: ``NewNotFound`` of the resource
  ``configmap``);
  ``CreateContainerConfigError`` and the ``Error: ...`` Failed event from
  ``pkg/kubelet/kuberuntime/kuberuntime_container.go`` (``startContainer``).
- volumes: ``pkg/volume/configmap/configmap.go``, ``pkg/volume/secret/secret.go`` (``MakePayload``),
  the on-disk layout from ``pkg/volume/util/atomic_writer.go``, the FailedMount event from
  ``pkg/volume/util/operationexecutor/operation_generator.go`` (``MountVolume.SetUp failed``).
- ``$(VAR)`` expansion: ``third_party/forked/golang/expansion/expand.go``.
- the tutorials: "Configure a Pod to Use a ConfigMap" (registry.k8s.io/busybox, ``env``, ``ls``)
  and "Distribute Credentials Securely Using Secrets" (nginx, ``/etc/secret-volume``).
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest

from labtools.testing.apiserver.pods import detect_isolation
from labtools.testing.cluster import NamespacedKubectl as Kube
from tests.fake.test_fidelity import until

pytestmark = pytest.mark.fake

needs_mounts = pytest.mark.skipif(
    detect_isolation() != "netns",
    reason="volumes appear at their mountPath only with pod isolation (root, netns)",
)

SPECIAL_CONFIG = """
apiVersion: v1
kind: ConfigMap
metadata: {name: special-config}
data: {SPECIAL_LEVEL: very, SPECIAL_TYPE: charm}
"""

TEST_SECRET = """
apiVersion: v1
kind: Secret
metadata: {name: test-secret}
data: {username: bXktYXBw, password: Mzk1MjgkdmRnN0pi}
"""


def pod(name: str, container: dict[str, object], **spec: object) -> str:
    """A Pod manifest (JSON is YAML) with one container."""
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [container], **spec},
    }
    return json.dumps(body)


def running(kube: Kube, name: str, timeout: float = 20) -> None:
    """Wait for the pod to be Running and ready."""
    until(kube, r"\b1/1\s+Running", "get", "pod", name, "--no-headers", timeout=timeout)
    assert re.search(r"\b1/1\s+Running", kube.ok("get", "pod", name, "--no-headers"))


def exec_out(kube: Kube, name: str, *argv: str) -> str:
    """stdout of ``kubectl exec NAME -- ARGV`` (exit 0 required)."""
    return kube.ok("exec", name, "--", *argv)


def waiting(kube: Kube, name: str) -> dict[str, str]:
    """The waiting state of the pod's first container."""
    out = kube.ok("get", "pod", name, "-o", "jsonpath={.status.containerStatuses[0].state}")
    return dict(json.loads(out or "{}").get("waiting") or {})


# ---- environment ----------------------------------------------------------------------------
def test_tutorial_env_from_configmap_and_command_expansion(kube: Kube) -> None:
    """The tutorial's dapi-test-pod: configMapKeyRef values and $(VAR) in the command."""
    kube.ok("apply", "-f", "-", stdin=SPECIAL_CONFIG)
    container = {
        "name": "test-container",
        "image": "registry.k8s.io/busybox",
        "command": ["/bin/echo", "$(SPECIAL_LEVEL_KEY) $(SPECIAL_TYPE_KEY) $(UNSET) $$(ESC)"],
        "env": [
            {
                "name": "SPECIAL_LEVEL_KEY",
                "valueFrom": {
                    "configMapKeyRef": {"name": "special-config", "key": "SPECIAL_LEVEL"}
                },
            },
            {
                "name": "SPECIAL_TYPE_KEY",
                "valueFrom": {"configMapKeyRef": {"name": "special-config", "key": "SPECIAL_TYPE"}},
            },
        ],
    }
    kube.ok("apply", "-f", "-", stdin=pod("dapi-test-pod", container, restartPolicy="Never"))
    until(kube, "Completed", "get", "pod", "dapi-test-pod", "--no-headers")
    assert kube.ok("logs", "dapi-test-pod") == "very charm $(UNSET) $(ESC)\n"


def test_env_sources_prefix_optional_and_downward_api(kube: Kube) -> None:
    kube.ok("apply", "-f", "-", stdin=SPECIAL_CONFIG + "---" + TEST_SECRET)
    container = {
        "name": "app",
        "image": "nginx",
        "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}},
        "envFrom": [
            {"prefix": "CFG_", "configMapRef": {"name": "special-config"}},
            {"secretRef": {"name": "test-secret"}},
            {"configMapRef": {"name": "absent", "optional": True}},
        ],
        "env": [
            {"name": "SPECIAL_LEVEL", "value": "overridden-$(CFG_SPECIAL_TYPE)"},
            {
                "name": "MAYBE",
                "valueFrom": {
                    "configMapKeyRef": {"name": "special-config", "key": "nope", "optional": True}
                },
            },
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {
                "name": "MEM_MI",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {
                "name": "CPU_M",
                "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}},
            },
        ],
    }
    kube.ok("apply", "-f", "-", stdin=pod("envs", container))
    running(kube, "envs")
    env = dict(
        line.split("=", 1) for line in exec_out(kube, "envs", "env").splitlines() if "=" in line
    )
    ip = kube.ok("get", "pod", "envs", "-o", "jsonpath={.status.podIP}")
    assert env["CFG_SPECIAL_LEVEL"] == "very"
    assert env["CFG_SPECIAL_TYPE"] == "charm"
    assert env["username"] == "my-app"
    assert env["password"] == "39528$vdg7Jb"
    assert env["SPECIAL_LEVEL"] == "overridden-charm"
    assert "MAYBE" not in env
    assert (env["POD_NAME"], env["POD_NS"], env["POD_IP"]) == ("envs", kube.namespace, ip)
    assert env["NODE"] == "minikube"
    assert env["APP"] == "envs"
    assert (env["MEM_MI"], env["CPU"], env["CPU_M"]) == ("64", "1", "250")


def test_missing_configmap_is_create_container_config_error_then_recovers(kube: Kube) -> None:
    container = {
        "name": "app",
        "image": "nginx",
        "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "k"}}}],
    }
    kube.ok("apply", "-f", "-", stdin=pod("cfgerr", container))
    until(kube, "CreateContainerConfigError", "get", "pod", "cfgerr", "--no-headers")
    assert waiting(kube, "cfgerr") == {
        "reason": "CreateContainerConfigError",
        "message": 'configmap "later" not found',
    }
    events = kube.ok("get", "events", "--field-selector", "involvedObject.name=cfgerr")
    assert re.search(r'Warning\s+Failed\s+pod/cfgerr\s+Error: configmap "later" not found', events)
    assert kube.ok("get", "pod", "cfgerr", "-o", "jsonpath={.status.phase}") == "Pending"
    # the key is missing: the kubelet's other text
    kube.ok("create", "configmap", "later", "--from-literal=other=1")
    until(kube, "couldn't find key", "get", "pod", "cfgerr", "-o", "yaml", timeout=25)
    assert waiting(kube, "cfgerr")["message"] == (
        f"couldn't find key k in ConfigMap {kube.namespace}/later"
    )
    kube.ok("patch", "configmap", "later", "-p", '{"data":{"k":"v1"}}')
    running(kube, "cfgerr", timeout=25)
    assert exec_out(kube, "cfgerr", "printenv", "A") == "v1\n"


def test_missing_secret_key_message(kube: Kube) -> None:
    kube.ok("apply", "-f", "-", stdin=TEST_SECRET)
    container = {
        "name": "app",
        "image": "nginx",
        "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "test-secret", "key": "tk"}}}],
    }
    kube.ok("apply", "-f", "-", stdin=pod("nokey", container))
    until(kube, "CreateContainerConfigError", "get", "pod", "nokey", "--no-headers")
    assert waiting(kube, "nokey")["message"] == (
        f"couldn't find key tk in Secret {kube.namespace}/test-secret"
    )


# ---- volumes --------------------------------------------------------------------------------
@needs_mounts
def test_configmap_volume_layout_and_read_only(kube: Kube) -> None:
    kube.ok("apply", "-f", "-", stdin=SPECIAL_CONFIG)
    container = {
        "name": "app",
        "image": "registry.k8s.io/busybox",
        "command": ["sleep", "3600"],
        "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/config"}],
    }
    volume = {"name": "config-volume", "configMap": {"name": "special-config"}}
    host_had_it = Path("/etc/config").exists()
    kube.ok("apply", "-f", "-", stdin=pod("layout", container, volumes=[volume]))
    running(kube, "layout")
    assert exec_out(kube, "layout", "ls", "/etc/config/") == "SPECIAL_LEVEL\nSPECIAL_TYPE\n"
    assert exec_out(kube, "layout", "cat", "/etc/config/SPECIAL_LEVEL") == "very"
    listing = exec_out(kube, "layout", "ls", "-a", "/etc/config/").split()
    stamps = [n for n in listing if re.fullmatch(r"\.\.\d{4}(_\d\d){5}\.\d+", n)]
    assert len(stamps) == 1, listing
    assert exec_out(kube, "layout", "readlink", "/etc/config/..data") == stamps[0] + "\n"
    link = exec_out(kube, "layout", "readlink", "/etc/config/SPECIAL_TYPE")
    assert link == "..data/SPECIAL_TYPE\n"
    assert exec_out(kube, "layout", "stat", "-L", "-c", "%a", "/etc/config/SPECIAL_TYPE") == "644\n"
    write = kube("exec", "layout", "--", "sh", "-c", "echo x > /etc/config/new")
    assert write.returncode != 0  # the host's sh decides the code (dash: 2, busybox ash: 1)
    assert "Read-only file system" in write.stderr
    # the host's /etc is untouched: the directory exists only in the container
    assert kube("exec", "layout", "--", "test", "-d", "/etc/config").returncode == 0
    assert Path("/etc/config").exists() == host_had_it


@needs_mounts
def test_tutorial_secret_volume_items_modes_and_projected(kube: Kube) -> None:
    kube.ok("apply", "-f", "-", stdin=TEST_SECRET + "---" + SPECIAL_CONFIG)
    container = {
        "name": "test-container",
        "image": "nginx",
        "volumeMounts": [
            {"name": "secret-volume", "mountPath": "/etc/secret-volume", "readOnly": True},
            {"name": "items", "mountPath": "/etc/items"},
            {"name": "all-in-one", "mountPath": "/projected-volume"},
            {"name": "cache", "mountPath": "/cache"},
        ],
    }
    volumes = [
        {"name": "secret-volume", "secret": {"secretName": "test-secret"}},
        {
            "name": "items",
            "secret": {
                "secretName": "test-secret",
                "defaultMode": 0o400,
                "items": [
                    {"key": "username", "path": "my-group/my-username"},
                    {"key": "password", "path": "pw", "mode": 0o600},
                ],
            },
        },
        {
            "name": "all-in-one",
            "projected": {
                "sources": [
                    {
                        "secret": {
                            "name": "test-secret",
                            "items": [{"key": "username", "path": "u"}],
                        }
                    },
                    {"configMap": {"name": "special-config"}},
                    {
                        "downwardAPI": {
                            "items": [
                                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}
                            ]
                        }
                    },
                ]
            },
        },
        {"name": "cache", "emptyDir": {}},
    ]
    kube.ok("apply", "-f", "-", stdin=pod("secret-test-pod", container, volumes=volumes))
    running(kube, "secret-test-pod")
    name = "secret-test-pod"
    assert exec_out(kube, name, "ls", "/etc/secret-volume") == "password\nusername\n"
    assert exec_out(kube, name, "cat", "/etc/secret-volume/username") == "my-app"
    assert exec_out(kube, name, "cat", "/etc/secret-volume/password") == "39528$vdg7Jb"
    assert exec_out(kube, name, "cat", "/etc/items/my-group/my-username") == "my-app"
    assert exec_out(kube, name, "readlink", "/etc/items/my-group") == "..data/my-group\n"
    modes = exec_out(kube, name, "stat", "-L", "-c", "%a", "/etc/items/my-group/my-username")
    assert modes == "400\n"
    assert exec_out(kube, name, "stat", "-L", "-c", "%a", "/etc/items/pw") == "600\n"
    assert (
        exec_out(kube, name, "ls", "/projected-volume")
        == "SPECIAL_LEVEL\nSPECIAL_TYPE\nlabels\nu\n"
    )
    assert exec_out(kube, name, "cat", "/projected-volume/labels") == 'app="secret-test-pod"'
    exec_out(kube, name, "sh", "-c", "echo scratch > /cache/f")
    assert exec_out(kube, name, "cat", "/cache/f") == "scratch\n"
    token = exec_out(kube, name, "cat", "/var/run/secrets/kubernetes.io/serviceaccount/token")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["sub"] == f"system:serviceaccount:{kube.namespace}:default"
    assert claims["kubernetes.io"]["pod"]["name"] == name  # bound to the pod
    assert claims["kubernetes.io"]["warnafter"] == claims["iat"] + 3607
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview"}
    review["spec"] = {"token": token}
    reviewed = json.loads(kube.ok("create", "-f", "-", "-o", "json", stdin=json.dumps(review)))
    assert reviewed["status"]["authenticated"] is True
    ns_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    assert exec_out(kube, name, "cat", ns_file) == kube.namespace


@needs_mounts
def test_mounted_configmap_follows_updates_but_env_does_not(kube: Kube) -> None:
    kube.ok("apply", "-f", "-", stdin=SPECIAL_CONFIG)
    container = {
        "name": "app",
        "image": "nginx",
        "env": [
            {
                "name": "LEVEL",
                "valueFrom": {
                    "configMapKeyRef": {"name": "special-config", "key": "SPECIAL_LEVEL"}
                },
            }
        ],
        "volumeMounts": [
            {"name": "cfg", "mountPath": "/etc/config"},
            {"name": "cfg", "mountPath": "/etc/level", "subPath": "SPECIAL_LEVEL"},
            {"name": "info", "mountPath": "/etc/podinfo"},
        ],
    }
    volumes = [
        {"name": "cfg", "configMap": {"name": "special-config"}},
        {
            "name": "info",
            "downwardAPI": {
                "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
            },
        },
    ]
    kube.ok("apply", "-f", "-", stdin=pod("follow", container, volumes=volumes))
    running(kube, "follow")
    before = exec_out(kube, "follow", "readlink", "/etc/config/..data")
    kube.ok("patch", "configmap", "special-config", "-p", '{"data":{"SPECIAL_LEVEL":"extremely"}}')
    kube.ok("label", "pod", "follow", "tier=web")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if exec_out(kube, "follow", "cat", "/etc/config/SPECIAL_LEVEL") == "extremely":
            break
        time.sleep(0.5)
    assert exec_out(kube, "follow", "cat", "/etc/config/SPECIAL_LEVEL") == "extremely"
    assert exec_out(kube, "follow", "readlink", "/etc/config/..data") != before
    until(kube, "tier", "exec", "follow", "--", "cat", "/etc/podinfo/labels")
    assert exec_out(kube, "follow", "cat", "/etc/podinfo/labels") == 'app="follow"\ntier="web"'
    # environment variables and subPath mounts keep what the container started with
    assert exec_out(kube, "follow", "printenv", "LEVEL") == "very\n"
    assert exec_out(kube, "follow", "cat", "/etc/level") == "very"


def test_missing_configmap_volume_is_failed_mount_then_recovers(kube: Kube) -> None:
    container = {
        "name": "app",
        "image": "nginx",
        "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/config"}],
    }
    volumes = [
        {"name": "config-volume", "configMap": {"name": "late-config"}},
        {"name": "opt", "configMap": {"name": "never", "optional": True}},
    ]
    kube.ok("apply", "-f", "-", stdin=pod("mountwait", container, volumes=volumes))
    until(kube, "FailedMount", "get", "events", "--field-selector", "involvedObject.name=mountwait")
    row = kube.ok("get", "pod", "mountwait", "--no-headers")
    assert re.search(r"0/1\s+ContainerCreating", row), row
    events = kube.ok("get", "events", "--field-selector", "involvedObject.name=mountwait")
    assert re.search(
        r"Warning\s+FailedMount\s+pod/mountwait\s+MountVolume.SetUp failed for volume "
        r'"config-volume" : configmap "late-config" not found',
        events,
    ), events
    assert "Pulling" not in events  # images are pulled only once the volumes are mounted
    kube.ok("create", "configmap", "late-config", "--from-literal=k=v")
    running(kube, "mountwait", timeout=30)
    if detect_isolation() == "netns":
        assert exec_out(kube, "mountwait", "cat", "/etc/config/k") == "v"


def test_missing_item_key_message(kube: Kube) -> None:
    kube.ok("apply", "-f", "-", stdin=SPECIAL_CONFIG + "---" + TEST_SECRET)
    container = {"name": "app", "image": "nginx"}
    volumes = [
        {
            "name": "c",
            "configMap": {"name": "special-config", "items": [{"key": "x", "path": "x"}]},
        },
        {
            "name": "s",
            "secret": {"secretName": "test-secret", "items": [{"key": "y", "path": "y"}]},
        },
    ]
    kube.ok("apply", "-f", "-", stdin=pod("items", container, volumes=volumes))
    until(kube, "FailedMount", "get", "events", "--field-selector", "involvedObject.name=items")
    events = kube.ok("get", "events", "--field-selector", "involvedObject.name=items")
    assert 'volume "c" : configmap references non-existent config key: x' in events


# ---- nginx serves a mounted ConfigMap -------------------------------------------------------
@needs_mounts
def test_nginx_serves_configmap_mounted_on_its_docroot(kube: Kube) -> None:
    kube.ok("create", "configmap", "site", "--from-literal=index.html=<h1>lab</h1>")
    container = {
        "name": "web",
        "image": "nginx:1.27",
        "volumeMounts": [{"name": "html", "mountPath": "/usr/share/nginx/html"}],
    }
    volumes = [{"name": "html", "configMap": {"name": "site"}}]
    kube.ok("apply", "-f", "-", stdin=pod("site", container, volumes=volumes))
    running(kube, "site")
    assert exec_out(kube, "site", "curl", "-s", "localhost/") == "<h1>lab</h1>"
    missing = exec_out(
        kube, "site", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "localhost/50x.html"
    )
    assert missing == "404"
