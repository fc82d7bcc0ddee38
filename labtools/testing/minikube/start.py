"""`minikube start`: validate flags, start or reuse the profile's fake API server, kubeconfig."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from typing import Any

from labtools.testing.minikube import clusterconfig as cc
from labtools.testing.minikube import common, images, kubeconfig, state
from labtools.testing.minikube.common import Invocation
from labtools.testing.minikube.console import GUEST_START, MK_CONFIG, START_STEPS, Reason
from labtools.testing.minikube.flags import Flag
from labtools.testing.minikube.version import KIC_BASE_VERSION, MINIKUBE_VERSION

FLAGS = (
    Flag("driver", "d"),
    Flag("vm-driver"),
    Flag("cpus"),
    Flag("memory", "m"),
    Flag("disk-size"),
    Flag("kubernetes-version"),
    Flag("container-runtime", "c"),
    Flag("nodes", "n", "str", "1"),
    Flag("wait", None, "list"),
    Flag("wait-timeout"),
    Flag("addons", None, "list"),
    Flag("keep-context", None, "bool", False),
    Flag("embed-certs", None, "bool", False),
    Flag("namespace", None, "str", "default"),
    Flag("force", None, "bool", False),
    Flag("dry-run", None, "bool", False),
    Flag("delete-on-failure", None, "bool", False),
    Flag("output", "o", "str", "text"),
    Flag("apiserver-port", None, "str", "8443"),
    Flag("image-mirror-country"),
    Flag("install-addons", None, "bool", True),
    Flag("extra-config", None, "list"),
    Flag("cni"),
    Flag("ports", None, "list"),
    Flag("base-image"),
    Flag("static-ip"),
    Flag("listen-address"),
    Flag("network"),
    Flag("feature-gates"),
    Flag("insecure-registry", None, "list"),
    Flag("registry-mirror", None, "list"),
    Flag("image-repository"),
    Flag("download-only", None, "bool", False),
    Flag("cache-images", None, "bool", True),
    Flag("mount", None, "bool", False),
    Flag("mount-string"),
    Flag("ha", None, "bool", False),
    Flag("preload", None, "bool", True),
)

GUEST_DRIVER_MISMATCH = Reason("GUEST_DRIVER_MISMATCH", 81)
RUNTIME_LABELS = {
    "docker": "Docker 28.4.0",
    "containerd": "containerd 1.7.27",
    "crio": "CRI-O 1.24.6",
}
KIC_DRIVERS = {"docker", "podman"}


def options(inv: Invocation, existing: dict[str, Any] | None) -> cc.StartOptions:
    """Validated options; an existing profile keeps its settings (as real minikube does)."""
    given = inv.parsed.given
    opts = cc.StartOptions(
        driver=cc.parse_driver(inv.flag("driver") or inv.flag("vm-driver")),
        driver_given="driver" in given or "vm-driver" in given,
        cpus=cc.parse_cpus(inv.flag("cpus")),
        memory=cc.parse_memory(inv.flag("memory")),
        disk_size=_disk(inv.flag("disk-size")),
        kubernetes_version=cc.parse_kubernetes_version(inv.flag("kubernetes-version")),
        container_runtime=cc.parse_runtime(inv.flag("container-runtime")),
        addons=[a for a in inv.flag("addons") if a],
        namespace=inv.flag("namespace") or "default",
        keep_context=bool(inv.flag("keep-context")),
        wait=cc.parse_wait([w for w in inv.flag("wait") if w]),
        apiserver_port=int(inv.flag("apiserver-port") or 8443),
    )
    if existing:
        _keep_existing(opts, existing, given)
    return opts


def _disk(value: str | None) -> int:
    if not value:
        return 20000
    try:
        return cc.size_mb(value)
    except ValueError as exc:
        raise cc.Refused(MK_CONFIG, f"Unable to parse disk size '{value}'") from exc


def _keep_existing(opts: cc.StartOptions, existing: dict[str, Any], given: set[str]) -> None:
    """Settings of an existing profile win over defaults; a different --driver is refused."""
    old_driver = str(existing.get("Driver"))
    if opts.driver_given and opts.driver != old_driver:
        raise cc.Refused(
            GUEST_DRIVER_MISMATCH,
            f'The existing "{existing["Name"]}" cluster was created using the "{old_driver}" '
            f'driver, which is incompatible with requested "{opts.driver}" driver.',
        )
    k8s = existing.get("KubernetesConfig")
    assert isinstance(k8s, dict)
    opts.driver = old_driver
    opts.cpus = int(str(existing.get("CPUs")))
    opts.memory = int(str(existing.get("Memory")))
    opts.container_runtime = str(k8s["ContainerRuntime"])
    if "kubernetes-version" not in given:
        opts.kubernetes_version = str(k8s["KubernetesVersion"])


def run(inv: Invocation) -> int:
    """`minikube start`."""
    con = inv.console
    con.steps = START_STEPS
    name = inv.profile
    existing = state.load_config(name)
    prefix = "" if name == common.DEFAULT_PROFILE else f"[{name}] "
    con.step(
        "Initial Minikube Setup",
        "happy",
        f"{prefix}minikube {MINIKUBE_VERSION} on {common.platform_name()}",
    )
    _show_environ(inv)
    try:
        opts = options(inv, existing)
    except cc.Refused as refused:
        if refused.reason.id != "DRV_UNSUPPORTED_OS":
            _driver_line(inv, existing)
        raise con.fail(refused.reason, refused.message) from None
    _driver_line(inv, existing, opts)
    if 0 < opts.memory < cc.RECOMMENDED_MEMORY_MB:
        con.warning(
            f"Requested memory allocation ({opts.memory}MB) is less than the recommended "
            f"minimum {cc.RECOMMENDED_MEMORY_MB}MB. Deployments may fail."
        )
    try:
        if inv.flag("download-only"):
            _provision_lines(inv, opts)
            return images.download_only(inv, opts, existing)
        return _start(inv, opts, existing)
    finally:
        con.save_events(state.profile_dir(name) / "events.json")


def _show_environ(inv: Invocation) -> None:
    """displayEnviron: MINIKUBE_* and KUBECONFIG, as option lines."""
    for key, value in os.environ.items():
        if key.startswith("MINIKUBE_") or key == "KUBECONFIG":
            inv.console.styled("sub", f"{key}={value}")


def _driver_line(
    inv: Invocation, existing: dict[str, Any] | None, opts: cc.StartOptions | None = None
) -> None:
    driver = opts.driver if opts else str((existing or {}).get("Driver", "docker"))
    if existing:
        text = f"Using the {driver} driver based on existing profile"
    elif opts is None or opts.driver_given:
        text = f"Using the {driver} driver based on user configuration"
    else:
        text = f"Automatically selected the {driver} driver"
    inv.console.step("Selecting Driver", "sparkle", text)
    if driver == "docker":
        inv.console.styled("pin", "Using Docker driver with root privileges")


def _provision_lines(inv: Invocation, opts: cc.StartOptions) -> None:
    """node.Provision's first lines (a --download-only start prints them too)."""
    name = inv.profile
    inv.console.step(
        "Starting Node",
        "thumbs",
        f'Starting "{name}" primary control-plane node in "{name}" cluster',
    )
    if opts.driver in KIC_DRIVERS:
        inv.console.step("Pulling Base Image", "pull", f"Pulling base image {KIC_BASE_VERSION} ...")


