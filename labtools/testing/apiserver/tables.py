"""Server-side printing: objects as `meta.k8s.io/v1 Table` rows with the real columns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .selectors import selector_string

Obj = dict[str, Any]
Column = tuple[str, str, int]  # (name, type, priority)
Printer = tuple[list[Column], Callable[[Obj], list[Any]]]


def parse_time(text: str | None) -> datetime | None:
    """Parse an RFC3339 timestamp (with or without fractions)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds_f: float) -> str:
    """`duration.HumanDuration` of apimachinery."""
    seconds = int(seconds_f)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def age(text: str | None) -> str:
    """`translateTimestampSince`."""
    when = parse_time(text)
    if when is None:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - when).total_seconds())


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


def _created(obj: Obj) -> str:
    return age(_meta(obj).get("creationTimestamp"))


def pod_reason(pod: Obj) -> str:
    """The STATUS column of a pod (printPod)."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or ""
    for cs in reversed(status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    if _meta(pod).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return str(reason)


def _pod_row(pod: Obj) -> list[Any]:
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount", 0)) for cs in statuses)
    restarts_text = str(restarts)
    finished = [
        ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt") or ""
        for cs in statuses
    ]
    if restarts and max(finished, default=""):
        restarts_text = f"{restarts} ({age(max(finished))} ago)"
    gates = spec.get("readinessGates") or []
    gate_text = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        ok = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        gate_text = f"{ok}/{len(gates)}"
    return [
        _name(pod),
        f"{ready}/{len(spec.get('containers') or [])}",
        pod_reason(pod),
        restarts_text,
        _created(pod),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gate_text,
    ]


def _containers(spec: Obj) -> tuple[str, str]:
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return (
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
    )


def _deploy_row(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(spec)
    return [
        _name(obj),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _created(obj),
        names,
        images,
        selector_string(spec.get("selector")),
    ]


def _rs_row(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(spec)
    return [
        _name(obj),
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _created(obj),
        names,
        images,
        selector_string(spec.get("selector")),
    ]


def _svc_ports(spec: Obj) -> str:
    parts = []
    for p in spec.get("ports") or []:
        proto = p.get("protocol", "TCP")
        if p.get("nodePort"):
            parts.append(f"{p['port']}:{p['nodePort']}/{proto}")
        else:
            parts.append(f"{p.get('port')}/{proto}")
    return ",".join(parts) if parts else "<none>"


def _external_ip(obj: Obj) -> str:
    spec = obj.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    ext = list(spec.get("externalIPs") or [])
    if kind == "ExternalName":
        return str(spec.get("externalName", "<none>"))
    if kind == "LoadBalancer":
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ips = [i.get("ip") or i.get("hostname") for i in ingress] + ext
        return ",".join(ips) if ips else "<pending>"
    return ",".join(ext) if ext else "<none>"


def _svc_row(obj: Obj) -> list[Any]:
    spec = obj.get("spec") or {}
    sel = spec.get("selector")
    sel_text = ",".join(f"{k}={v}" for k, v in sorted(sel.items())) if sel else "<none>"
    return [
        _name(obj),
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or "<none>",
        _external_ip(obj),
        _svc_ports(spec),
        _created(obj),
        sel_text,
    ]


def _node_row(obj: Obj) -> list[Any]:
    status = obj.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    state = "Ready" if conds.get("Ready") == "True" else "NotReady"
    if (obj.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted(
        k.split("/", 1)[1]
        for k in (_meta(obj).get("labels") or {})
        if k.startswith("node-role.kubernetes.io/") and "/" in k
    )
    info = status.get("nodeInfo") or {}
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    return [
        _name(obj),
        state,
        ",".join(roles) or "<none>",
        _created(obj),
        info.get("kubeletVersion", ""),
        addrs.get("InternalIP", "<none>"),
        addrs.get("ExternalIP", "<none>"),
        info.get("osImage", "<unknown>"),
        info.get("kernelVersion", "<unknown>"),
        info.get("containerRuntimeVersion", "<unknown>"),
    ]


def _ns_row(obj: Obj) -> list[Any]:
    return [_name(obj), (obj.get("status") or {}).get("phase", ""), _created(obj)]


def _event_row(ev: Obj) -> list[Any]:
    first = ev.get("firstTimestamp") or ev.get("eventTime") or _meta(ev).get("creationTimestamp")
    last = ev.get("lastTimestamp") or (ev.get("series") or {}).get("lastObservedTime") or first
    count = int(ev.get("count") or 1)
    last_seen = age(last)
    if count > 1:
        last_seen = f"{last_seen} (x{count} over {age(first)})"
    inv = ev.get("involvedObject") or {}
    src = ev.get("source") or {}
    source = src.get("component") or ev.get("reportingComponent") or ""
    if src.get("host"):
        source = f"{source}, {src['host']}"
    return [
        last_seen,
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}",
        inv.get("fieldPath", ""),
        source,
        ev.get("message", ""),
        age(first),
        count,
        _name(ev),
    ]


def _endpoints_text(obj: Obj) -> str:
    items: list[str] = []
    for subset in obj.get("subsets") or []:
        ports = subset.get("ports") or []
        for addr in subset.get("addresses") or []:
            if ports:
                items.extend(f"{addr.get('ip')}:{p.get('port')}" for p in ports)
            else:
                items.append(str(addr.get("ip")))
    if not items:
        return "<none>"
    text = ",".join(items[:3])
    if len(items) > 3:
        text += f" + {len(items) - 3} more..."
    return text


def _slice_row(obj: Obj) -> list[Any]:
    ports = [str(p.get("port")) for p in obj.get("ports") or [] if p.get("port") is not None]
    addrs = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    addr_text = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [
        _name(obj),
        obj.get("addressType", ""),
        ",".join(ports) or "<unset>",
        addr_text or "<unset>",
        _created(obj),
    ]


def _S(name: str, priority: int = 0) -> Column:
    return (name, "string", priority)


def _I(name: str, priority: int = 0) -> Column:
    return (name, "integer", priority)


NAME = ("Name", "string", 0)
AGE = _S("Age")

PRINTERS: dict[str, Printer] = {
    "Pod": (
        [
            NAME,
            _S("Ready"),
            _S("Status"),
            _S("Restarts"),
            AGE,
            _S("IP", 1),
            _S("Node", 1),
            _S("Nominated Node", 1),
            _S("Readiness Gates", 1),
        ],
        _pod_row,
    ),
    "Deployment": (
        [
            NAME,
            _S("Ready"),
            _I("Up-to-date"),
            _I("Available"),
            AGE,
            _S("Containers", 1),
            _S("Images", 1),
            _S("Selector", 1),
        ],
        _deploy_row,
    ),
    "ReplicaSet": (
        [
            NAME,
            _I("Desired"),
            _I("Current"),
            _I("Ready"),
            AGE,
            _S("Containers", 1),
            _S("Images", 1),
            _S("Selector", 1),
        ],
        _rs_row,
    ),
    "Service": (
        [
            NAME,
            _S("Type"),
            _S("Cluster-IP"),
            _S("External-IP"),
            _S("Port(s)"),
            AGE,
            _S("Selector", 1),
        ],
        _svc_row,
    ),
    "Node": (
        [
            NAME,
            _S("Status"),
            _S("Roles"),
            AGE,
            _S("Version"),
            _S("Internal-IP", 1),
            _S("External-IP", 1),
            _S("OS-Image", 1),
            _S("Kernel-Version", 1),
            _S("Container-Runtime", 1),
        ],
        _node_row,
    ),
    "Namespace": ([NAME, _S("Status"), AGE], _ns_row),
    "Event": (
        [
            _S("Last Seen"),
            _S("Type"),
            _S("Reason"),
            _S("Object"),
            _S("Subobject", 1),
            _S("Source", 1),
            _S("Message"),
            _S("First Seen", 1),
            _I("Count", 1),
            _S("Name", 1),
        ],
        _event_row,
    ),
    "Endpoints": (
        [NAME, _S("Endpoints"), AGE],
        lambda o: [_name(o), _endpoints_text(o), _created(o)],
    ),
    "EndpointSlice": ([NAME, _S("AddressType"), _S("Ports"), _S("Endpoints"), AGE], _slice_row),
    "ConfigMap": (
        [NAME, _I("Data"), AGE],
        lambda o: [
            _name(o),
            len(o.get("data") or {}) + len(o.get("binaryData") or {}),
            _created(o),
        ],
    ),
    "Secret": (
        [NAME, _S("Type"), _I("Data"), AGE],
        lambda o: [_name(o), o.get("type", ""), len(o.get("data") or {}), _created(o)],
    ),
    "ServiceAccount": (
        [NAME, _I("Secrets"), AGE],
        lambda o: [_name(o), len(o.get("secrets") or []), _created(o)],
    ),
    "DaemonSet": (
        [
            NAME,
            _I("Desired"),
            _I("Current"),
            _I("Ready"),
            _I("Up-to-date"),
            _I("Available"),
            _S("Node Selector"),
            AGE,
            _S("Containers", 1),
            _S("Images", 1),
            _S("Selector", 1),
        ],
        lambda o: _daemonset_row(o),
    ),
    "StatefulSet": (
        [NAME, _S("Ready"), AGE, _S("Containers", 1), _S("Images", 1)],
        lambda o: [
            _name(o),
            f"{(o.get('status') or {}).get('readyReplicas', 0)}/"
            f"{(o.get('spec') or {}).get('replicas', 1)}",
            _created(o),
            *_containers(o.get("spec") or {}),
        ],
    ),
    "Job": (
        [
            NAME,
            _S("Status"),
            _S("Completions"),
            _S("Duration"),
            AGE,
            _S("Containers", 1),
            _S("Images", 1),
            _S("Selector", 1),
        ],
        lambda o: _job_row(o),
    ),
    "Lease": (
        [NAME, _S("Holder"), AGE],
        lambda o: [_name(o), (o.get("spec") or {}).get("holderIdentity", ""), _created(o)],
    ),
    "CronJob": (
        [
            NAME,
            _S("Schedule"),
            _S("Timezone"),
            ("Suspend", "boolean", 0),
            _I("Active"),
            _S("Last Schedule"),
            AGE,
            _S("Containers", 1),
            _S("Images", 1),
            _S("Selector", 1),
        ],
        lambda o: _cronjob_row(o),
    ),
    "Ingress": (
        [NAME, _S("Class"), _S("Hosts"), _S("Address"), _S("Ports"), AGE],
        lambda o: _ingress_row(o),
    ),
    "IngressClass": (
        [NAME, _S("Controller"), _S("Parameters"), AGE],
        lambda o: [
            _name(o),
            (o.get("spec") or {}).get("controller", ""),
            "<none>",
            _created(o),
        ],
    ),
    "HorizontalPodAutoscaler": (
        [
            NAME,
            _S("Reference"),
            _S("Targets"),
            _S("MinPods"),
            _S("MaxPods"),
            _S("Replicas"),
            AGE,
        ],
        lambda o: _hpa_row(o),
    ),
    "PodDisruptionBudget": (
        [NAME, _S("Min Available"), _S("Max Unavailable"), _I("Allowed Disruptions"), AGE],
        lambda o: [
            _name(o),
            _intstr_text((o.get("spec") or {}).get("minAvailable")),
            _intstr_text((o.get("spec") or {}).get("maxUnavailable")),
            (o.get("status") or {}).get("disruptionsAllowed", 0),
            _created(o),
        ],
    ),
    "ComponentStatus": (
        [NAME, _S("Status"), _S("Message"), _S("Error")],
        lambda o: _component_row(o),
    ),
    "RoleBinding": (
        [NAME, _S("Role"), AGE, _S("Users", 1), _S("Groups", 1), _S("ServiceAccounts", 1)],
        lambda o: _binding_row(o),
    ),
    "ClusterRoleBinding": (
        [NAME, _S("Role"), AGE, _S("Users", 1), _S("Groups", 1), _S("ServiceAccounts", 1)],
        lambda o: _binding_row(o),
    ),
    "StorageClass": (
        [
            NAME,
            _S("Provisioner"),
            _S("ReclaimPolicy"),
            _S("VolumeBindingMode"),
            _S("AllowVolumeExpansion"),
            AGE,
        ],
        lambda o: _storage_class_row(o),
    ),
    "PersistentVolumeClaim": (
        [
            NAME,
            _S("Status"),
            _S("Volume"),
            _S("Capacity"),
            _S("Access Modes"),
            _S("StorageClass"),
            _S("VolumeAttributesClass"),
            AGE,
            _S("VolumeMode", 1),
        ],
        lambda o: _pvc_row(o),
    ),
    "PersistentVolume": (
        [
            NAME,
            _S("Capacity"),
            _S("Access Modes"),
            _S("Reclaim Policy"),
            _S("Status"),
            _S("Claim"),
            _S("StorageClass"),
            _S("VolumeAttributesClass"),
            _S("Reason"),
            AGE,
            _S("VolumeMode", 1),
        ],
        lambda o: _pv_row(o),
    ),
    "NetworkPolicy": (
        [NAME, _S("Pod-Selector"), AGE],
        lambda o: [
            _name(o),
            selector_string((o.get("spec") or {}).get("podSelector")) or "<none>",
            _created(o),
        ],
    ),
    "PriorityClass": (
        [NAME, _I("Value"), ("Global-Default", "boolean", 0), AGE, _S("PreemptionPolicy")],
        lambda o: [
            _name(o),
            o.get("value", 0),
            bool(o.get("globalDefault")),
            _created(o),
            o.get("preemptionPolicy") or "",
        ],
    ),
    "ResourceQuota": (
        [NAME, AGE, _S("Request"), _S("Limit")],
        lambda o: _quota_row(o),
    ),
    "ControllerRevision": (
        [NAME, _S("Controller"), _I("Revision"), AGE],
        lambda o: [_name(o), _revision_owner(o), o.get("revision", 0), _created(o)],
    ),
}


def _revision_owner(obj: Obj) -> str:
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            api_version = str(ref.get("apiVersion", ""))
            group = api_version.split("/")[0] if "/" in api_version else ""
            kind = str(ref.get("kind", "")).lower() + (f".{group}" if group else "")
            return f"{kind}/{ref.get('name', '')}"
    return "<none>"


def _daemonset_row(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    names, images = _containers(spec)
    return [
        _name(obj),
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>",
        _created(obj),
        names,
        images,
        selector_string(spec.get("selector")),
    ]


def _job_state(obj: Obj) -> str:
    """The STATUS column of printJob, in its order of precedence."""
    conds = {
        c.get("type")
        for c in (obj.get("status") or {}).get("conditions") or []
        if c.get("status") == "True"
    }
    if "Complete" in conds:
        return "Complete"
    if "Failed" in conds:
        return "Failed"
    if _meta(obj).get("deletionTimestamp"):
        return "Terminating"
    if "Suspended" in conds:
        return "Suspended"
    if "FailureTarget" in conds:
        return "FailureTarget"
    return "Running"


def _job_duration(status: Obj) -> str:
    start = parse_time(status.get("startTime"))
    if start is None:
        return ""
    end = parse_time(status.get("completionTime")) or datetime.now(UTC)
    return human_duration((end - start).total_seconds())


def _job_row(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(spec)
    done = int(status.get("succeeded", 0))
    want = spec.get("completions")
    parallel = int(spec.get("parallelism", 1))
    if want is not None:
        completions = f"{done}/{want}"
    elif parallel > 1:
        completions = f"{done}/1 of {parallel}"
    else:
        completions = f"{done}/1"
    return [
        _name(obj),
        _job_state(obj),
        completions,
        _job_duration(status),
        _created(obj),
        names,
        images,
        selector_string(spec.get("selector")),
    ]


def _intstr_text(value: Any) -> str:
    return "N/A" if value is None else str(value)


def _bool_ptr(value: Any) -> str:
    """`printBoolPtr`: <unset> for a missing pointer."""
    if value is None:
        return "<unset>"
    return "True" if value else "False"


def _cronjob_row(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    last = status.get("lastScheduleTime")
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    names, images = _containers(job_spec)
    return [
        _name(obj),
        spec.get("schedule", ""),
        spec.get("timeZone") or "<none>",
        _bool_ptr(spec.get("suspend")),
        len(status.get("active") or []),
        age(last) if last else "<none>",
        _created(obj),
        names,
        images,
        selector_string(job_spec.get("selector")),
    ]


def _ingress_hosts(rules: list[Obj]) -> str:
    hosts = [r["host"] for r in rules if r.get("host")][:3]
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - 3} more..." if len(rules) > 3 else text


def _lb_addresses(status: Obj) -> str:
    ingress = ((status.get("loadBalancer") or {}).get("ingress")) or []
    found = sorted({i.get("ip") or i.get("hostname") or "" for i in ingress} - {""})
    return ",".join(found)


def _ingress_row(obj: Obj) -> list[Any]:
    spec = obj.get("spec") or {}
    return [
        _name(obj),
        spec.get("ingressClassName") or "<none>",
        _ingress_hosts(spec.get("rules") or []),
        _lb_addresses(obj.get("status") or {}),
        "80, 443" if spec.get("tls") else "80",
        _created(obj),
    ]


def _hpa_metrics(spec: Obj) -> str:
    metrics = spec.get("metrics") or []
    if not metrics:
        return "<none>"
    parts = []
    for m in metrics:
        if m.get("type") == "Resource":
            res = m.get("resource") or {}
            target = res.get("target") or {}
            if target.get("averageUtilization") is not None:
                parts.append(f"{res.get('name')}: <unknown>/{target['averageUtilization']}%")
            else:
                parts.append(f"{res.get('name')}: <unknown>/{target.get('averageValue', '')}")
        else:
            parts.append("<unknown type>")
    if len(parts) > 2:
        return ", ".join(parts[:2]) + f" + {len(parts) - 2} more..."
    return ", ".join(parts)


def _hpa_row(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    low = spec.get("minReplicas")
    return [
        _name(obj),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        _hpa_metrics(spec),
        "<unset>" if low is None else str(low),
        spec.get("maxReplicas", 0),
        status.get("currentReplicas", 0),
        _created(obj),
    ]


def _subjects(obj: Obj) -> tuple[str, str, str]:
    users, groups, sas = [], [], []
    for sub in obj.get("subjects") or []:
        if sub.get("kind") == "User":
            users.append(sub.get("name", ""))
        elif sub.get("kind") == "Group":
            groups.append(sub.get("name", ""))
        elif sub.get("kind") == "ServiceAccount":
            sas.append(f"{sub.get('namespace', '')}/{sub.get('name', '')}")
    return ", ".join(users), ", ".join(groups), ", ".join(sas)


def _binding_row(obj: Obj) -> list[Any]:
    ref = obj.get("roleRef") or {}
    role = f"{ref.get('kind', '')}/{ref.get('name', '')}"
    return [_name(obj), role, _created(obj), *_subjects(obj)]


def _component_row(obj: Obj) -> list[Any]:
    state, message, error = "Unknown", "", ""
    for cond in obj.get("conditions") or []:
        if cond.get("type") == "Healthy":
            state = "Healthy" if cond.get("status") == "True" else "Unhealthy"
            message, error = cond.get("message", ""), cond.get("error", "")
            break
    return [_name(obj), state, message, error]


def _storage_class_row(obj: Obj) -> list[Any]:
    notes = _meta(obj).get("annotations") or {}
    default = any(
        notes.get(k) == "true"
        for k in (
            "storageclass.kubernetes.io/is-default-class",
            "storageclass.beta.kubernetes.io/is-default-class",
        )
    )
    return [
        _name(obj) + (" (default)" if default else ""),
        obj.get("provisioner", ""),
        obj.get("reclaimPolicy") or "Delete",
        obj.get("volumeBindingMode") or "Immediate",
        bool(obj.get("allowVolumeExpansion")),
        _created(obj),
    ]


def _pvc_row(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = status.get("phase", "")
    if _meta(obj).get("deletionTimestamp"):
        phase = "Terminating"
    bound = bool(spec.get("volumeName"))
    cap = (status.get("capacity") or {}).get("storage", "") if bound else ""
    modes = _access_modes(status.get("accessModes") or []) if bound else ""
    return [
        _name(obj),
        phase,
        spec.get("volumeName", ""),
        cap,
        modes,
        spec.get("storageClassName") or "",
        spec.get("volumeAttributesClassName") or "<unset>",
        _created(obj),
        spec.get("volumeMode") or "<unset>",
    ]


def _access_modes(modes: list[str]) -> str:
    short = {
        "ReadWriteOnce": "RWO",
        "ReadOnlyMany": "ROX",
        "ReadWriteMany": "RWX",
        "ReadWriteOncePod": "RWOP",
    }
    return ",".join(short[m] for m in short if m in modes)


def _pv_row(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("claimRef")
    claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
    phase = "Terminating" if _meta(obj).get("deletionTimestamp") else status.get("phase", "")
    return [
        _name(obj),
        (spec.get("capacity") or {}).get("storage", ""),
        _access_modes(spec.get("accessModes") or []),
        spec.get("persistentVolumeReclaimPolicy", ""),
        phase,
        claim,
        spec.get("storageClassName") or "",
        spec.get("volumeAttributesClassName") or "<unset>",
        status.get("reason", ""),
        _created(obj),
        spec.get("volumeMode") or "<unset>",
    ]


def _quota_row(obj: Obj) -> list[Any]:
    status = obj.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    requests: list[str] = []
    limits: list[str] = []
    for name in sorted(hard):
        text = f"{name}: {used.get(name, '0')}/{hard[name]}"
        (limits if name.split(".")[0] == "limits" and "." in name else requests).append(text)
    return [_name(obj), _created(obj), ", ".join(requests), ", ".join(limits)]


def _default_printer() -> Printer:
    return [NAME, ("Created At", "date", 0)], lambda o: [
        _name(o),
        _meta(o).get("creationTimestamp", ""),
    ]


def columns(kind: str) -> list[dict[str, Any]]:
    """Column definitions of a kind's table."""
    cols, _ = PRINTERS.get(kind, _default_printer())
    out = []
    for name, typ, prio in cols:
        fmt = "name" if (name == "Name" and prio == 0) else ""
        out.append(
            {
                "name": name,
                "type": typ,
                "format": fmt,
                "description": _DESCRIPTIONS.get(name, name),
                "priority": prio,
            }
        )
    return out


_DESCRIPTIONS = {
    "Name": "Name must be unique within a namespace. Is required when creating resources, "
    "although some resources may allow a client to request the generation of an "
    "appropriate name automatically. Name is primarily intended for creation "
    "idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    "Age": "CreationTimestamp is a timestamp representing the server time when this object "
    "was created.",
}


def row_object(obj: Obj, include: str) -> Obj | None:
    """The `object` of a row for includeObject=None|Metadata|Object."""
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def to_table(kind: str, objs: list[Obj], include: str, list_meta: Obj) -> Obj:
    """Build a Table of objects of one kind."""
    _, printer = PRINTERS.get(kind, _default_printer())
    rows = []
    for obj in objs:
        row: Obj = {"cells": printer(obj)}
        ro = row_object(obj, include)
        if ro is not None:
            row["object"] = ro
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns(kind),
        "rows": rows,
    }
