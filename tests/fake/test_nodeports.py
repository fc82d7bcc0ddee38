"""Node ports on 127.0.0.1 and the service link variables, with the real kubectl."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from labtools.testing.apiserver.nodeports import ready_backends, wanted_ports
from labtools.testing.apiserver.pods import container_env, service_env
from labtools.testing.cluster import FakeCluster, NamespacedKubectl

pytestmark = pytest.mark.fake

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
HELLO = re.compile(r"Hello Kubernetes bootcamp! \| Running on: (web-\w+-\w{5}) \| v=1\n")


def get(port: int) -> str:
    """GET / on a node port of this machine."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        return str(response.read().decode())


def refused(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def node_port(kube: NamespacedKubectl, name: str) -> int:
    return int(kube.ok("get", "svc", name, "-o", "jsonpath={.spec.ports[0].nodePort}"))


def deploy_web(kube: NamespacedKubectl, replicas: int = 1) -> None:
    """The bootcamp app as deployment `web`, rolled out, exposed as NodePort service `web`."""
    kube.ok("create", "deployment", "web", f"--image={BOOTCAMP}", f"--replicas={replicas}")
    kube.ok("rollout", "status", "deployment/web", "--timeout=60s")
    kube.ok("expose", "deployment/web", "--type=NodePort", "--port=8080")


# -- forwarding, end to end ---------------------------------------------------------------------


def test_http_through_the_node_port_reaches_every_ready_pod(kube: NamespacedKubectl) -> None:
    deploy_web(kube, replicas=2)
    port = node_port(kube, "web")
    assert 30000 <= port <= 32767
    pods = set(kube.ok("get", "pods", "-l", "app=web", "-o", "name").replace("pod/", "").split())
    seen = set()
    for _ in range(4):
        match = HELLO.fullmatch(get(port))
        assert match is not None
        seen.add(match.group(1))
    assert seen == pods  # round robin over both endpoints


@pytest.mark.parametrize(
    "change",
    [
        ("delete", "svc", "web"),
        ("patch", "svc", "web", "--type=merge", "-p", '{"spec":{"type":"ClusterIP"}}'),
    ],
    ids=["delete", "to-clusterip"],
)
def test_port_refuses_once_the_service_stops_asking(
    kube: NamespacedKubectl, change: tuple[str, ...]
) -> None:
    deploy_web(kube)
    port = node_port(kube, "web")
    assert HELLO.fullmatch(get(port))
    kube.ok(*change)
    assert refused(port)
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        get(port)


def test_changed_node_port_moves_the_listener(kube: NamespacedKubectl) -> None:
    deploy_web(kube)
    old = node_port(kube, "web")
    new = free_port() % 2768 + 30000
    while new == old or not refused(new):
        new = (new + 1 - 30000) % 2768 + 30000
    patch = {"spec": {"ports": [{"port": 8080, "targetPort": 8080, "nodePort": new}]}}
    kube.ok("patch", "svc", "web", "--type=merge", "-p", json.dumps(patch))
    assert node_port(kube, "web") == new
    assert refused(old)
    assert HELLO.fullmatch(get(new))


def test_no_ready_endpoint_closes_the_connection(kube: NamespacedKubectl) -> None:
    kube.ok("create", "service", "nodeport", "lonely", "--tcp=8080:8080")
    port = node_port(kube, "lonely")
    assert not refused(port)  # the port is open, like kube-proxy's node port ...
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        get(port)  # ... but with nothing behind it the connection is dropped


def hold_node_port() -> socket.socket:
    """A listening socket on a free port of the node port range (another profile's server)."""
    for port in range(31999, 30000, -7):
        holder = socket.socket()
        try:
            holder.bind(("127.0.0.1", port))
        except OSError:
            holder.close()
            continue
        holder.listen(1)
        return holder
    raise AssertionError("no free port in the node port range")


def test_port_held_by_another_process_only_warns(
    apiserver: FakeCluster, kube: NamespacedKubectl
) -> None:
    with hold_node_port() as holder:
        taken = holder.getsockname()[1]
        created = kube(
            "create", "service", "nodeport", "busy", "--tcp=80:80", f"--node-port={taken}"
        )
        assert created.returncode == 0, created.stderr
        assert node_port(kube, "busy") == taken
    log = Path(apiserver.workdir / "apiserver.log").read_text()
    assert f"service {kube.namespace}/busy: cannot listen on 127.0.0.1:{taken}" in log
    kube.ok("delete", "svc", "busy")  # a failed port is forgotten with its Service ...
    kube.ok("create", "service", "nodeport", "busy", "--tcp=80:80", f"--node-port={taken}")
    assert not refused(taken)  # ... so the port opens once it is free


def test_server_stop_closes_the_node_ports(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "cluster", pod_ready_delay=0.2).start()
    try:
        cluster.kubectl("create", "service", "nodeport", "web", "--tcp=80:80", check=True)
        out = cluster.kubectl("get", "svc", "web", "-o", "jsonpath={.spec.ports[0].nodePort}")
        port = int(out.stdout)
        assert not refused(port)
    finally:
        cluster.stop()
    assert refused(port)


# -- service link variables, end to end -----------------------------------------------------------


def exec_env(kube: NamespacedKubectl, pod: str) -> dict[str, str]:
    kube.ok("wait", "--for=condition=Ready", f"pod/{pod}", "--timeout=60s")
    lines = kube.ok("exec", pod, "--", "env").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_exec_env_shows_services_that_existed_at_pod_start(kube: NamespacedKubectl) -> None:
    kube.ok("run", "early", f"--image={BOOTCAMP}")
    kube.ok("wait", "--for=condition=Ready", "pod/early", "--timeout=60s")
    kube.ok("create", "service", "clusterip", "my-db", "--tcp=5432:5432", "--tcp=80:8080")
    kube.ok("create", "service", "clusterip", "headless", "--clusterip=None")
    kube.ok("run", "late", f"--image={BOOTCAMP}")
    ip = kube.ok("get", "svc", "my-db", "-o", "jsonpath={.spec.clusterIP}")
    late = exec_env(kube, "late")
    assert {k: v for k, v in late.items() if k.startswith("MY_DB_")} == {
        "MY_DB_SERVICE_HOST": ip,
        "MY_DB_SERVICE_PORT": "5432",
        "MY_DB_SERVICE_PORT_5432_5432": "5432",
        "MY_DB_SERVICE_PORT_80_8080": "80",
        "MY_DB_PORT": f"tcp://{ip}:5432",
        "MY_DB_PORT_5432_TCP": f"tcp://{ip}:5432",
        "MY_DB_PORT_5432_TCP_PROTO": "tcp",
        "MY_DB_PORT_5432_TCP_PORT": "5432",
        "MY_DB_PORT_5432_TCP_ADDR": ip,
        "MY_DB_PORT_80_TCP": f"tcp://{ip}:80",
        "MY_DB_PORT_80_TCP_PROTO": "tcp",
        "MY_DB_PORT_80_TCP_PORT": "80",
        "MY_DB_PORT_80_TCP_ADDR": ip,
    }
    assert late["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert not any(k.startswith("HEADLESS_") for k in late)
    early = exec_env(kube, "early")
    assert not any(k.startswith("MY_DB_") for k in early)
    assert early["KUBERNETES_PORT_443_TCP"] == "tcp://10.96.0.1:443"


def test_enable_service_links_false_keeps_only_kubernetes(kube: NamespacedKubectl) -> None:
    kube.ok("create", "service", "clusterip", "my-db", "--tcp=5432:5432")
    overrides = json.dumps({"spec": {"enableServiceLinks": False}})
    kube.ok("run", "quiet", f"--image={BOOTCAMP}", f"--overrides={overrides}")
    env = exec_env(kube, "quiet")
    assert not any(k.startswith("MY_DB_") for k in env)
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"


# -- the pure parts -------------------------------------------------------------------------------


def svc(name: str, ns: str = "lab", ip: str = "10.96.5.5", **spec: object) -> dict[str, object]:
    ports = spec.pop("ports", [{"port": 80, "protocol": "TCP"}])
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": ip, "ports": ports, **spec},
    }


KUBERNETES = svc("kubernetes", "default", "10.96.0.1", ports=[{"name": "https", "port": 443}])


@pytest.mark.parametrize(
    ("services", "namespace", "links", "expected"),
    [
        ([KUBERNETES], "lab", True, {"KUBERNETES_SERVICE_HOST"}),
        ([KUBERNETES, svc("web")], "lab", True, {"KUBERNETES_SERVICE_HOST", "WEB_SERVICE_HOST"}),
        ([KUBERNETES, svc("web")], "lab", False, {"KUBERNETES_SERVICE_HOST"}),
        ([KUBERNETES, svc("web", "other")], "lab", True, {"KUBERNETES_SERVICE_HOST"}),
        ([svc("web", ip="None"), svc("ext", ip="")], "lab", True, set()),
        ([svc("my-app")], "lab", True, {"MY_APP_SERVICE_HOST"}),
    ],
    ids=["master-only", "same-ns", "links-off", "other-ns", "no-cluster-ip", "dash-name"],
)
def test_service_env_selects_like_the_kubelet(
    services: list[dict[str, object]], namespace: str, links: bool, expected: set[str]
) -> None:
    env = service_env(services, namespace, links)  # type: ignore[arg-type]
    assert {k for k in env if k.endswith("_SERVICE_HOST")} == expected


def test_service_env_udp_and_named_ports() -> None:
    dns = svc(
        "kube-dns",
        ports=[{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53}],
    )
    env = service_env([dns], "lab")  # type: ignore[list-item]
    assert env == {
        "KUBE_DNS_SERVICE_HOST": "10.96.5.5",
        "KUBE_DNS_SERVICE_PORT": "53",
        "KUBE_DNS_SERVICE_PORT_DNS": "53",
        "KUBE_DNS_SERVICE_PORT_DNS_TCP": "53",
        "KUBE_DNS_PORT": "udp://10.96.5.5:53",
        "KUBE_DNS_PORT_53_UDP": "udp://10.96.5.5:53",
        "KUBE_DNS_PORT_53_UDP_PROTO": "udp",
        "KUBE_DNS_PORT_53_UDP_PORT": "53",
        "KUBE_DNS_PORT_53_UDP_ADDR": "10.96.5.5",
        "KUBE_DNS_PORT_53_TCP": "tcp://10.96.5.5:53",
        "KUBE_DNS_PORT_53_TCP_PROTO": "tcp",
        "KUBE_DNS_PORT_53_TCP_PORT": "53",
        "KUBE_DNS_PORT_53_TCP_ADDR": "10.96.5.5",
    }


def test_container_env_explicit_value_wins_over_service_link() -> None:
    pod = {"metadata": {"name": "p", "namespace": "lab"}, "spec": {}}
    spec = {"image": "busybox", "env": [{"name": "WEB_SERVICE_HOST", "value": "mine"}]}
    env = container_env(pod, spec, [svc("web")])  # type: ignore[list-item]
    assert env["WEB_SERVICE_HOST"] == "mine"
    assert env["WEB_SERVICE_PORT"] == "80"
    assert "KUBERNETES_SERVICE_HOST" not in env  # no kubernetes service in the list given
    assert container_env(pod, spec)["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "ClusterIP", "ports": [{"port": 80}]}, []),
        ({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}, [("", 30080)]),
        (
            {
                "type": "LoadBalancer",
                "ports": [
                    {"name": "http", "port": 80, "nodePort": 30080},
                    {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
                ],
            },
            [("http", 30080)],
        ),
    ],
    ids=["clusterip", "nodeport", "lb-tcp-only"],
)
def test_wanted_ports(spec: dict[str, object], expected: list[tuple[str, int]]) -> None:
    wanted = wanted_ports({"metadata": {"name": "web", "namespace": "lab"}, "spec": spec})
    assert [(k[2], k[3]) for k in wanted] == expected
    assert all(k[:2] == ("lab", "web") for k in wanted)


def test_ready_backends_only_ready_pods_and_the_named_port() -> None:
    ref = {"kind": "Pod", "namespace": "lab", "name": "a"}
    endpoints = {
        "subsets": [
            {
                "addresses": [{"ip": "10.244.0.5", "targetRef": ref}],
                "notReadyAddresses": [{"ip": "10.244.0.6", "targetRef": {**ref, "name": "b"}}],
                "ports": [{"name": "http", "port": 8080}, {"name": "admin", "port": 9000}],
            }
        ]
    }
    assert ready_backends(endpoints, "admin") == [("lab", "a", 9000)]
    assert ready_backends(endpoints, "nope") == []
    assert ready_backends(None, "") == []


def test_ready_after_the_endpoints_change(kube: NamespacedKubectl) -> None:
    kube.ok("create", "service", "nodeport", "web", "--tcp=8080:8080")
    port = node_port(kube, "web")
    kube.ok("create", "deployment", "web", f"--image={BOOTCAMP}")
    kube.ok("rollout", "status", "deployment/web", "--timeout=60s")
    deadline = time.monotonic() + 10
    body = ""
    while time.monotonic() < deadline and not body:
        try:
            body = get(port)
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)  # the endpoints controller runs after the pod becomes Ready
    assert HELLO.fullmatch(body)
