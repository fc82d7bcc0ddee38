"""The objects a fresh minikube cluster has: namespaces, the node, system pods and services."""

from __future__ import annotations

import hashlib
import platform
from datetime import UTC, datetime
from typing import Any

from . import resources as R
from .api import Api, random_suffix
from .controllers import NODE_IP, compute_hash
from .store import Obj, now_rfc3339

MINIKUBE_VERSION = "v1.37.0"
# requests of minikube's control-plane pods, so `describe node` shows real allocations
SYSTEM_REQUESTS: dict[str, Any] = {
    "etcd": {"requests": {"cpu": "100m", "memory": "100Mi"}},
    "kube-apiserver": {"requests": {"cpu": "250m"}},
    "kube-controller-manager": {"requests": {"cpu": "200m"}},
    "kube-scheduler": {"requests": {"cpu": "100m"}},
    "coredns": {"requests": {"cpu": "100m", "memory": "70Mi"}, "limits": {"memory": "170Mi"}},
}
MINIKUBE_COMMIT = "65318f4cfff9c12cc87ec9eb8f4cdd57b25047f3"


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, "amd64")


def node_object(name: str, version: str) -> Obj:
    """A Ready minikube node."""
    arch = _arch()
    now = now_rfc3339()
    stamp = datetime.now(UTC).strftime("%Y_%m_%dT%H_%M_%S_0000")
    conds = [
        (
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    capacity = {
        "cpu": "2",
        "ephemeral-storage": "102107096Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": "3912216Ki",
        "pods": "110",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": arch,
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": arch,
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "minikube.k8s.io/commit": MINIKUBE_COMMIT,
                "minikube.k8s.io/name": name,
                "minikube.k8s.io/primary": "true",
                "minikube.k8s.io/updated_at": stamp,
                "minikube.k8s.io/version": MINIKUBE_VERSION,
                "node-role.kubernetes.io/control-plane": "",
                "node.kubernetes.io/exclude-from-external-load-balancers": "",
            },
            "annotations": {
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/cri-dockerd.sock",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [
                {
                    "type": t,
                    "status": s,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                    "reason": r,
                    "message": m,
                }
                for t, s, r, m in conds
            ],
            "addresses": [
                {"type": "InternalIP", "address": NODE_IP},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "f3c0d2a1b4e5f60718293a4b5c6d7e8f",
                "systemUUID": "8a1f0f52-8d5b-4b8e-9d1c-3c7f8e2f6a10",
                "bootID": "3b0c3f0e-6b8a-4f5e-8f0e-2a4d6c8e0b1d",
                "kernelVersion": platform.release() or "5.15.0-122-generic",
                "osImage": "Ubuntu 22.04.5 LTS",
                "containerRuntimeVersion": "docker://27.4.1",
                "kubeletVersion": version,
                "kubeProxyVersion": version,
                "operatingSystem": "linux",
                "architecture": arch,
            },
            "images": [],
        },
    }


def _static_pod(
    name: str, image: str, labels: dict[str, str], node: str, ip: str, owner: Obj | None
) -> Obj:
    now = now_rfc3339()
    meta: dict[str, Any] = {"name": name, "namespace": "kube-system", "labels": labels}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
            }
        ]
    if owner is not None and owner["kind"] == "Node":
        # a static pod's mirror (kubelet config/file source): `kubectl drain` skips these
        digest = hashlib.md5(name.encode()).hexdigest()
        meta["annotations"] = {
            "kubernetes.io/config.hash": digest,
            "kubernetes.io/config.mirror": digest,
            "kubernetes.io/config.seen": now,
            "kubernetes.io/config.source": "file",
        }
    cname = labels.get("component") or labels.get("k8s-app") or name.split("-")[0]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "containers": [
                {"name": cname, "image": image, "resources": SYSTEM_REQUESTS.get(cname, {})}
            ],
            "nodeName": node,
            "priorityClassName": "system-node-critical",
            "hostNetwork": ip == NODE_IP,
        },
        "status": {
            "phase": "Running",
            "hostIP": NODE_IP,
            "hostIPs": [{"ip": NODE_IP}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now,
            "qosClass": "Burstable",
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                for t in (
                    "PodReadyToStartContainers",
                    "Initialized",
                    "Ready",
                    "ContainersReady",
                    "PodScheduled",
                )
            ],
            "containerStatuses": [
                {
                    "name": cname,
                    "image": image,
                    "imageID": f"docker-pullable://{image}",
                    "containerID": "docker://" + random_suffix(12),
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "lastState": {},
                    "state": {"running": {"startedAt": now}},
                }
            ],
        },
    }


def kubernetes_service() -> Obj:
    """The `default/kubernetes` service the API server keeps in place."""
    return {
        "metadata": {
            "name": "kubernetes",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "clusterIP": "10.96.0.1",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}],
        },
    }


