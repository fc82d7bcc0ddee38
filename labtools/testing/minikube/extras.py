"""service, logs, kubectl and addons: the commands that reach into the running cluster."""

from __future__ import annotations

import getpass
import http.client
import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.parse
from typing import Any

from labtools.testing.minikube import common, state
from labtools.testing.minikube.common import Invocation
from labtools.testing.minikube.console import (
    MK_ADDON_ENABLE,
    MK_USAGE,
    SVC_NOT_FOUND,
    SVC_UNREACHABLE,
    Reason,
)
from labtools.testing.minikube.version import MINIKUBE_VERSION

MK_ADDON_DISABLE = Reason("MK_ADDON_DISABLE", 10)
ADDONS = (
    "ambassador",
    "amd-gpu-device-plugin",
    "auto-pause",
    "cloud-spanner",
    "csi-hostpath-driver",
    "dashboard",
    "default-storageclass",
    "efk",
    "freshpod",
    "gcp-auth",
    "gvisor",
    "headlamp",
    "inaccel",
    "ingress",
    "ingress-dns",
    "inspektor-gadget",
    "istio",
    "istio-provisioner",
    "kong",
    "kubeflow",
    "kubetail",
    "kubevirt",
    "logviewer",
    "metallb",
    "metrics-server",
    "nvidia-device-plugin",
    "nvidia-driver-installer",
    "nvidia-gpu-device-plugin",
    "olm",
    "pod-security-policy",
    "portainer",
    "registry",
    "registry-aliases",
    "registry-creds",
    "storage-provisioner",
    "storage-provisioner-gluster",
    "storage-provisioner-rancher",
    "volcano",
    "volumesnapshots",
    "yakd",
)
KUBERNETES_MAINTAINED = {
    "auto-pause",
    "csi-hostpath-driver",
    "dashboard",
    "default-storageclass",
    "gcp-auth",
    "gvisor",
    "ingress",
    "ingress-dns",
    "metrics-server",
    "nvidia-device-plugin",
    "nvidia-driver-installer",
    "registry",
    "storage-provisioner",
    "volumesnapshots",
}
SERVICE_WAIT = 5.0


def api_get(name: str, path: str) -> tuple[int, dict[str, Any]]:
    """GET ``path`` on the profile's fake API server with the profile's client certificate."""
    url = urllib.parse.urlsplit(state.server_url(name) or "")
    profile = state.profile_dir(name)
    context = ssl.create_default_context(cafile=str(profile / "ca.crt"))
    context.load_cert_chain(str(profile / "client.crt"), str(profile / "client.key"))
    conn = http.client.HTTPSConnection(
        url.hostname or "127.0.0.1", url.port, context=context, timeout=10
    )
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(body or b"{}")
    except ValueError:
        return response.status, {}


def service_urls(svc: dict[str, Any], fmt: str, scheme: str) -> list[str]:
    """One URL per NodePort port, reachable from this machine (see docs/fake-cluster.md)."""
    urls = []
    for port in svc.get("spec", {}).get("ports", []):
        if port.get("nodePort"):
            url = fmt.replace("{{.IP}}", "127.0.0.1").replace("{{.Port}}", str(port["nodePort"]))
            urls.append(url.replace("http://", f"{scheme}://", 1))
    return urls


def _has_ready_endpoints(name: str, namespace: str, service: str) -> bool:
    """True when the Endpoints have an address (or the server keeps no Endpoints at all)."""
    code, body = api_get(name, f"/api/v1/namespaces/{namespace}/endpoints/{service}")
    if code == 404:
        return True
    return any(subset.get("addresses") for subset in body.get("subsets") or [])