def _start(inv: Invocation, opts: cc.StartOptions, existing: dict[str, Any] | None) -> int:
    con, name = inv.console, inv.profile
    _provision_lines(inv, opts)
    running = state.running_pid(name) is not None
    # a profile saved by `start --download-only` has a config but no machine yet: created now
    machine_dir = state.minikube_home() / "machines" / name
    created = existing is None or not machine_dir.is_dir()
    if created or existing is None:
        _create_line(inv, opts)
        config = cc.build(name, opts, state.node_ip(name))
    else:
        config = dict(existing)
        config["Addons"] = {
            **dict(existing.get("Addons") or {}),
            **dict.fromkeys(opts.addons, True),
        }
        machine = "container" if opts.driver in KIC_DRIVERS else "VM"
        verb = "Updating the running" if running else "Restarting existing"
        text = (
            f'{verb} {opts.driver} "{name}" {machine} ...'
            if running
            else f'{verb} {opts.driver} {machine} for "{name}" ...'
        )
        con.step("Creating Container", "running", text)
    state.save_config(name, config)
    machine_dir.mkdir(parents=True, exist_ok=True)
    if not running:
        _boot(inv, opts)
    # CacheAndLoadImagesInConfig: what `minikube cache add` put in the config is loaded
    cached = [i for i in images.config_images() if images.image_path(i).exists()]
    images.load_into([name], cached)
    runtime = RUNTIME_LABELS.get(opts.container_runtime, opts.container_runtime)
    con.step(
        "Preparing Kubernetes",
        "docker" if opts.container_runtime == "docker" else "box",
        f"Preparing Kubernetes {opts.kubernetes_version} on {runtime} ...",
    )
    if created:
        con.step("Generating certificates", "sub", "Generating certificates and keys ...")
        con.step("Booting control plane", "sub", "Booting up control plane ...")
        con.step("Configuring RBAC rules", "sub", "Configuring RBAC rules ...")
        cni = "bridge CNI" if opts.container_runtime == "docker" else "CNI"
        con.step(
            "Configuring CNI", "link", f"Configuring {cni} (Container Networking Interface) ..."
        )
    _write_kubeconfig(inv, opts)
    _finish(inv, opts, config)
    _write_last_start(inv)
    return 0


