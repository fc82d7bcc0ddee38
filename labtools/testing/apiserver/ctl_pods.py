"""The scheduler and the kubelet: bind pods, start sandboxes, report containers, terminate pods."""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import podenv, volumes
from . import resources as R
from .backoff import go_seconds
from .ctl_images import wait_images
from .ctl_nodes import cordoned_message, node_down, unschedulable_message, untolerated
from .store import Obj, copy_of, now_rfc3339

if TYPE_CHECKING:
    from .controllers import Controllers

# keep the logger name of before the split: log output and filters name the controllers
log = logging.getLogger(f"{__package__}.controllers")

# How often the kubelet brings mounted ConfigMaps, Secrets and downward API files up to date.
# A real kubelet does it on its pod sync (every minute) through a watch-based cache, so an
# update takes up to about a minute there; the fake does it every 2 s (or as this variable says).
VOLUME_SYNC_ENV = "LABTOOLS_FAKE_VOLUME_SYNC"
VOLUME_SYNC = 2.0
# pod_workers.go: a pod whose sync failed (CreateContainerConfigError) is retried after 10 s
CONFIG_RETRY = 10.0
# nestedpendingoperations: a failed mount is retried after 0.5 s, doubling up to 2m2s
MOUNT_RETRY_FIRST, MOUNT_RETRY_MAX = 0.5, 122.0
IMAGE_DIGEST = "sha256:0d6b8ee63bb57c5f5b6156f446b3bc3b3c143d233037f3a2f00e279c8fcc64af"
NODE_IP = "192.168.49.2"