def bootstrap(api: Api, node_name: str, version: str) -> None:
    """Create the objects of a fresh cluster."""
    for ns in ("default", "kube-node-lease", "kube-public", "kube-system"):
        api.create(R.NAMESPACE, "", {"metadata": {"name": ns}}, internal=True)
    node = api.create(R.NODE, "", node_object(node_name, version), internal=True)
    api.create(R.SERVICE, "default", kubernetes_service(), internal=True)
    api.store.create(
        R.ENDPOINTS.key,
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
            },
            "subsets": [
                {
                    "addresses": [{"ip": NODE_IP}],
                    "ports": [{"name": "https", "port": 8443, "protocol": "TCP"}],
                }
            ],
        },
    )
    api.store.create(
        R.ENDPOINTSLICE.key,
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "kubernetes"},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": 8443, "protocol": "TCP"}],
        },
    )
    api.create(
        R.SERVICE,
        "kube-system",
        {
            "metadata": {
                "name": "kube-dns",
                "labels": {
                    "k8s-app": "kube-dns",
                    "kubernetes.io/cluster-service": "true",
                    "kubernetes.io/name": "CoreDNS",
                },
                "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
            },
            "spec": {
                "clusterIP": "10.96.0.10",
                "selector": {"k8s-app": "kube-dns"},
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                    {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
                ],
            },
        },
        internal=True,
    )
    api.create(
        R.preferred("coordination.k8s.io", "leases"),
        "kube-node-lease",
        {
            "metadata": {
                "name": node_name,
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Node",
                        "name": node_name,
                        "uid": node["metadata"]["uid"],
                    }
                ],
            },
            "spec": {
                "holderIdentity": node_name,
                "leaseDurationSeconds": 40,
                "renewTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
        },
        internal=True,
    )
    # the storage-provisioner addon's default class (minikube's storageclass.yaml)
    api.create(
        R.preferred("storage.k8s.io", "storageclasses"),
        "",
        {
            "metadata": {
                "name": "standard",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                "labels": {"addonmanager.kubernetes.io/mode": "EnsureExists"},
            },
            "provisioner": "k8s.io/minikube-hostpath",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        },
        internal=True,
    )
    _system_workloads(api, node, node_name)


def _system_workloads(api: Api, node: Obj, node_name: str) -> None:
    coredns_tpl = {
        "metadata": {"labels": {"k8s-app": "kube-dns"}},
        "spec": {
            "containers": [
                {
                    "name": "coredns",
                    "image": "registry.k8s.io/coredns/coredns:v1.11.3",
                    "resources": SYSTEM_REQUESTS["coredns"],
                }
            ],
            "priorityClassName": "system-cluster-critical",
        },
    }
    dep = api.create(
        R.DEPLOYMENT,
        "kube-system",
        {
            "metadata": {"name": "coredns", "labels": {"k8s-app": "kube-dns"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
                "template": coredns_tpl,
            },
        },
        internal=True,
    )
    h = compute_hash(dep["spec"]["template"])
    ds = api.create(
        R.preferred("apps", "daemonsets"),
        "kube-system",
        {
            "metadata": {"name": "kube-proxy", "labels": {"k8s-app": "kube-proxy"}},
            "spec": {
                "selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                "template": {
                    "metadata": {"labels": {"k8s-app": "kube-proxy"}},
                    "spec": {
                        "containers": [
                            {"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.32.0"}
                        ],
                        "nodeSelector": {"kubernetes.io/os": "linux"},
                    },
                },
            },
            "status": {
                "currentNumberScheduled": 1,
                "desiredNumberScheduled": 1,
                "numberAvailable": 1,
                "numberReady": 1,
                "updatedNumberScheduled": 1,
                "observedGeneration": 1,
                "numberMisscheduled": 0,
            },
        },
        internal=True,
    )
    pods = [
        _static_pod(
            f"etcd-{node_name}",
            "registry.k8s.io/etcd:3.5.16-0",
            {"component": "etcd", "tier": "control-plane"},
            node_name,
            NODE_IP,
            node,
        ),
        _static_pod(
            f"kube-apiserver-{node_name}",
            "registry.k8s.io/kube-apiserver:v1.32.0",
            {"component": "kube-apiserver", "tier": "control-plane"},
            node_name,
            NODE_IP,
            node,
        ),
        _static_pod(
            f"kube-controller-manager-{node_name}",
            "registry.k8s.io/kube-controller-manager:v1.32.0",
            {"component": "kube-controller-manager", "tier": "control-plane"},
            node_name,
            NODE_IP,
            node,
        ),
        _static_pod(
            f"kube-scheduler-{node_name}",
            "registry.k8s.io/kube-scheduler:v1.32.0",
            {"component": "kube-scheduler", "tier": "control-plane"},
            node_name,
            NODE_IP,
            node,
        ),
        _static_pod(
            f"kube-proxy-{random_suffix()}",
            "registry.k8s.io/kube-proxy:v1.32.0",
            {"k8s-app": "kube-proxy", "controller-revision-hash": h},
            node_name,
            NODE_IP,
            ds,
        ),
        _static_pod(
            "storage-provisioner",
            "gcr.io/k8s-minikube/storage-provisioner:v5",
            {
                "addonmanager.kubernetes.io/mode": "Reconcile",
                "integration-test": "storage-provisioner",
            },
            node_name,
            NODE_IP,
            None,
        ),
    ]
    for pod in pods:
        api.create(R.POD, "kube-system", pod, internal=True)
