"""The Job controller: pods from the template until enough succeed or the back-off limit is hit."""

from __future__ import annotations

import copy
import time
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from . import resources as R
from .store import now_rfc3339

if TYPE_CHECKING:
    from .controllers import Controllers

Obj = dict[str, Any]
UID_LABEL = "batch.kubernetes.io/controller-uid"
NAME_LABEL = "batch.kubernetes.io/job-name"
JOB = R.preferred("batch", "jobs")
# the real controller backs off 10s, 20s, 40s... between failed pods; a lab wants it short
BACKOFF_SECONDS = 1.0
# when each job may create its next pod after a failure, per cluster (ctl.timers is pruned)
_BACKOFF: weakref.WeakKeyDictionary[Controllers, dict[str, float]] = weakref.WeakKeyDictionary()


def generate_job_selector(job: Obj) -> None:
    """`generateSelector` of the Job strategy: controller-uid labels and a matching selector."""
    spec = job.setdefault("spec", {})
    if spec.get("manualSelector"):
        return
    meta = job.setdefault("metadata", {})
    uid = meta.setdefault("uid", str(uuid.uuid4()))
    tpl_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    labels = tpl_meta.setdefault("labels", {})
    labels.update(
        {
            UID_LABEL: uid,
            NAME_LABEL: meta.get("name", ""),
            "controller-uid": uid,
            "job-name": meta.get("name", ""),
        }
    )
    spec["selector"] = {"matchLabels": {UID_LABEL: uid}}


def _condition(ctype: str, reason: str, message: str, stamp: str) -> Obj:
    return {
        "type": ctype,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": stamp,
        "lastTransitionTime": stamp,
    }


def _finished(job: Obj) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def sync_jobs(ctl: Controllers) -> None:
    """One pass of the Job controller."""
    for job in ctl.store.list(JOB.key):
        if job["metadata"].get("deletionTimestamp") or _finished(job):
            continue
        if (job.get("spec") or {}).get("suspend"):
            continue
        _sync_job(ctl, job)


def _owned(ctl: Controllers, job: Obj) -> list[Obj]:
    uid = job["metadata"]["uid"]
    return [
        p
        for p in ctl.store.list(R.POD.key, job["metadata"]["namespace"])
        if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
    ]


def _sync_job(ctl: Controllers, job: Obj) -> None:
    spec = job["spec"]
    pods = _owned(ctl, job)
    phases = [(p.get("status") or {}).get("phase") for p in pods]
    succeeded = phases.count("Succeeded")
    failed = phases.count("Failed")
    active = [p for p, ph in zip(pods, phases, strict=True) if ph not in ("Succeeded", "Failed")]
    completions = int(spec.get("completions") or 1)
    stamp = now_rfc3339()
    status = job.setdefault("status", {})
    before = copy.deepcopy(status)
    status.setdefault("startTime", stamp)
    if failed > int(spec.get("backoffLimit", 6)):
        _fail(ctl, job, active, stamp)
    elif succeeded >= completions:
        _complete(ctl, job, stamp)
    else:
        want = min(int(spec.get("parallelism", 1)), completions - succeeded) - len(active)
        backoff = _BACKOFF.setdefault(ctl, {})
        due = backoff.get(job["metadata"]["uid"], 0.0)
        if want > 0 and failed and due > time.monotonic():
            want = 0
        for _ in range(max(want, 0)):
            active.append(_create_pod(ctl, job))
        if failed and want > 0:
            backoff[job["metadata"]["uid"]] = time.monotonic() + BACKOFF_SECONDS
    _counts(status, active, succeeded, failed)
    if status != before:
        ctl.store.put(JOB.key, job)


def _counts(status: Obj, active: list[Obj], succeeded: int, failed: int) -> None:
    for key, value in (("active", len(active)), ("succeeded", succeeded), ("failed", failed)):
        if value:
            status[key] = value
        else:
            status.pop(key, None)
    status["ready"] = sum(
        1
        for p in active
        for c in (p.get("status") or {}).get("conditions") or []
        if c.get("type") == "Ready" and c.get("status") == "True"
    )
    status["terminating"] = 0
    status["uncountedTerminatedPods"] = {}


def _complete(ctl: Controllers, job: Obj, stamp: str) -> None:
    status = job["status"]
    status["completionTime"] = stamp
    status["conditions"] = [
        _condition(
            "SuccessCriteriaMet",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
            stamp,
        ),
        _condition(
            "Complete", "CompletionsReached", "Reached expected number of succeeded pods", stamp
        ),
    ]
    ctl.api.record_event(job, "Normal", "Completed", "Job completed", "job-controller", "", "")


def _fail(ctl: Controllers, job: Obj, active: list[Obj], stamp: str) -> None:
    message = "Job has reached the specified backoff limit"
    job["status"]["conditions"] = [
        _condition("FailureTarget", "BackoffLimitExceeded", message, stamp),
        _condition("Failed", "BackoffLimitExceeded", message, stamp),
    ]
    for pod in active:
        ctl.api.delete(R.POD, pod["metadata"]["namespace"], pod["metadata"]["name"], {})
    active.clear()
    ctl.api.record_event(job, "Warning", "BackoffLimitExceeded", message, "job-controller", "", "")


def _create_pod(ctl: Controllers, job: Obj) -> Obj:
    tpl = copy.deepcopy(job["spec"]["template"])
    meta = tpl.get("metadata") or {}
    jmeta = job["metadata"]
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": jmeta["name"] + "-",
            "namespace": jmeta["namespace"],
            "labels": meta.get("labels") or {},
            "ownerReferences": [
                {
                    "apiVersion": JOB.api_version,
                    "kind": "Job",
                    "name": jmeta["name"],
                    "uid": jmeta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": tpl.get("spec") or {},
    }
    if meta.get("annotations"):
        pod["metadata"]["annotations"] = meta["annotations"]
    created = ctl.api.create(
        R.POD, jmeta["namespace"], pod, internal=True, opts=ctl.api.controller_opts()
    )
    ctl.api.record_event(
        job,
        "Normal",
        "SuccessfulCreate",
        f"Created pod: {created['metadata']['name']}",
        "job-controller",
        "",
        "",
    )
    return created