def go_duration(seconds: float) -> str:
    """Go's `Duration.String()` of a duration truncated to milliseconds."""
    ms = int(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms"
    text = f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


# ---- the pod loop -----------------------------------------------------------------------
def sync_pods(ctl: Controllers) -> None:
    """One pass: schedule, start, watch and terminate every pod; prune timers of gone pods."""
    now = time.monotonic()
    # while the node is unreachable its kubelet does nothing: no start, status or termination
    kubelet = not node_down(ctl)
    # the stored pods, not copies (most passes change nothing): copied before any change
    for live in ctl.store.scan(R.POD.key):
        meta = live["metadata"]
        key = f"{meta['namespace']}/{meta['name']}/{meta['uid']}"
        if meta.get("deletionTimestamp"):
            if kubelet or meta["namespace"] == "kube-system":
                _terminate(ctl, copy_of(live), key)
            continue
        if not live["spec"].get("nodeName"):
            _schedule(ctl, copy_of(live), key)
            continue
        if not kubelet and meta["namespace"] != "kube-system":
            continue
        phase = live.get("status", {}).get("phase")
        if phase == "Pending" and key not in ctl.starting:
            if key not in ctl.timers:
                ctl.timers[key] = now + ctl.delay
            if ctl.timers[key] <= now:
                _kubelet_start(ctl, copy_of(live), key)
        elif phase == "Running" and key not in ctl.starting:
            _watch_containers(ctl, live, key, now)
    _prune(ctl)


def _prune(ctl: Controllers) -> None:
    """Forget the timers, back-offs and faults' bookkeeping of pods that are gone."""
    pods = ctl.store.scan(R.POD.key)
    live = {
        f"{p['metadata']['namespace']}/{p['metadata']['name']}/{p['metadata']['uid']}" for p in pods
    }
    ctl.timers = {
        k: v
        for k, v in ctl.timers.items()
        if k.split(":", 1)[-1] in live or k in ("poll", "evict", "cron")
    }
    ctl.backoffs = {k: v for k, v in ctl.backoffs.items() if k.split(":", 1)[-1] in live}
    ctl.crashes = {k: v for k, v in ctl.crashes.items() if k in live}
    uids = {p["metadata"]["uid"] for p in pods}
    ctl.images.prune(uids)
    ctl.crash_backoff.prune({k for k in ctl.crash_backoff.entries if k.split("/", 1)[0] in uids})


# ---- scheduler ----------------------------------------------------------------------------
def _schedule(ctl: Controllers, pod: Obj, key: str) -> None:
    meta = pod["metadata"]
    node = ctl.store.get(R.NODE.key, "", ctl.node)
    cordoned = cordoned_message(pod, node) if node is not None else None
    if cordoned is not None:
        _unschedulable(ctl, pod, cordoned)
        return
    taint = untolerated(pod, node) if node is not None else None
    if taint is not None:
        _unschedulable(ctl, pod, taint)
        return
    claims = _claims_problem(ctl, pod)
    if claims is not None:
        _unschedulable(ctl, pod, claims)
        return
    ctl.timers[key] = time.monotonic() + ctl.delay
    pod["spec"]["nodeName"] = ctl.node
    containers = pod["spec"].get("containers") or []
    pod["status"] = _pending_status(pod, containers, now_rfc3339())
    pod = ctl.put(R.POD, pod)
    ctl.event(
        pod,
        "Normal",
        "Scheduled",
        f"Successfully assigned {meta['namespace']}/{meta['name']} to {ctl.node}",
        "default-scheduler",
    )
    if meta["namespace"] == "kube-system":
        _pulling_events(ctl, pod)
        return
    try:
        _payloads(ctl, pod)
    except volumes.MountError:
        return  # the kubelet pulls images only once the pod's volumes are mounted
    _pulling_events(ctl, pod)


def _claims_problem(ctl: Controllers, pod: Obj) -> str | None:
    """The VolumeBinding plugin's reason a pod cannot be placed yet, or None."""
    ns = pod["metadata"]["namespace"]
    for volume in pod["spec"].get("volumes") or []:
        name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if not name:
            continue
        claim = ctl.store.get(("", "persistentvolumeclaims"), ns, name)
        if claim is None:
            reason = f'persistentvolumeclaim "{name}" not found'
        elif claim["metadata"].get("deletionTimestamp"):
            reason = f'persistentvolumeclaim "{name}" is being deleted'
        elif not (claim.get("spec") or {}).get("volumeName"):
            reason = "pod has unbound immediate PersistentVolumeClaims"
        else:
            continue
        return (
            f"0/1 nodes are available: {reason}. preemption: 0/1 nodes are available: 1 "
            "Preemption is not helpful for scheduling."
        )
    return None


def _unschedulable(ctl: Controllers, pod: Obj, taint: Obj | str) -> None:
    """The scheduler cannot place the pod: PodScheduled False, one FailedScheduling event."""
    message = taint if isinstance(taint, str) else unschedulable_message(taint)
    status = pod.setdefault("status", {})
    conds = status.setdefault("conditions", [])
    current = next((c for c in conds if c.get("type") == "PodScheduled"), None)
    if current is not None and current.get("message") == message:
        return
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", "BestEffort")
    cond = {
        "type": "PodScheduled",
        "status": "False",
        "lastProbeTime": None,
        "lastTransitionTime": now_rfc3339(),
        "reason": "Unschedulable",
        "message": message,
    }
    status["conditions"] = [c for c in conds if c.get("type") != "PodScheduled"] + [cond]
    pod = ctl.put(R.POD, pod)
    ctl.event(pod, "Warning", "FailedScheduling", message, "default-scheduler")


def _pulling_events(ctl: Controllers, pod: Obj) -> None:
    """The kubelet's Pulling events, once per pod, before it pulls the images."""
    meta = pod["metadata"]
    key = f"pulling:{meta['namespace']}/{meta['name']}/{meta['uid']}"
    if key in ctl.backoffs:
        return
    ctl.backoffs[key] = 1
    for c in pod["spec"].get("containers") or []:
        image = c.get("image", "")
        if c.get("imagePullPolicy") == "Always" or image not in ctl.pulled:
            ctl.event(
                pod,
                "Normal",
                "Pulling",
                f'Pulling image "{image}"',
                "kubelet",
                f"spec.containers{{{c['name']}}}",
            )


def _pending_status(pod: Obj, containers: list[Obj], now: str) -> Obj:
    """The status of a pod just bound to the node: Pending, every container creating."""
    return {
        "phase": "Pending",
        "qosClass": pod.get("status", {}).get("qosClass", "BestEffort"),
        "conditions": [
            _condition("PodReadyToStartContainers", "False", now),
            _condition("Initialized", "True", now),
            _unready("Ready", containers, now),
            _unready("ContainersReady", containers, now),
            _condition("PodScheduled", "True", now),
        ],
        "hostIP": NODE_IP,
        "hostIPs": [{"ip": NODE_IP}],
        "startTime": now,
        "containerStatuses": [
            {
                "name": c["name"],
                "state": {"waiting": {"reason": "ContainerCreating"}},
                "lastState": {},
                "ready": False,
                "restartCount": 0,
                "image": c.get("image"),
                "imageID": "",
                "started": False,
            }
            for c in containers
        ],
    }


def _condition(ctype: str, status: str, now: str) -> Obj:
    return {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": now}


def _unready(ctype: str, containers: list[Obj], now: str) -> Obj:
    names = " ".join(c["name"] for c in containers)
    return {
        "type": ctype,
        "status": "False",
        "lastProbeTime": None,
        "lastTransitionTime": now,
        "reason": "ContainersNotReady",
        "message": f"containers with unready status: [{names}]",
    }


# ---- kubelet: starting --------------------------------------------------------------------
@dataclass(frozen=True)
class Prepared:
    """What the kubelet resolved before starting a pod: volume files and container variables."""

    payloads: dict[str, volumes.Payload | None]
    env: dict[str, dict[str, str]]


def _kubelet_start(ctl: Controllers, pod: Obj, key: str) -> None:
    prepared = None
    if pod["metadata"]["namespace"] != "kube-system":
        try:
            payloads = _payloads(ctl, pod)
        except volumes.MountError as exc:
            _failed_mount(ctl, pod, key, exc)
            return
        ctl.backoffs.pop("mount:" + key, None)
        _pulling_events(ctl, pod)
    if not wait_images(ctl, pod, key):
        return
    if pod["metadata"]["namespace"] != "kube-system":
        try:
            prepared = Prepared(payloads, _variables(ctl, pod))
        except _ContainerConfigError as exc:
            _config_error(ctl, pod, key, exc)
            return
    ctl.starting.add(key)
    ctl.spawn(
        threading.Thread(
            target=_start_worker,
            args=(ctl, pod, key, prepared),
            daemon=True,
            name=f"start-{pod['metadata']['name']}",
        )
    )


# ---- kubelet: volumes and container config ------------------------------------------------
class _ContainerConfigError(Exception):
    def __init__(self, container: Obj, message: str) -> None:
        super().__init__(message)
        self.container = container
        self.message = message


def _lookup(ctl: Controllers) -> podenv.Lookup:
    def get(kind: str, namespace: str, name: str) -> Obj | None:
        res = R.CONFIGMAP if kind == "configmap" else R.SECRET
        return ctl.store.get(res.key, namespace, name)

    return get


def _allocatable(ctl: Controllers) -> dict[str, str]:
    node = ctl.store.get(R.NODE.key, "", ctl.node) or {}
    return dict((node.get("status") or {}).get("allocatable") or {})


def _context(ctl: Controllers, pod: Obj) -> volumes.VolumeContext:
    return volumes.VolumeContext(pod, _lookup(ctl), _allocatable(ctl), _token_source(ctl))


def _token_source(ctl: Controllers) -> volumes.TokenSource | None:
    """The kubelet's token manager: a bound token per pod, renewed at 80% of its lifetime."""
    if ctl.issuer is None:
        return None

    def token(pod: Obj, seconds: int, audience: str) -> str:
        meta, spec = pod["metadata"], pod["spec"]
        key = f"{meta['uid']}/{seconds}/{audience}"
        now = time.time()
        cached = ctl.pod_tokens.get(key)
        if cached is not None and now < cached[1]:
            return cached[0]
        name = spec.get("serviceAccountName") or "default"
        sa = ctl.store.get(R.SERVICEACCOUNT.key, meta["namespace"], name)
        if sa is None:
            raise podenv.ConfigError(f'failed to fetch token: serviceaccounts "{name}" not found')
        node = ctl.store.get(R.NODE.key, "", spec.get("nodeName") or ctl.node) or {}
        signed = ctl.issuer.sign(_bound_claims(pod, sa, node, seconds, audience, int(now)))
        ctl.pod_tokens[key] = (signed, now + 0.8 * seconds)
        return str(signed)

    return token


def _bound_claims(pod: Obj, sa: Obj, node: Obj, seconds: int, audience: str, now: int) -> Obj:
    """A pod-bound token's claims (pkg/serviceaccount/claims.go), as TokenRequest makes them.

    The kubelet asks for 3607 s; kube-apiserver (--service-account-extend-token-expiration,
    on by default) then issues it for a year with ``warnafter`` at the 3607 s it asked for.
    """
    meta = pod["metadata"]
    namespace, name = meta["namespace"], sa["metadata"]["name"]
    issuer = "https://kubernetes.default.svc.cluster.local"
    node_meta = node.get("metadata") or {}
    bound: Obj = {
        "namespace": namespace,
        "node": {"name": node_meta.get("name", ""), "uid": node_meta.get("uid", "")},
        "pod": {"name": meta["name"], "uid": meta["uid"]},
        "serviceaccount": {"name": name, "uid": sa["metadata"]["uid"]},
    }
    expiry = now + seconds
    if seconds == 3607:
        bound["warnafter"] = now + seconds
        expiry = now + 365 * 24 * 3600
    return {
        "aud": [audience or issuer],
        "exp": expiry,
        "iat": now,
        "iss": issuer,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": bound,
        "nbf": now,
        "sub": f"system:serviceaccount:{namespace}:{name}",
    }


def _payloads(ctl: Controllers, pod: Obj) -> dict[str, volumes.Payload | None]:
    """Every pod volume's files (None for emptyDir); MountError for the first that fails."""
    context = _context(ctl, pod)
    out: dict[str, volumes.Payload | None] = {}
    for volume in pod["spec"].get("volumes") or []:
        if volumes.volume_kind(volume) is not None:
            out[volume["name"]] = volumes.payload(volume, context)
    return out


def _variables(ctl: Controllers, pod: Obj) -> dict[str, dict[str, str]]:
    """Each container's declared variables; _ContainerConfigError for the first that fails."""
    services = ctl.store.list(R.SERVICE.key)
    enabled = pod["spec"].get("enableServiceLinks", True) is not False
    links = podenv.service_env(services, pod["metadata"]["namespace"], enabled)
    out: dict[str, dict[str, str]] = {}
    for container in pod["spec"].get("containers") or []:
        try:
            out[container["name"]] = podenv.container_variables(
                pod, container, _lookup(ctl), links, _allocatable(ctl)
            )
        except podenv.ConfigError as exc:
            raise _ContainerConfigError(container, str(exc)) from exc
    return out


def _failed_mount(ctl: Controllers, pod: Obj, key: str, exc: volumes.MountError) -> None:
    """The volume manager's FailedMount event; the next try after an exponential back-off."""
    ctl.event(pod, "Warning", "FailedMount", exc.event_message(), "kubelet")
    tries = ctl.backoffs.get("mount:" + key, 0)
    ctl.backoffs["mount:" + key] = tries + 1
    wait = min(MOUNT_RETRY_FIRST * 2**tries, MOUNT_RETRY_MAX)
    ctl.timers[key] = time.monotonic() + wait


def _config_error(ctl: Controllers, pod: Obj, key: str, exc: _ContainerConfigError) -> None:
    """``CreateContainerConfigError``: the sandbox is up, the container cannot be created."""
    status = pod["status"]
    for cond in status.get("conditions") or []:
        if cond["type"] == "PodReadyToStartContainers" and cond["status"] != "True":
            cond.update(status="True", lastTransitionTime=now_rfc3339())
    name = exc.container["name"]
    for cs in status.get("containerStatuses") or []:
        if cs["name"] == name:
            cs["state"] = {
                "waiting": {"reason": "CreateContainerConfigError", "message": exc.message}
            }
    pod = ctl.put(R.POD, pod)
    _pulled_event(ctl, pod, exc.container, ctl.delay)
    fp = f"spec.containers{{{name}}}"
    ctl.event(pod, "Warning", "Failed", f"Error: {exc.message}", "kubelet", fp)
    ctl.timers[key] = time.monotonic() + CONFIG_RETRY


def volume_sync_period() -> float:
    """Seconds between two updates of the mounted API data (``LABTOOLS_FAKE_VOLUME_SYNC``)."""
    try:
        return max(float(os.environ.get(VOLUME_SYNC_ENV, VOLUME_SYNC)), 0.1)
    except ValueError:
        return VOLUME_SYNC


def write_volumes(state_dir: Path, pod: Obj, payloads: dict[str, volumes.Payload | None]) -> None:
    """Write every volume's files where the kubelet keeps them (emptyDirs made once)."""
    for volume in pod["spec"].get("volumes") or []:
        if volume["name"] not in payloads:
            continue
        target = volumes.volume_dir(state_dir, pod, volume)
        files = payloads[volume["name"]]
        if files is None:
            volumes.empty_dir(target)
        else:
            volumes.write_atomic(target, files)


def container_mounts(state_dir: Path, pod: Obj, container: Obj) -> list[Any]:
    """The container's volumeMounts as host paths (``subPath`` resolved like the kubelet)."""
    from .pods import Mount  # the runtime's type; pods.py is only imported with a runtime

    by_name = {v["name"]: v for v in pod["spec"].get("volumes") or []}
    out = []
    for mount in container.get("volumeMounts") or []:
        volume = by_name.get(mount.get("name", ""))
        kind = volumes.volume_kind(volume) if volume else None
        if volume is None or kind is None:
            continue
        source = volumes.volume_dir(state_dir, pod, volume)
        if mount.get("subPath"):
            # a subPath is bound as the file it resolves to now: it never sees updates
            source = (source / mount["subPath"]).resolve()
        read_only = bool(mount.get("readOnly")) or kind in volumes.API_DATA
        out.append(Mount(source, str(mount["mountPath"]), read_only))
    return out


def _sync_volumes(ctl: Controllers, pod: Obj, key: str, now: float) -> None:
    """The kubelet's periodic volume sync: mounted API data follows its objects."""
    due = ctl.timers.get("vol:" + key)
    if due is None or state_dir(ctl) is None:
        ctl.timers["vol:" + key] = now + volume_sync_period()
        return
    if due > now:
        return
    ctl.timers["vol:" + key] = now + volume_sync_period()
    context = _context(ctl, pod)
    root = state_dir(ctl)
    assert root is not None
    for volume in pod["spec"].get("volumes") or []:
        if volumes.volume_kind(volume) not in volumes.API_DATA:
            continue
        try:
            files = volumes.payload(volume, context)
        except volumes.MountError as exc:
            ctl.event(pod, "Warning", "FailedMount", exc.event_message(), "kubelet")
            continue
        if files is not None:
            volumes.write_atomic(volumes.volume_dir(root, pod, volume), files)


def state_dir(ctl: Controllers) -> Path | None:
    """Where the runtime keeps its files (the kubelet's root dir), if there is a runtime."""
    root = getattr(ctl.runtime, "state_dir", None)
    return Path(root) if root is not None else None


def _start_worker(ctl: Controllers, pod: Obj, key: str, prepared: Prepared | None) -> None:
    ip, ids = "", {}
    started = time.monotonic()
    if pod["metadata"]["namespace"] != "kube-system" and ctl.runtime is not None:
        try:
            info = ctl.runtime.start(pod, **_service_links(ctl), **_launch(ctl, pod, prepared))
            ip = info.get("podIP", "")
            ids = info.get("containerIDs", {})
        except Exception:
            log.exception("pod runtime failed to start %s", key)
    took = time.monotonic() - started + ctl.delay
    with ctl.api.lock:
        cur = ctl.store.get(R.POD.key, pod["metadata"]["namespace"], pod["metadata"]["name"])
        alive = (
            cur is not None
            and cur["metadata"]["uid"] == pod["metadata"]["uid"]
            and not cur["metadata"].get("deletionTimestamp")
            and not ctl.stopping.is_set()
        )
        if alive and cur is not None:
            _mark_running(ctl, cur, ip or _alloc_ip(ctl), ids, took)
        ctl.starting.discard(key)
    if not alive:
        # deleted (or shutting down) while its sandbox was starting: nobody else will stop it
        stop_pod(ctl, pod)


def _launch(ctl: Controllers, pod: Obj, prepared: Prepared | None) -> dict[str, Any]:
    """The runtime's ``env`` and ``mounts`` arguments (volume files written first)."""
    root = state_dir(ctl)
    if prepared is None or root is None:
        return {}
    write_volumes(root, pod, prepared.payloads)
    mounts = {c["name"]: container_mounts(root, pod, c) for c in pod["spec"]["containers"]}

    def resolve(pod_ip: str) -> dict[str, dict[str, str]]:
        # the downward API's status.podIP is the sandbox's address: known only now
        with_ip = copy.deepcopy(pod)
        with_ip.setdefault("status", {}).update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
        try:
            return _variables(ctl, with_ip)
        except _ContainerConfigError:
            return prepared.env  # deleted since the check: start with what was resolved

    return {"env": resolve, "mounts": mounts}


def _service_links(ctl: Controllers) -> dict[str, Any]:
    # the kubelet gives a starting container the variables of the Services that exist now
    if not getattr(ctl.runtime, "service_links", False):
        return {}
    return {"services": ctl.store.list(R.SERVICE.key)}


def _alloc_ip(ctl: Controllers) -> str:
    used = {p.get("status", {}).get("podIP") for p in ctl.store.list(R.POD.key)}
    while True:
        ip = f"10.244.{ctl.next_ip // 254}.{ctl.next_ip % 254 + 1}"
        ctl.next_ip += 1
        if ip not in used:
            return ip


def _mark_running(ctl: Controllers, pod: Obj, ip: str, ids: dict[str, str], took: float) -> None:
    now = now_rfc3339()
    for c in pod["spec"].get("containers") or []:
        _container_start_events(ctl, pod, c, took)
    status = pod["status"]
    status["phase"] = "Running"
    status["podIP"] = ip
    status["podIPs"] = [{"ip": ip}]
    for cond in status.get("conditions") or []:
        if cond["status"] != "True":
            cond.update(status="True", lastTransitionTime=now)
            cond.pop("reason", None)
            cond.pop("message", None)
    restarts = {
        cs["name"]: cs.get("restartCount", 0) for cs in status.get("containerStatuses") or []
    }
    previous = {cs["name"]: cs for cs in status.get("containerStatuses") or []}
    status["containerStatuses"] = [
        {
            "containerID": _container_id(ids.get(c["name"]) or _cid(pod, c["name"])),
            "image": c.get("image"),
            "imageID": _image_id(c.get("image", "")),
            "lastState": previous.get(c["name"], {}).get("lastState", {}),
            "name": c["name"],
            "ready": True,
            "restartCount": restarts.get(c["name"], 0),
            "started": True,
            "state": {"running": {"startedAt": now}},
        }
        for c in pod["spec"].get("containers") or []
    ]
    _readiness_delay(ctl, pod, time.monotonic())
    pod = ctl.put(R.POD, pod)
    _arm_crashes(ctl, pod, time.monotonic())


def _matching(ctl: Controllers, kind: str, pod: Obj) -> list[Any]:
    """The pod-level faults of ``kind`` whose ``pod``/``namespace`` globs match this pod."""
    meta = pod["metadata"]
    return [
        f
        for f in ctl.faults.pod_faults(kind)
        if fnmatch.fnmatchcase(meta["name"], f.spec.get("pod", "*"))
        and fnmatch.fnmatchcase(meta["namespace"], f.spec.get("namespace", "*"))
    ]


def _readiness_delay(ctl: Controllers, pod: Obj, now: float) -> None:
    """A ``readiness-delay`` fault: Running but not Ready for its delay (a slow readiness probe)."""
    faults = _matching(ctl, "readiness-delay", pod)
    if not faults:
        return
    fault = faults[0]
    ctl.faults.use(fault)
    meta = pod["metadata"]
    key = f"{meta['namespace']}/{meta['name']}/{meta['uid']}"
    containers = pod["spec"].get("containers") or []
    for cs in pod["status"].get("containerStatuses") or []:
        cs["ready"] = False
    stamp = now_rfc3339()
    for cond in pod["status"].get("conditions") or []:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond.update(_unready(cond["type"], containers, stamp))
    ctl.timers["ready:" + key] = now + float(fault.spec.get("delay", 60))


def _ready_now(ctl: Controllers, pod: Obj, key: str, now: float) -> None:
    """The delayed readiness of a pod is due: its running containers turn Ready."""
    due = ctl.timers.get("ready:" + key)
    if due is None or due > now:
        return
    ctl.timers.pop("ready:" + key)
    pod = copy_of(pod)
    status = pod["status"]
    if not all(
        "running" in (cs.get("state") or {}) for cs in status.get("containerStatuses") or []
    ):
        return
    stamp = now_rfc3339()
    for cs in status.get("containerStatuses") or []:
        cs["ready"] = True
    for cond in status.get("conditions") or []:
        if cond["type"] in ("Ready", "ContainersReady") and cond["status"] != "True":
            cond.update(status="True", lastTransitionTime=stamp)
            cond.pop("reason", None)
            cond.pop("message", None)
    ctl.put(R.POD, pod)


def _arm_crashes(ctl: Controllers, pod: Obj, now: float) -> None:
    """A ``crash`` fault: each start of a matching container crashes after ``after`` seconds."""
    meta = pod["metadata"]
    key = f"{meta['namespace']}/{meta['name']}/{meta['uid']}"
    names = [c["name"] for c in pod["spec"].get("containers") or []]
    planned = []
    for fault in _matching(ctl, "crash", pod):
        container = fault.spec.get("container") or (names[0] if names else "")
        if container in names:
            planned.append((container, now + float(fault.spec.get("after", 1.0)), fault))
    if planned:
        ctl.crashes[key] = planned
        ctl.timers["crash:" + key] = min(due for _, due, _ in planned)


def _fire_crashes(ctl: Controllers, pod: Obj, key: str, now: float) -> None:
    """Crash the containers whose injected crash is due (lines logged, then killed)."""
    planned = ctl.crashes.get(key) or []
    due = [item for item in planned if item[1] <= now]
    if not due:
        return
    left = [item for item in planned if item[1] > now]
    if left:
        ctl.crashes[key] = left
        ctl.timers["crash:" + key] = min(d for _, d, _ in left)
    else:
        ctl.crashes.pop(key, None)
        ctl.timers.pop("crash:" + key, None)
    crash = getattr(ctl.runtime, "crash", None)
    for container, _, fault in due:
        ctl.faults.use(fault)
        if crash is not None:
            lines = [str(line) for line in fault.spec.get("lines") or []]
            code = int(fault.spec.get("exitCode", 1))
            crash(pod["metadata"]["namespace"], pod["metadata"]["name"], container, code, lines)


def _container_start_events(ctl: Controllers, pod: Obj, c: Obj, took: float) -> None:
    """Pulled (or already present), Created and Started, as the kubelet reports them."""
    fp = f"spec.containers{{{c['name']}}}"
    _pulled_event(ctl, pod, c, took)
    ctl.event(pod, "Normal", "Created", f"Created container {c['name']}", "kubelet", fp)
    ctl.event(pod, "Normal", "Started", f"Started container {c['name']}", "kubelet", fp)


def _pulled_event(ctl: Controllers, pod: Obj, c: Obj, took: float) -> None:
    """Pulled: how long the pull took, or that the image was already there."""
    image = c.get("image", "")
    fp = f"spec.containers{{{c['name']}}}"
    if c.get("imagePullPolicy") == "Always" or image not in ctl.pulled:
        secs = go_duration(took)
        size = 200_000_000 + int(hashlib.sha1(image.encode()).hexdigest()[:6], 16)
        ctl.event(
            pod,
            "Normal",
            "Pulled",
            f'Successfully pulled image "{image}" in '
            f"{secs} ({secs} including waiting). Image size: {size} bytes.",
            "kubelet",
            fp,
        )
        ctl.pulled.add(image)
    else:
        ctl.event(
            pod,
            "Normal",
            "Pulled",
            f'Container image "{image}" already present on machine',
            "kubelet",
            fp,
        )


# ---- kubelet: running containers ----------------------------------------------------------
def _watch_containers(ctl: Controllers, pod: Obj, key: str, now: float) -> None:
    """The kubelet's view of exited containers: complete, fail or restart with back-off."""
    if pod["metadata"]["namespace"] == "kube-system":
        return
    _sync_volumes(ctl, pod, key, now)
    states = getattr(ctl.runtime, "container_states", None)
    if states is None:
        return
    ctl.timers["poll"] = now + 1.0
    _ready_now(ctl, pod, key, now)
    _fire_crashes(ctl, pod, key, now)
    restart_due = ctl.timers.get("restart:" + key)
    if restart_due is not None:
        if restart_due <= now:
            ctl.timers.pop("restart:" + key)
            _restart(ctl, copy_of(pod), key)
        return
    if _definition_changed(ctl, pod, key):
        return
    exited = {
        n: c
        for n, c in states(pod["metadata"]["namespace"], pod["metadata"]["name"]).items()
        if c is not None
    }
    if exited:
        _containers_exited(ctl, copy_of(pod), key, exited, now)


def _definition_changed(ctl: Controllers, pod: Obj, key: str) -> bool:
    """A running container whose image was updated is killed and started with the new one.

    `computePodActions` (`pkg/kubelet/kuberuntime/kuberuntime_manager.go`): the container's
    spec hash changed, so `Killing` "Container C definition changed, will be restarted", then
    the new image is pulled and started (`restartCount` + 1, the old instance in `lastState`).
    """
    statuses = {cs["name"]: cs for cs in pod["status"].get("containerStatuses") or []}
    changed = [
        c["name"]
        for c in pod["spec"].get("containers") or []
        if c["name"] in statuses
        and "running" in (statuses[c["name"]].get("state") or {})
        and statuses[c["name"]].get("image") != c.get("image")
    ]
    if not changed:
        return False
    pod = copy_of(pod)
    stamp = now_rfc3339()
    for cs in pod["status"]["containerStatuses"]:
        if cs["name"] not in changed:
            continue
        fp = f"spec.containers{{{cs['name']}}}"
        message = f"Container {cs['name']} definition changed, will be restarted"
        ctl.event(pod, "Normal", "Killing", message, "kubelet", fp)
        # nginx ends 0 on the kubelet's SIGTERM (fast shutdown); the emulated images end 143
        code = 0 if _image_name(str(cs.get("image"))) == "nginx" else 143
        term = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": cs["state"]["running"].get("startedAt", stamp),
            "finishedAt": stamp,
            "containerID": cs.get("containerID", ""),
        }
        cs.update(ready=False, started=False, state={"terminated": term})
        cs["lastState"] = {"terminated": dict(term)}
    for c in pod["spec"]["containers"]:
        if c["name"] in changed:
            fp = f"spec.containers{{{c['name']}}}"
            ctl.event(pod, "Normal", "Pulling", f'Pulling image "{c["image"]}"', "kubelet", fp)
    _restart(ctl, pod, key)
    return True


def _image_name(image: str) -> str:
    last = image.split("@")[0].rsplit("/", 1)[-1]
    return last.split(":")[0]


def _containers_exited(
    ctl: Controllers, pod: Obj, key: str, exited: dict[str, int], now: float
) -> None:
    stamp = now_rfc3339()
    status = pod["status"]
    restart = _record_exits(pod, exited, stamp)
    finished = not restart and all(
        "terminated" in (cs.get("state") or {}) for cs in status.get("containerStatuses") or []
    )
    if finished:
        failed = any(cs["state"]["terminated"]["exitCode"] for cs in status["containerStatuses"])
        status["phase"] = "Failed" if failed else "Succeeded"
    for cond in status.get("conditions") or []:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond.update(
                status="False",
                lastTransitionTime=stamp,
                reason="PodCompleted" if finished else "ContainersNotReady",
            )
    if restart:
        _restart_after_backoff(ctl, pod, key, restart, now)
        return
    ctl.put(R.POD, pod)
    if finished:
        stop_pod(ctl, pod)


def _restart_after_backoff(
    ctl: Controllers, pod: Obj, key: str, names: list[str], now: float
) -> None:
    """``doBackOff`` (``pkg/kubelet/kuberuntime/kuberuntime_manager.go``) for exited containers.

    The first exit restarts at once and starts the back-off (10 s); an exit within the
    back-off waits as ``CrashLoopBackOff`` (``back-off 10s restarting failed container=...``,
    event ``BackOff``) until it ends, and the restart after it doubles the back-off (to 5 min).
    """
    meta = pod["metadata"]
    who = f"{meta['name']}_{meta['namespace']}({meta['uid']})"
    waits = []
    for cs in pod["status"].get("containerStatuses") or []:
        if cs["name"] not in names:
            continue
        bkey = f"{meta['uid']}/{cs['name']}"
        if ctl.crash_backoff.in_backoff_since(bkey, now, now):
            delay = ctl.crash_backoff.delay(bkey)
            msg = f"back-off {go_seconds(delay)} restarting failed container={cs['name']} pod={who}"
            cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": msg}}
            waits.append((cs["name"], now + delay * ctl.crash_backoff.scale))
    pod = ctl.put(R.POD, pod)
    for name, _ in waits:
        message = f"Back-off restarting failed container {name} in pod {who}"
        ctl.event(pod, "Warning", "BackOff", message, "kubelet", f"spec.containers{{{name}}}")
    ctl.timers["restart:" + key] = max([now, *(due for _, due in waits)])


def _record_exits(pod: Obj, exited: dict[str, int], stamp: str) -> list[str]:
    """Mark exited containers terminated; the names of those the restart policy restarts."""
    policy = pod["spec"].get("restartPolicy", "Always")
    restart = []
    for cs in pod["status"].get("containerStatuses") or []:
        code = exited.get(cs["name"])
        if code is None or "terminated" in (cs.get("state") or {}):
            continue
        started = ((cs.get("state") or {}).get("running") or {}).get("startedAt", stamp)
        term = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": started,
            "finishedAt": stamp,
            "containerID": cs.get("containerID", ""),
        }
        cs.update(ready=False, started=False)
        cs["state"] = {"terminated": term}
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            restart.append(cs["name"])
            cs["lastState"] = {"terminated": dict(term)}
    return restart