def _create_line(inv: Invocation, opts: cc.StartOptions) -> None:
    con, res = inv.console, f"CPUs={opts.cpus}, Memory={opts.memory}MB"
    if opts.driver in KIC_DRIVERS:
        con.step("Creating Container", "fire", f"Creating {opts.driver} container ({res}) ...")
    elif opts.driver == "none":
        con.step(
            "Running on Localhost",
            "fire",
            f"Running on localhost ({res}, Disk={opts.disk_size}MB) ...",
        )
    elif opts.driver == "ssh":
        con.step(
            "Running Remotely", "fire", f"Running remotely ({res}, Disk={opts.disk_size}MB) ..."
        )
    else:
        con.step(
            "Creating VM",
            "fire",
            f"Creating {opts.driver} VM ({res}, Disk={opts.disk_size}MB) ...",
        )


def _boot(inv: Invocation, opts: cc.StartOptions) -> None:
    """Start the profile's fake API server; GUEST_START (80) when it does not come up."""
    try:
        state.start_server(inv.profile, opts.kubernetes_version)
    except state.ServerStartError as exc:
        raise inv.console.fail(
            GUEST_START, f"failed to start node: fake apiserver did not start:\n{exc}"
        ) from None


def kubeconfig_entry(name: str, namespace: str) -> kubeconfig.Entry:
    """The kubeconfig entry for the profile's running server (cert paths under MINIKUBE_HOME)."""
    profile = state.profile_dir(name)
    return kubeconfig.Entry(
        name=name,
        server=state.server_url(name) or "",
        ca=str(state.ca_files()[0]),
        client_cert=str(profile / "client.crt"),
        client_key=str(profile / "client.key"),
        namespace=namespace,
    )


def _write_kubeconfig(inv: Invocation, opts: cc.StartOptions) -> None:
    entry = kubeconfig_entry(inv.profile, opts.namespace)
    if not entry.server:
        raise inv.console.fail(GUEST_START, "failed to start node: no server URL")
    kubeconfig.upsert(kubeconfig.kubeconfig_path(), entry, make_current=not opts.keep_context)


def _finish(inv: Invocation, opts: cc.StartOptions, config: dict[str, Any]) -> None:
    con, name = inv.console, inv.profile
    con.step("Verifying Kubernetes", "search", "Verifying Kubernetes components...")
    con.styled("sub", "Using image gcr.io/k8s-minikube/storage-provisioner:v5")
    addons = [a for a, on in dict(config.get("Addons") or {}).items() if on]
    con.step("Enabling Addons", "star", f"Enabled addons: {', '.join(addons)}")
    _skew_warning(inv, opts.kubernetes_version)
    if opts.keep_context:
        con.step("Done", "kubectl", f"To connect to this cluster, use:  --context={name}")
    else:
        con.step(
            "Done",
            "surf",
            f'Done! kubectl is now configured to use "{name}" cluster and '
            f'"{opts.namespace}" namespace by default',
        )


def _skew_warning(inv: Invocation, cluster_version: str) -> None:
    """The kubectl version-skew warning minikube prints when client and cluster differ by > 1."""
    path = shutil.which("kubectl")
    if path is None:
        inv.console.styled(
            "tip", "kubectl not found. If you need it, try: 'minikube kubectl -- get pods -A'"
        )
        return
    try:
        out = subprocess.run(
            [path, "version", "--client", "-o", "json"],
            capture_output=True,
            timeout=10,
            check=False,
        ).stdout
        client = json.loads(out)["clientVersion"]["gitVersion"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        return
    client_minor = int(client.lstrip("v").split(".")[1])
    cluster_minor = int(cluster_version.lstrip("v").split(".")[1])
    if abs(client_minor - cluster_minor) > 1:
        inv.console.line()
        inv.console.warning(
            f"{path} is version {client.lstrip('v').split('-')[0]}, which may have "
            f"incompatibilities with Kubernetes {cluster_version.lstrip('v')}."
        )
        inv.console.styled(
            "sub", f"Want kubectl {cluster_version}? Try 'minikube kubectl -- get pods -A'"
        )


def _write_last_start(inv: Invocation) -> None:
    """logs/lastStart.txt: a klog-style record of this start's messages."""
    logs = state.minikube_home() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    now = time.strftime("%Y/%m/%d %H:%M:%S")
    lines = [
        f"Log file created at: {now}",
        f"Running on machine: {os.uname().nodename}",
        "Binary: Built with gc go1.24.6 for linux/amd64 (labtools fake minikube)",
        "Log line format: [IEWF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg",
    ]
    stamp = time.strftime("%m%d %H:%M:%S.000000")
    for event in inv.console.recorded:
        message = json.loads(event)["data"].get("message", "").rstrip("\n")
        lines.append(f"I{stamp} {os.getpid():>7} out.go:177] {message}")
    (logs / "lastStart.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