def service(inv: Invocation) -> int:
    """`minikube service NAME --url [-n NS]`."""
    args = inv.parsed.args
    if not args or args[0] == "list":
        raise inv.console.fail(MK_USAGE, "You must specify service name(s) or --all")
    common.require_running(inv)
    name, namespace = args[0], inv.flag("namespace") or "default"
    code, svc = api_get(inv.profile, f"/api/v1/namespaces/{namespace}/services/{name}")
    if code == 404:
        raise inv.console.fail(
            SVC_NOT_FOUND,
            f"Service '{name}' was not found in '{namespace}' namespace.\n"
            f"You may select another namespace by using 'minikube service {name} -n <namespace>'."
            " Or list out all the services using 'minikube service list'",
        )
    deadline = time.monotonic() + SERVICE_WAIT
    while not _has_ready_endpoints(inv.profile, namespace, name):
        if time.monotonic() > deadline:
            raise inv.console.fail(
                SVC_UNREACHABLE, f"service not available: no running pod for service {name} found"
            )
        time.sleep(0.2)
    scheme = "https" if inv.flag("https") else "http"
    urls = service_urls(svc, inv.flag("format") or "http://{{.IP}}:{{.Port}}", scheme)
    if not urls:
        inv.console.warning(
            f'Services [{namespace}/{name}] have type "{svc["spec"].get("type")}" not meant to be '
            "exposed, however for local development minikube allows you to access this !"
        )
        raise inv.console.fail(SVC_UNREACHABLE, f"service {name} has no node port")
    if inv.flag("url"):
        for url in urls:
            inv.console.line(url)
        return 0
    rows = [
        [namespace, name, str(p.get("port", "")), url]
        for p, url in zip(svc["spec"]["ports"], urls, strict=False)
    ]
    inv.console.line(common.box_table(["NAMESPACE", "NAME", "TARGET PORT", "URL"], rows))
    inv.console.styled("celebrate", f"Opening service {namespace}/{name} in default browser...")
    return 0


# commands minikube never audits (`shouldLog` in minikube's pkg/minikube/audit/audit.go)
NOT_AUDITED = ("", "help", "status", "version", "logs", "generate-docs", "profile")


def audit(inv: Invocation, start: str) -> None:
    """Append this command to logs/audit.json (one CloudEvent per line, like minikube)."""
    if inv.command in NOT_AUDITED or inv.flag("skip-audit"):
        return
    if inv.command == "delete" and inv.flag("purge"):  # it has just removed logs/ itself
        return
    logs = state.minikube_home() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    data = {
        "args": " ".join(inv.parsed.args + [f"--{k}" for k in sorted(inv.parsed.given)]),
        "command": inv.command,
        "endTime": time.strftime("%d %b %y %H:%M %Z"),
        "id": os.urandom(16).hex(),
        "profile": inv.profile,
        "startTime": start,
        "user": inv.flag("user") or getpass.getuser(),
        "version": MINIKUBE_VERSION,
    }
    from labtools.testing.minikube.console import cloud_event

    with (logs / "audit.json").open("a", encoding="utf-8") as fh:
        fh.write(cloud_event("audit", data) + "\n")


def _audit_table() -> str:
    rows = []
    path = state.minikube_home() / "logs" / "audit.json"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for line in lines[-60:]:
        d = json.loads(line)["data"]
        rows.append(
            [
                d["command"],
                d["args"],
                d["profile"],
                d["user"],
                d["version"],
                d["startTime"],
                d["endTime"],
            ]
        )
    headers = ["COMMAND", "ARGS", "PROFILE", "USER", "VERSION", "START TIME", "END TIME"]
    return common.box_table(headers, rows) if rows else ""


def logs(inv: Invocation) -> int:
    """`minikube logs [--file F]`: Audit, Last Start and the fake server's own log."""
    common.require_config(inv)
    last = state.minikube_home() / "logs" / "lastStart.txt"
    parts = [
        "",
        "==> Audit <==",
        _audit_table(),
        "",
        "==> Last Start <==",
        last.read_text(encoding="utf-8") if last.exists() else "",
    ]
    server_log = state.files(inv.profile).log
    if state.running_pid(inv.profile) and server_log.exists():
        tail = server_log.read_text(errors="replace").splitlines()[-int(inv.flag("length") or 60) :]
        parts += ["", "==> kube-apiserver (labtools fake) <==", "\n".join(tail)]
    text = "\n".join(parts) + "\n"
    target = inv.flag("file")
    if target:
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(text)
        inv.console.styled(
            "check", f"Logs file created ({target}), remember to include it when reporting issues!"
        )
        return 0
    inv.console.out.write(text)
    return 0