def _restart(ctl: Controllers, pod: Obj, key: str) -> None:
    now = time.monotonic()
    for cs in pod["status"].get("containerStatuses") or []:
        if "running" not in (cs.get("state") or {}):
            cs["restartCount"] = int(cs.get("restartCount", 0)) + 1
            ctl.crash_backoff.next(f"{pod['metadata']['uid']}/{cs['name']}", now)
    pod = ctl.put(R.POD, pod)
    stop_pod(ctl, pod, keep_volumes=True)
    prepared = None
    if ctl.runtime is not None:
        try:
            # a restarted container gets its variables resolved again; volumes stay mounted
            prepared = Prepared(_payloads(ctl, pod), _variables(ctl, pod))
        except (volumes.MountError, _ContainerConfigError):
            log.info("restart of %s: config not ready, starting with what it had", key)
    ctl.starting.add(key)
    ctl.spawn(threading.Thread(target=_start_worker, args=(ctl, pod, key, prepared), daemon=True))


# ---- kubelet: stopping --------------------------------------------------------------------
def _terminate(ctl: Controllers, pod: Obj, key: str) -> None:
    meta = pod["metadata"]
    if meta.get("finalizers"):
        return
    due = ctl.timers.setdefault("del:" + key, time.monotonic() + min(ctl.delay, 0.3))
    if due > time.monotonic():
        return
    stop_pod(ctl, pod)
    ctl.timers.pop("del:" + key, None)
    for c in pod["spec"].get("containers") or []:
        if (pod.get("status") or {}).get("phase") == "Running":
            ctl.event(
                pod,
                "Normal",
                "Killing",
                f"Stopping container {c['name']}",
                "kubelet",
                f"spec.containers{{{c['name']}}}",
            )
    ctl.store.remove(R.POD.key, meta["namespace"], meta["name"])


