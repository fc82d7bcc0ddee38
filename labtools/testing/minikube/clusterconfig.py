"""ClusterConfig (profiles/<p>/config.json) and the validation of `minikube start` flags."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from labtools.testing.minikube import console as c
from labtools.testing.minikube.version import (
    DEFAULT_KUBERNETES_VERSION,
    KIC_BASE_VERSION,
    OLDEST_KUBERNETES_VERSION,
)

LINUX_DRIVERS = {"docker", "podman", "none", "ssh", "kvm2", "qemu2", "virtualbox", "vmware"}
DRIVER_ALIASES = {"kvm": "kvm2", "qemu": "qemu2"}
VM_DRIVERS = {"kvm2", "qemu2", "virtualbox", "vmware"}
RUNTIMES = {"docker": "docker", "containerd": "containerd", "cri-o": "crio", "crio": "crio"}
MIN_MEMORY_MB = 1800
RECOMMENDED_MEMORY_MB = 1900
MIN_CPUS = 2
MIN_DISK_MB = 2000
DEFAULT_ADDONS = ("storage-provisioner", "default-storageclass")
KIC_BASE_IMAGE = f"gcr.io/k8s-minikube/kicbase:{KIC_BASE_VERSION}"
SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


class Refused(Exception):
    """A start flag minikube refuses; carries the reason and the real message."""

    def __init__(self, reason: c.Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class StartOptions:
    """The validated settings of one `minikube start`."""

    driver: str = "docker"
    driver_given: bool = False
    cpus: int = 2
    memory: int = 0
    disk_size: int = 20000
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    container_runtime: str = "docker"
    addons: list[str] = field(default_factory=list)
    namespace: str = "default"
    keep_context: bool = False
    wait: list[str] = field(default_factory=lambda: ["apiserver", "system_pods"])
    apiserver_port: int = 8443


def system_memory_mb() -> int:
    """Total RAM in MiB (from /proc/meminfo)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            kib = int(fh.readline().split()[1])
    except (OSError, ValueError, IndexError):
        return 8192
    return kib // 1024


