"""The scheduler and the kubelet: bind pods, start sandboxes, report containers, terminate pods."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from . import resources as R
from .store import Obj, now_rfc3339

if TYPE_CHECKING:
    from .controllers import Controllers

# keep the logger name of before the split: log output and filters name the controllers
log = logging.getLogger(f"{__package__}.controllers")

MISSING_IMAGES_ENV = "LABTOOLS_FAKE_MISSING_IMAGES"
IMAGE_DIGEST = "sha256:0d6b8ee63bb57c5f5b6156f446b3bc3b3c143d233037f3a2f00e279c8fcc64af"
NODE_IP = "192.168.49.2"


def image_missing(image: str) -> bool:
    """Images that cannot be pulled: the bootcamp `v10` tag and those listed in the env."""
    listed = {i.strip() for i in os.environ.get(MISSING_IMAGES_ENV, "").split(",") if i.strip()}
    if image in listed:
        return True
    name, _, tag = image.rpartition(":")
    if "/" in tag:
        return False
    return (
        (name.endswith("kubernetes-bootcamp") and tag == "v10")
        or "does-not-exist" in image
        or "nonexistent" in image
    )


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
    for pod in ctl.store.list(R.POD.key):
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}/{meta['uid']}"
        if meta.get("deletionTimestamp"):
            _terminate(ctl, pod, key)
            continue
        if not pod["spec"].get("nodeName"):
            _schedule(ctl, pod)
            ctl.timers[key] = now + ctl.delay
            continue
        phase = pod.get("status", {}).get("phase")
        if phase == "Pending" and key not in ctl.starting:
            if key not in ctl.timers:
                ctl.timers[key] = now + ctl.delay
            if ctl.timers[key] <= now:
                _kubelet_start(ctl, pod, key)
        elif phase == "Running" and key not in ctl.starting:
            _watch_containers(ctl, pod, key, now)
    live = {
        f"{p['metadata']['namespace']}/{p['metadata']['name']}/{p['metadata']['uid']}"
        for p in ctl.store.list(R.POD.key)
    }
    ctl.timers = {k: v for k, v in ctl.timers.items() if k.split(":", 1)[-1] in live or k == "poll"}


# ---- scheduler ----------------------------------------------------------------------------
def _schedule(ctl: Controllers, pod: Obj) -> None:
    meta = pod["metadata"]
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
    for c in containers:
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
def _kubelet_start(ctl: Controllers, pod: Obj, key: str) -> None:
    containers = pod["spec"].get("containers") or []
    missing = [c for c in containers if image_missing(c.get("image", ""))]
    if missing:
        _image_backoff(ctl, pod, key, missing)
        return
    ctl.starting.add(key)
    ctl.spawn(
        threading.Thread(
            target=_start_worker,
            args=(ctl, pod, key),
            daemon=True,
            name=f"start-{pod['metadata']['name']}",
        )
    )


def _start_worker(ctl: Controllers, pod: Obj, key: str) -> None:
    ip, ids = "", {}
    started = time.monotonic()
    if pod["metadata"]["namespace"] != "kube-system" and ctl.runtime is not None:
        try:
            info = ctl.runtime.start(pod, **_service_links(ctl))
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
    ctl.put(R.POD, pod)


def _container_start_events(ctl: Controllers, pod: Obj, c: Obj, took: float) -> None:
    """Pulled (or already present), Created and Started, as the kubelet reports them."""
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
    ctl.event(pod, "Normal", "Created", f"Created container {c['name']}", "kubelet", fp)
    ctl.event(pod, "Normal", "Started", f"Started container {c['name']}", "kubelet", fp)


def _image_backoff(ctl: Controllers, pod: Obj, key: str, missing: list[Obj]) -> None:
    status = pod["status"]
    first = all(
        ((cs.get("state") or {}).get("waiting") or {}).get("reason") == "ContainerCreating"
        for cs in status.get("containerStatuses") or []
    )
    for cond in status.get("conditions") or []:
        if cond["type"] == "PodReadyToStartContainers":
            cond["status"] = "True"
    names = {c["name"] for c in missing}
    reason = "ErrImagePull" if first else "ImagePullBackOff"
    for cs in status.get("containerStatuses") or []:
        if cs["name"] in names:
            img = cs.get("image")
            msg = (
                (
                    f"Error response from daemon: manifest for {img} not found: "
                    "manifest unknown: manifest unknown"
                )
                if first
                else f'Back-off pulling image "{img}"'
            )
            cs["state"] = {"waiting": {"reason": reason, "message": msg}}
    pod = ctl.put(R.POD, pod)
    for c in missing:
        _pull_failed_events(ctl, pod, c, first)
    ctl.timers[key] = time.monotonic() + (ctl.delay if first else 10.0)


def _pull_failed_events(ctl: Controllers, pod: Obj, c: Obj, first: bool) -> None:
    """ErrImagePull on the first failed pull, ImagePullBackOff on the later ones."""
    fp = f"spec.containers{{{c['name']}}}"
    img = c.get("image", "")
    if first:
        ctl.event(
            pod,
            "Warning",
            "Failed",
            f'Failed to pull image "{img}": Error '
            f"response from daemon: manifest for {img} not found: manifest "
            "unknown: manifest unknown",
            "kubelet",
            fp,
        )
        ctl.event(pod, "Warning", "Failed", "Error: ErrImagePull", "kubelet", fp)
    else:
        ctl.event(pod, "Normal", "BackOff", f'Back-off pulling image "{img}"', "kubelet", fp)
        ctl.event(pod, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet", fp)


# ---- kubelet: running containers ----------------------------------------------------------
def _watch_containers(ctl: Controllers, pod: Obj, key: str, now: float) -> None:
    """The kubelet's view of exited containers: complete, fail or restart with back-off."""
    states = getattr(ctl.runtime, "container_states", None)
    if states is None or pod["metadata"]["namespace"] == "kube-system":
        return
    ctl.timers["poll"] = now + 1.0
    restart_due = ctl.timers.get("restart:" + key)
    if restart_due is not None:
        if restart_due <= now:
            ctl.timers.pop("restart:" + key)
            _restart(ctl, pod, key)
        return
    exited = {
        n: c
        for n, c in states(pod["metadata"]["namespace"], pod["metadata"]["name"]).items()
        if c is not None
    }
    if exited:
        _containers_exited(ctl, pod, key, exited, now)