def stop_pod(ctl: Controllers, pod: Obj, keep_volumes: bool = False) -> None:
    """Stop the pod's sandbox in the runtime (kube-system pods have none), remove its volumes."""
    if ctl.runtime is None or pod["metadata"].get("namespace") == "kube-system":
        return
    try:
        ctl.runtime.stop(pod["metadata"]["namespace"], pod["metadata"]["name"])
    except Exception:
        log.exception("pod runtime failed to stop %s", pod["metadata"]["name"])
    root = state_dir(ctl)
    if root is not None and not keep_volumes:
        shutil.rmtree(root / "kubelet" / "pods" / pod["metadata"]["uid"], ignore_errors=True)


# ---- container and image identifiers ------------------------------------------------------
def _container_id(cid: str) -> str:
    return cid if "://" in cid else f"docker://{cid}"


def _cid(pod: Obj, name: str) -> str:
    return hashlib.sha256(f"{pod['metadata']['uid']}/{name}".encode()).hexdigest()


def _image_id(image: str) -> str:
    repo = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    if "kubernetes-bootcamp" in image and image.endswith(":v1"):
        digest = IMAGE_DIGEST
    else:
        digest = "sha256:" + hashlib.sha256(image.encode()).hexdigest()
    return f"docker-pullable://{repo}@{digest}"