def suggested_memory_mb() -> int:
    """25% of RAM rounded to 100 MB, clamped to 2200..6000 (minikube's suggestion)."""
    return max(2200, min(6000, system_memory_mb() // 400 * 100))


def size_mb(text: str) -> int:
    """``2g``, ``2048m``, ``2048`` (MB) -> MiB, as pkg/util CalculateSizeInMB does."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*", text.lower())
    if not m:
        raise ValueError(text)
    number, unit = float(m.group(1)), m.group(2)
    if not unit:
        return int(number)
    return int(number * SIZE_UNITS[unit] // SIZE_UNITS["m"])


def parse_driver(value: str | None) -> str:
    """The driver name, or Refused(DRV_UNSUPPORTED_OS) for one minikube has not on linux."""
    if not value:
        return "docker"
    name = DRIVER_ALIASES.get(value, value)
    if name not in LINUX_DRIVERS:
        raise Refused(c.DRV_UNSUPPORTED_OS, f"The driver '{value}' is not supported on linux/amd64")
    return name


def parse_cpus(value: str | None) -> int:
    """--cpus: int, ``max`` or ``no-limit``; below 2 is RSRC_INSUFFICIENT_CORES."""
    if value in (None, ""):
        return 2
    if value == "max":
        return os.cpu_count() or 2
    if value == "no-limit":
        return 0
    try:
        cpus = int(value)
    except ValueError as exc:
        raise Refused(c.MK_USAGE, f"Invalid --cpus value: {value}") from exc
    if cpus < MIN_CPUS:
        raise Refused(
            c.RSRC_INSUFFICIENT_CORES,
            f"Requested cpu count {cpus} is less than the minimum allowed of {MIN_CPUS}",
        )
    return cpus


def parse_memory(value: str | None) -> int:
    """--memory with units; below 1800 MB is RSRC_INSUFFICIENT_REQ_MEMORY."""
    if value in (None, ""):
        return suggested_memory_mb()
    if value == "max":
        return system_memory_mb()
    if value == "no-limit":
        return 0
    try:
        mb = size_mb(value)
    except ValueError as exc:
        raise Refused(c.MK_CONFIG, f"Unable to parse memory '{value}': invalid size") from exc
    if mb < MIN_MEMORY_MB:
        raise Refused(
            c.RSRC_INSUFFICIENT_REQ_MEMORY,
            f"Requested memory allocation {mb}MiB is less than the usable minimum "
            f"of {MIN_MEMORY_MB}MB",
        )
    return mb


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.lstrip("v").split("."))


def parse_kubernetes_version(value: str | None) -> str:
    """vX.Y.Z (``stable``/``latest`` = the default); older than v1.28.0 is refused."""
    if value in (None, "", "stable", "latest"):
        return DEFAULT_KUBERNETES_VERSION
    assert value is not None
    if not re.fullmatch(r"v?\d+\.\d+\.\d+", value):
        raise Refused(c.MK_USAGE, f"Unable to parse Kubernetes version {value!r}")
    version = value if value.startswith("v") else f"v{value}"
    if _version_tuple(version) < _version_tuple(OLDEST_KUBERNETES_VERSION):
        raise Refused(
            c.K8S_OLD_UNSUPPORTED,
            f"Kubernetes {version} is not supported by this release of minikube",
        )
    return version


def parse_runtime(value: str | None) -> str:
    """--container-runtime: docker, containerd or cri-o (default docker)."""
    if not value:
        return "docker"
    if value not in RUNTIMES:
        raise Refused(
            c.MK_USAGE,
            f"Invalid Container Runtime: {value}. Valid runtimes are: docker, cri-o, containerd",
        )
    return RUNTIMES[value]


def build(name: str, opts: StartOptions, ip: str) -> dict[str, Any]:
    """A ClusterConfig in Go field order, with the fields labtools and users read."""
    runtime = opts.container_runtime
    addons = dict.fromkeys((*DEFAULT_ADDONS, *opts.addons), True)
    return {
        "Name": name,
        "KeepContext": opts.keep_context,
        "EmbedCerts": False,
        "MinikubeISO": "",
        "KicBaseImage": KIC_BASE_IMAGE,
        "Memory": opts.memory,
        "CPUs": opts.cpus,
        "DiskSize": opts.disk_size,
        "Driver": opts.driver,
        "HyperkitVpnKitSock": "",
        "HyperkitVSockPorts": [],
        "DockerEnv": None,
        "ContainerVolumeMounts": None,
        "InsecureRegistry": None,
        "RegistryMirror": [],
        "HostOnlyCIDR": "192.168.59.1/24",
        "DockerOpt": None,
        "DisableDriverMounts": False,
        "NFSShare": [],
        "NFSSharesRoot": "/nfsshares",
        "UUID": "",
        "NoVTXCheck": False,
        "DNSProxy": False,
        "HostDNSResolver": True,
        "HostOnlyNicType": "virtio",
        "NatNicType": "virtio",
        "KubernetesConfig": {
            "KubernetesVersion": opts.kubernetes_version,
            "ClusterName": name,
            "Namespace": opts.namespace,
            "APIServerHAVIP": "",
            "APIServerName": "minikubeCA",
            "APIServerNames": None,
            "APIServerIPs": None,
            "DNSDomain": "cluster.local",
            "ContainerRuntime": runtime,
            "CRISocket": "",
            "NetworkPlugin": "cni",
            "FeatureGates": "",
            "ServiceCIDR": "10.96.0.0/12",
            "ImageRepository": "",
            "LoadBalancerStartIP": "",
            "LoadBalancerEndIP": "",
            "CustomIngressCert": "",
            "RegistryAliases": "",
            "ExtraOptions": None,
            "ShouldLoadCachedImages": True,
            "EnableDefaultCNI": False,
            "CNI": "",
        },
        "Nodes": [
            {
                "Name": "",
                "IP": ip,
                "Port": opts.apiserver_port,
                "KubernetesVersion": opts.kubernetes_version,
                "ContainerRuntime": runtime,
                "ControlPlane": True,
                "Worker": True,
            }
        ],
        "Addons": addons,
        "CustomAddonImages": None,
        "CustomAddonRegistries": None,
        "VerifyComponents": dict.fromkeys(opts.wait, True),
        "StartHostTimeout": 360000000000,
        "ScheduledStop": None,
        "ExposedPorts": [],
        "ListenAddress": "",
        "Network": "",
        "Subnet": "",
        "MultiNodeRequested": False,
        "ExtraDisks": 0,
        "CertExpiration": 94608000000000000,
        "MountString": "",
        "Mount9PVersion": "9p2000.L",
        "MountGID": "docker",
        "MountIP": "",
        "MountMSize": 262144,
        "MountOptions": [],
        "MountPort": 0,
        "MountType": "9p",
        "MountUID": "docker",
        "BinaryMirror": "",
        "DisableOptimizations": False,
        "DisableMetrics": False,
        "DisableCoreDNSLog": False,
        "CustomQemuFirmwarePath": "",
        "SocketVMnetClientPath": "",
        "SocketVMnetPath": "",
        "StaticIP": "",
        "SSHAuthSock": "",
        "SSHAgentPID": 0,
        "GPUs": "",
        "AutoPauseInterval": 60000000000,
    }


WAIT_ALL = (
    "apiserver",
    "system_pods",
    "default_sa",
    "apps_running",
    "node_ready",
    "kubelet",
    "extra",
)


def parse_wait(values: list[str]) -> list[str]:
    """--wait components (``all``/``true``, ``none``/``false`` or a list)."""
    if not values:
        return ["apiserver", "system_pods"]
    if values in (["all"], ["true"]):
        return list(WAIT_ALL)
    if values in (["none"], ["false"]):
        return []
    unknown = [v for v in values if v not in WAIT_ALL]
    if unknown:
        raise Refused(
            c.MK_USAGE,
            f"{unknown[0]} is not a valid option for --wait. "
            f"Valid options are: {', '.join(WAIT_ALL)}",
        )
    return values