def _containers_exited(
    ctl: Controllers, pod: Obj, key: str, exited: dict[str, int], now: float
) -> None:
    stamp = now_rfc3339()
    status = pod["status"]
    restart = _record_exits(pod, exited, stamp)
    finished = all(
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
    pod = ctl.put(R.POD, pod)
    if restart:
        meta = pod["metadata"]
        for name in exited:
            ctl.event(
                pod,
                "Warning",
                "BackOff",
                f"Back-off restarting failed container "
                f"{name} in pod {meta['name']}_{meta['namespace']}({meta['uid']})",
                "kubelet",
                f"spec.containers{{{name}}}",
            )
        ctl.timers["restart:" + key] = now + 10.0
    elif finished:
        stop_pod(ctl, pod)


def _record_exits(pod: Obj, exited: dict[str, int], stamp: str) -> bool:
    """Mark exited containers terminated or crash-looping; whether any is to restart."""
    policy = pod["spec"].get("restartPolicy", "Always")
    restart = False
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
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            restart = True
            cs["lastState"] = {"terminated": term}
            meta = pod["metadata"]
            msg = (
                f"back-off 10s restarting failed container={cs['name']} "
                f"pod={meta['name']}_{meta['namespace']}({meta['uid']})"
            )
            cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": msg}}
        else:
            cs["state"] = {"terminated": term}
    return restart


def _restart(ctl: Controllers, pod: Obj, key: str) -> None:
    for cs in pod["status"].get("containerStatuses") or []:
        if "waiting" in (cs.get("state") or {}):
            cs["restartCount"] = int(cs.get("restartCount", 0)) + 1
    pod = ctl.put(R.POD, pod)
    stop_pod(ctl, pod)
    ctl.starting.add(key)
    ctl.spawn(threading.Thread(target=_start_worker, args=(ctl, pod, key), daemon=True))


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


def stop_pod(ctl: Controllers, pod: Obj) -> None:
    """Stop the pod's sandbox in the runtime (kube-system pods have none)."""
    if ctl.runtime is None or pod["metadata"].get("namespace") == "kube-system":
        return
    try:
        ctl.runtime.stop(pod["metadata"]["namespace"], pod["metadata"]["name"])
    except Exception:
        log.exception("pod runtime failed to stop %s", pod["metadata"]["name"])


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
