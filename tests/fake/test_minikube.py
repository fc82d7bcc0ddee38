"""The fake minikube against minikube's documented CLI contract (real processes, real kubectl)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import urllib.request
from pathlib import Path

import pytest
import yaml

from labtools.testing.minikube.state import SERVER_MODULE_ENV
from labtools.testing.plugin import FakeMinikube

pytestmark = pytest.mark.fake

REAL_SERVER = importlib.util.find_spec("labtools.testing.apiserver.__main__") is not None

# Until the real fake API server exists, a stand-in with the same command line is used: HTTPS with
# client certificates, /version, discovery and the node list, nothing else.
STANDIN = r"""
import argparse, json, signal, ssl, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from labtools.testing.apiserver.certs import make_certs
from labtools.testing.apiserver.kubeconfig import kubeconfig_doc, write_kubeconfig

p = argparse.ArgumentParser()
for f in ("--kubeconfig", "--name", "--node-name", "--cert-dir", "--state-dir", "--data",
          "--kubernetes-version", "--ca-cert", "--ca-key"):
    p.add_argument(f)
p.add_argument("--port", type=int, default=0)
a = p.parse_args()
ca = [Path(f) if f else None for f in (a.ca_cert, a.ca_key)]
certs = make_certs(Path(a.cert_dir), ["127.0.0.1", "localhost"], *ca)
node = {"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": a.node_name, "creationTimestamp": "2025-01-01T00:00:00Z"}}
routes = {
    "/version": {"major": "1", "minor": "34", "gitVersion": a.kubernetes_version},
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node",
         "verbs": ["get", "list"]}]},
    "/api/v1/nodes": {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": [node]},
}
class H(BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_GET(self):
        body, code = routes.get(self.path.split("?")[0]), 200
        if body is None:
            body, code = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                          "reason": "NotFound", "code": 404, "message": "not found"}, 404
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
srv = ThreadingHTTPServer(("127.0.0.1", a.port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(certs.server_cert, certs.server_key)
ctx.load_verify_locations(certs.ca)
ctx.verify_mode = ssl.CERT_REQUIRED
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
port = srv.server_address[1]
write_kubeconfig(Path(a.kubeconfig), kubeconfig_doc(a.name, f"https://127.0.0.1:{port}", certs))
print(f"fake apiserver ready at https://127.0.0.1:{port}", flush=True)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
srv.serve_forever()
"""

needs_real_server = pytest.mark.skipif(
    not REAL_SERVER, reason="needs labtools.testing.apiserver (services, persisted objects)"
)


@pytest.fixture
def mk(fake_minikube: FakeMinikube, tmp_path: Path) -> FakeMinikube:
    """fake_minikube, backed by the stand-in server when the real one is not there yet."""
    if not REAL_SERVER:
        standin = tmp_path / "standin"
        standin.mkdir()
        (standin / "standin_apiserver.py").write_text(STANDIN)
        fake_minikube.env[SERVER_MODULE_ENV] = "standin_apiserver"
        fake_minikube.env["PYTHONPATH"] = f"{standin}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    return fake_minikube


def kubeconfig_names(mk: FakeMinikube) -> dict[str, list[str]]:
    data = yaml.safe_load(mk.kubeconfig.read_text()) if mk.kubeconfig.exists() else {}
    data = data or {}
    return {
        key: [i["name"] for i in data.get(key) or []] for key in ("clusters", "contexts", "users")
    }


def status_json(name: str, state: str, kube: str) -> str:
    kubelet = "Running" if state == "Running" else "Stopped"
    return (
        f'{{"Name":"{name}","Host":"{state}","Kubelet":"{kubelet}","APIServer":"{kubelet}",'
        f'"Kubeconfig":"{kube}","Worker":false}}'
    )


# ---- CLI surface (no server) ----


@pytest.mark.parametrize(
    ("args", "stdout"),
    [
        (
            ["version"],
            "minikube version: v1.37.0\ncommit: 65318f4cfff9c12cc87ec9eb8f4cdd57b25047f3\n",
        ),
        (["version", "--short"], "v1.37.0\n"),
        (
            ["version", "-o", "json"],
            '{"commit":"65318f4cfff9c12cc87ec9eb8f4cdd57b25047f3","minikubeVersion":"v1.37.0"}\n',
        ),
    ],
)
def test_version(mk: FakeMinikube, args: list[str], stdout: str) -> None:
    result = mk.run(*args)
    assert (result.returncode, result.stdout) == (0, stdout)


@pytest.mark.parametrize(
    ("args", "code", "stderr_start"),
    [
        (["frobnicate"], 14, 'Error: unknown command "frobnicate" for "minikube"'),
        (["start", "--bogus"], 14, "Error: unknown flag: --bogus"),
        (["version", "-o", "xml"], 10, ""),
    ],
)
def test_usage_errors(mk: FakeMinikube, args: list[str], code: int, stderr_start: str) -> None:
    result = mk.run(*args)
    assert result.returncode == code
    assert result.stderr.lstrip("\n").startswith(stderr_start or "X Exiting due to MK_OUTPUT_USAGE")


@pytest.mark.parametrize(
    ("profile", "hint"), [("minikube", '"minikube start"'), ("lab1", '"minikube start -p lab1"')]
)
def test_status_of_missing_profile(mk: FakeMinikube, profile: str, hint: str) -> None:
    result = mk.run("status", "-p", profile)
    assert result.returncode == 85
    assert result.stdout == (
        f'* Profile "{profile}" not found. Run "minikube profile list" to view all profiles.\n'
        f"* To start a cluster, run: {hint}\n"
    )


def test_profile_list_when_empty(mk: FakeMinikube) -> None:
    as_json = mk.run("profile", "list", "-o", "json")
    assert (as_json.returncode, as_json.stdout) == (0, '{"invalid":[],"valid":[]}')
    table = mk.run("profile", "list")
    assert table.returncode == 14
    assert "X Exiting due to MK_USAGE_NO_PROFILE: No minikube profile was found." in table.stderr


@pytest.mark.parametrize(
    ("flags", "code", "reason", "message"),
    [
        (["--memory=1000mb"], 23, "RSRC_INSUFFICIENT_REQ_MEMORY",
         "Requested memory allocation 1000MiB is less than the usable minimum of 1800MB"),
        (["--memory", "1g"], 23, "RSRC_INSUFFICIENT_REQ_MEMORY",
         "Requested memory allocation 1024MiB is less than the usable minimum of 1800MB"),
        (["--cpus=1"], 29, "RSRC_INSUFFICIENT_CORES",
         "Requested cpu count 1 is less than the minimum allowed of 2"),
        (["--driver=fail"], 56, "DRV_UNSUPPORTED_OS",
         "The driver 'fail' is not supported on linux/amd64"),
        (["--kubernetes-version=v1.20.0"], 106, "K8S_OLD_UNSUPPORTED",
         "Kubernetes v1.20.0 is not supported by this release of minikube"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("output", ["text", "json"])
def test_start_refusals(
    mk: FakeMinikube, flags: list[str], code: int, reason: str, message: str, output: str
) -> None:
    result = mk.run("start", "-p", "tiny", "--output", output, *flags)
    assert result.returncode == code
    if output == "json":
        last = json.loads(result.stdout.splitlines()[-1])
        assert last["type"] == "io.k8s.sigs.minikube.error"
        assert last["data"]["exitcode"] == str(code)
        assert (last["data"]["name"], last["data"]["message"]) == (reason, message)
    else:
        assert f"X Exiting due to {reason}: {message}\n" in result.stderr
    assert mk.server_pids() == []
    assert not (mk.minikube_home / "profiles" / "tiny" / "config.json").exists()


# ---- lifecycle (a server per profile) ----


def test_start_text_writes_kubeconfig_and_status(mk: FakeMinikube) -> None:
    result = mk.run("start", "-p", "lab1", "--memory=2200", "--cpus=2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("* [lab1] minikube v1.37.0 on ")
    assert '* Starting "lab1" primary control-plane node in "lab1" cluster' in lines
    assert "* Creating docker container (CPUs=2, Memory=2200MB) ..." in lines
    assert lines[-1] == (
        '* Done! kubectl is now configured to use "lab1" cluster and "default" namespace by default'
    )
    config = yaml.safe_load(mk.kubeconfig.read_text())
    assert config["current-context"] == "lab1"
    cluster = config["clusters"][0]
    assert cluster["cluster"]["server"].startswith("https://127.0.0.1:")
    assert cluster["cluster"]["extensions"][0]["name"] == "cluster_info"
    assert config["contexts"][0]["context"]["namespace"] == "default"
    user = config["users"][0]["user"]
    assert user["client-certificate"] == str(mk.minikube_home / "profiles/lab1/client.crt")
    status = mk.run("status", "-p", "lab1", "-o", "json")
    assert (status.returncode, status.stdout) == (0, status_json("lab1", "Running", "Configured"))
    text = mk.run("status", "-p", "lab1")
    assert text.stdout == (
        "lab1\ntype: Control Plane\nhost: Running\nkubelet: Running\n"
        "apiserver: Running\nkubeconfig: Configured\n\n"
    )


def test_start_json_events(mk: FakeMinikube) -> None:
    result = mk.run("start", "-p", "lab1", "--output", "json", "--keep-context")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(list(e) == ["specversion", "id", "source", "type", "datacontenttype", "data"]
               for e in events)  # fmt: skip
    assert all(isinstance(v, str) for e in events for v in e["data"].values())
    steps = [e["data"] for e in events if e["type"] == "io.k8s.sigs.minikube.step"]
    assert {s["totalsteps"] for s in steps} == {"19"}
    indices = [int(s["currentstep"]) for s in steps]
    assert indices == sorted(set(indices))
    names = {s["name"]: s["currentstep"] for s in steps}
    assert names["Initial Minikube Setup"] == "0"
    assert names["Starting Node"] == "3"
    assert names["Creating Container"] == "8"
    assert names["Done"] == "19"
    assert steps[-1]["message"] == "To connect to this cluster, use:  --context=lab1\n"
    assert yaml.safe_load(mk.kubeconfig.read_text())["current-context"] == ""
    recorded = (mk.minikube_home / "profiles/lab1/events.json").read_text().splitlines()
    assert len(recorded) == len(events)


def test_second_start_reuses_the_server_and_changes_nothing(mk: FakeMinikube) -> None:
    # "quick" is the bench's business (bench/bench_fake.py); here: the same server process, so
    # nothing is started again, and no file changes
    assert mk.run("start", "-p", "lab1").returncode == 0
    pids = mk.server_pids()
    config = (mk.minikube_home / "profiles/lab1/config.json").read_text()
    server = yaml.safe_load(mk.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    again = mk.run("start", "-p", "lab1", "--memory=4000")
    assert again.returncode == 0
    assert '* Updating the running docker "lab1" container ...' in again.stdout
    assert mk.server_pids() == pids
    assert (mk.minikube_home / "profiles/lab1/config.json").read_text() == config
    assert yaml.safe_load(mk.kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == server


def test_stop_then_status_ip_and_restart(mk: FakeMinikube) -> None:
    assert mk.run("start", "-p", "lab1").returncode == 0
    first = mk.server_pids()
    stop = mk.run("stop", "-p", "lab1")
    assert stop.returncode == 0
    assert stop.stdout.splitlines() == [
        '* Stopping node "lab1"  ...', '* Powering off "lab1" via SSH ...', "* 1 node stopped.",
    ]  # fmt: skip
    assert kubeconfig_names(mk) == {"clusters": [], "contexts": [], "users": []}
    assert mk.server_pids() == []
    status = mk.run("status", "-p", "lab1", "-o", "json")
    assert (status.returncode, status.stdout) == (7, status_json("lab1", "Stopped", "Stopped"))
    ip = mk.run("ip", "-p", "lab1")
    assert ip.returncode == 83
    assert "The control-plane node lab1 host is not running: state=Stopped" in ip.stdout
    restart = mk.run("start", "-p", "lab1")
    assert restart.returncode == 0
    assert '* Restarting existing docker container for "lab1" ...' in restart.stdout
    assert mk.server_pids() not in ([], first)


def test_delete_removes_state_and_only_its_kubeconfig_entries(mk: FakeMinikube) -> None:
    mk.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    other = {
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [{"name": "other", "cluster": {"server": "https://10.0.0.1:6443"}}],
        "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other"}}],
        "users": [{"name": "other", "user": {"token": "abc"}}],
    }  # fmt: skip
    mk.kubeconfig.write_text(yaml.safe_dump(other))
    assert mk.run("start", "-p", "lab1", "--keep-context").returncode == 0
    assert kubeconfig_names(mk)["contexts"] == ["other", "lab1"]
    result = mk.run("delete", "-p", "lab1")
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1] == '* Removed all traces of the "lab1" cluster.'
    assert not (mk.minikube_home / "profiles" / "lab1").exists()
    assert mk.server_pids() == []
    after = yaml.safe_load(mk.kubeconfig.read_text())
    assert after["current-context"] == "other"
    assert after["users"] == other["users"]
    assert kubeconfig_names(mk) == {
        "clusters": ["other"],
        "contexts": ["other"],
        "users": ["other"],
    }
    missing = mk.run("delete", "-p", "lab1")
    assert missing.returncode == 0
    assert '"lab1" profile does not exist, trying anyways.' in missing.stderr


def test_two_profiles_side_by_side(mk: FakeMinikube) -> None:
    for name in ("p1", "p2"):
        assert mk.run("start", "-p", name).returncode == 0
    assert len(mk.server_pids()) == 2
    servers = {c["name"]: c["cluster"]["server"]
               for c in yaml.safe_load(mk.kubeconfig.read_text())["clusters"]}  # fmt: skip
    assert servers["p1"] != servers["p2"]
    assert [mk.run("ip", "-p", n).stdout for n in ("p1", "p2")] == [
        "192.168.49.2\n", "192.168.49.3\n",
    ]  # fmt: skip
    nodes = mk.kubectl("--context", "p1", "get", "nodes", "-o", "name")
    assert (nodes.returncode, nodes.stdout) == (0, "node/p1\n")
    listed = json.loads(mk.run("profile", "list", "-o", "json").stdout)
    assert [(p["Name"], p["Status"], p["ActiveKubeContext"]) for p in listed["valid"]] == [
        ("p1", "OK", False), ("p2", "OK", True),
    ]  # fmt: skip
    config = listed["valid"][0]["Config"]
    assert config["Driver"] == "docker"
    assert config["KubernetesConfig"]["KubernetesVersion"] == "v1.34.0"
    assert config["Nodes"][0]["Name"] == ""
    assert config["Nodes"][0]["IP"] == "192.168.49.2"


def test_profiles_share_one_ca(mk: FakeMinikube) -> None:
    """Like minikube: -p p1 kubectl works with p2 current (p2's user, p1's cluster, one CA)."""
    for name in ("p1", "p2"):
        assert mk.run("start", "-p", name).returncode == 0
    assert yaml.safe_load(mk.kubeconfig.read_text())["current-context"] == "p2"
    result = mk.run("-p", "p1", "kubectl", "--", "get", "nodes", "-o", "name")
    assert (result.returncode, result.stdout) == (0, "node/p1\n"), result.stderr
    home = mk.minikube_home
    shared = (home / "ca.crt").read_bytes()
    assert (home / "ca.key").exists()
    for name in ("p1", "p2"):
        assert (home / "profiles" / name / "ca.crt").read_bytes() == shared


@pytest.mark.parametrize(
    ("args", "code"),
    [(["get", "nodes", "-o", "name"], 0), (["get", "no-such-kind"], 1)],
)
def test_kubectl_passthrough_exit_code(mk: FakeMinikube, args: list[str], code: int) -> None:
    assert mk.run("start", "-p", "lab1").returncode == 0
    result = mk.run("-p", "lab1", "kubectl", "--", *args)
    assert result.returncode == code
    if code == 0:
        assert result.stdout == "node/lab1\n"


def test_addons_list_json_and_enable(mk: FakeMinikube) -> None:
    missing = json.loads(mk.run("addons", "list", "-o", "json").stdout)
    assert missing["dashboard"] == {}
    assert mk.run("start", "-p", "lab1").returncode == 0
    enable = mk.run("-p", "lab1", "addons", "enable", "metrics-server")
    assert enable.returncode == 0
    assert "* The 'metrics-server' addon is enabled" in enable.stdout
    body = mk.run("-p", "lab1", "addons", "list", "-o", "json").stdout
    addons = json.loads(body)
    assert list(addons) == sorted(addons)
    assert addons["metrics-server"] == {"Profile": "lab1", "Status": "enabled"}
    assert addons["storage-provisioner"]["Status"] == "enabled"
    assert addons["dashboard"]["Status"] == "disabled"
    bad = mk.run("-p", "lab1", "addons", "enable", "nope")
    assert bad.returncode == 10
    assert "MK_ADDON_ENABLE" in bad.stderr


def test_logs_sections(mk: FakeMinikube, tmp_path: Path) -> None:
    assert mk.run("start", "-p", "lab1").returncode == 0
    target = tmp_path / "logs.txt"
    result = mk.run("-p", "lab1", "logs", "--file", str(target))
    assert result.returncode == 0
    text = target.read_text()
    assert "==> Audit <==" in text
    assert "==> Last Start <==" in text
    assert re.search(r"│ start\s+│", text)


@needs_real_server
def test_service_url_reaches_nodeport(mk: FakeMinikube) -> None:
    assert mk.run("start", "-p", "lab1").returncode == 0
    image = "gcr.io/google-samples/kubernetes-bootcamp:v1"
    assert mk.kubectl("create", "deployment", "web", f"--image={image}").returncode == 0
    assert mk.kubectl("rollout", "status", "deployment/web", "--timeout=30s").returncode == 0
    created = mk.kubectl("expose", "deployment/web", "--type=NodePort", "--port=8080")
    assert created.returncode == 0, created.stderr
    port = mk.kubectl("get", "svc", "web", "-o", "jsonpath={.spec.ports[0].nodePort}").stdout
    result = mk.run("-p", "lab1", "service", "web", "--url")
    assert (result.returncode, result.stdout) == (0, f"http://127.0.0.1:{port}\n")
    reach_nodeport(result.stdout.strip())


def reach_nodeport(url: str) -> None:
    """The printed URL answers with the bootcamp app (the fake forwards 127.0.0.1:nodePort)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read()
    assert re.fullmatch(rb"Hello Kubernetes bootcamp! \| Running on: web-\w+-\w{5} \| v=1\n", body)


def test_service_not_found(mk: FakeMinikube) -> None:
    assert mk.run("start", "-p", "lab1").returncode == 0
    result = mk.run("-p", "lab1", "service", "nope", "--url")
    assert result.returncode == 115
    assert (
        "X Exiting due to SVC_NOT_FOUND: Service 'nope' was not found in 'default' namespace."
        in (result.stderr)
    )