def with_cluster_flag(args: list[str], profile: str) -> list[str]:
    """minikube kubectl: ``--cluster=<profile>`` inserted before the first flag."""
    for i, arg in enumerate(args):
        if arg.startswith("-"):
            return [*args[:i], f"--cluster={profile}", *args[i:]]
    return [*args, f"--cluster={profile}"]


def kubectl(inv: Invocation) -> int:
    """`minikube kubectl -- ARGS`: the real kubectl, exit code propagated."""
    args = inv.parsed.args[1:] + inv.parsed.rest if inv.parsed.args else inv.parsed.rest
    path = shutil.which("kubectl")
    if path is None:
        inv.console.err.write("Error caching kubectl: kubectl not found on PATH\n")
        return 1
    if args and args[0] not in ("--help", "-h"):
        args = with_cluster_flag(args, inv.profile)
    inv.console.out.flush()
    return subprocess.run([path, *args], check=False).returncode


def addons(inv: Invocation) -> int:
    """`minikube addons list [-o json]`, `addons enable NAME`, `addons disable NAME`."""
    args = inv.parsed.args
    verb = args[0] if args else ""
    if verb == "list":
        return _addons_list(inv)
    if verb in ("enable", "disable") and len(args) == 2:
        return _addons_toggle(inv, args[1], verb == "enable")
    raise inv.console.fail(MK_USAGE, "usage: minikube addons [list|enable ADDON|disable ADDON]")


def _addons_list(inv: Invocation) -> int:
    config = state.load_config(inv.profile)
    enabled = dict((config or {}).get("Addons") or {})
    if inv.flag("output") == "json":
        body: dict[str, Any] = {
            name: (
                {"Profile": inv.profile, "Status": "enabled" if enabled.get(name) else "disabled"}
                if config
                else {}
            )
            for name in ADDONS
        }
        inv.console.out.write(json.dumps(body, separators=(",", ":")))
        inv.console.out.flush()
        return 0
    if config is None:
        raise common.not_found(inv)
    rows = [
        [
            name,
            inv.profile,
            "enabled ✅" if enabled.get(name) else "disabled",
            "Kubernetes" if name in KUBERNETES_MAINTAINED else "3rd party",
        ]
        for name in ADDONS
    ]
    inv.console.line(common.box_table(["ADDON NAME", "PROFILE", "STATUS", "MAINTAINER"], rows))
    return 0


def _addons_toggle(inv: Invocation, name: str, enable: bool) -> int:
    config = common.require_config(inv)
    if name not in ADDONS:
        reason, verb = (MK_ADDON_ENABLE, "enable") if enable else (MK_ADDON_DISABLE, "disable")
        raise inv.console.fail(reason, f"{verb} failed: {name} is not a valid addon")
    if enable and name in KUBERNETES_MAINTAINED:
        inv.console.styled(
            "tip",
            f"{name} is an addon maintained by Kubernetes. For any concerns contact minikube on "
            "GitHub.\nYou can view the list of minikube maintainers at: "
            "https://github.com/kubernetes/minikube/blob/master/OWNERS",
        )
    elif enable:
        inv.console.warning(
            f"{name} is a 3rd party addon and is not maintained or verified by minikube "
            "maintainers, enable at your own risk."
        )
    config.setdefault("Addons", {})[name] = enable
    state.save_config(inv.profile, config)
    if enable:
        inv.console.styled("star", f"The '{name}' addon is enabled")
    else:
        inv.console.styled("moon", f"The '{name}' addon is disabled")
    return 0
