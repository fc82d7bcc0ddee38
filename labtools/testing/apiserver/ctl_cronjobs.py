"""The CronJob controller: Jobs at the scheduled minutes, active and history bookkeeping.

After `pkg/controller/cronjob/cronjob_controllerv2.go` and `utils.go` (v1.32): the most recent
unmet schedule time since `lastScheduleTime` (or creation), in `spec.timeZone` (the controller
manager's UTC otherwise); a Job named `<cronjob>-<scheduled unix time / 60>` with the template's
labels and annotations plus `batch.kubernetes.io/cronjob-scheduled-timestamp`, owned by the
CronJob (event `SuccessfulCreate` "Created job X"); `concurrencyPolicy` Forbid (`JobAlreadyActive`)
and Replace; `startingDeadlineSeconds` (`MissSchedule`); finished Jobs leave `status.active`
(`SawCompletedJob` "Saw completed job: X, condition: Complete"), set `lastSuccessfulTime`, and
the oldest beyond `successfulJobsHistoryLimit`/`failedJobsHistoryLimit` are deleted
(`SuccessfulDelete` "Deleted job X").
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import resources as R
from .status import ApiError
from .store import Obj, copy_of
from .validation import schedule_error, schedule_matcher

if TYPE_CHECKING:
    from .controllers import Controllers

CRONJOBS, JOBS = ("batch", "cronjobs"), ("batch", "jobs")
SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_LOOKBACK = 100  # the controller gives up counting beyond 100 missed start times


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zone(cronjob: Obj) -> dt.tzinfo:
    spec = cronjob.get("spec") or {}
    name = spec.get("timeZone")
    schedule = spec.get("schedule") or ""
    if not name and schedule.startswith(("TZ=", "CRON_TZ=")):
        name = schedule.split(" ", 1)[0].split("=", 1)[1]
    try:
        return ZoneInfo(name) if name else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _unmet(cronjob: Obj, now: dt.datetime) -> tuple[dt.datetime | None, int]:
    """The most recent scheduled time in (last schedule or creation, now], and how many."""
    spec = cronjob.get("spec") or {}
    schedule = spec.get("schedule") or ""
    if schedule_error(schedule) is not None or schedule.startswith("@every"):
        return None, 0
    matches = schedule_matcher(schedule)
    status = cronjob.get("status") or {}
    since = _parse_time(status.get("lastScheduleTime")) or _parse_time(
        cronjob["metadata"].get("creationTimestamp")
    )
    if since is None:
        return None, 0
    zone = _zone(cronjob)
    minute = since.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    latest, count = None, 0
    # walk minutes backwards from now, enough for any hourly-or-faster schedule and one day
    cursor = now.replace(second=0, microsecond=0)
    steps = 0
    while cursor >= minute and steps < 60 * 24 * 2:
        local = cursor.astimezone(zone)
        weekday = (local.weekday() + 1) % 7  # Go: Sunday is 0
        if matches(local.minute, local.hour, local.day, local.month, weekday):
            latest = latest or cursor
            count += 1
            if count > MAX_LOOKBACK:
                break
        cursor -= dt.timedelta(minutes=1)
        steps += 1
    return latest, count


def _job_for(cronjob: Obj, when: dt.datetime) -> Obj:
    meta = cronjob["metadata"]
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED] = when.astimezone(_zone(cronjob)).isoformat().replace("+00:00", "Z")
    job: Obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{meta['name']}-{int(when.timestamp()) // 60}",
            "namespace": meta["namespace"],
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": copy_of(template.get("spec") or {}),
    }
    if tmeta.get("labels"):
        job["metadata"]["labels"] = dict(tmeta["labels"])
    return job


def _ref(job: Obj) -> Obj:
    meta = job["metadata"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": meta["name"],
        "namespace": meta["namespace"],
        "resourceVersion": meta.get("resourceVersion", ""),
        "uid": meta["uid"],
    }


def _finished(job: Obj) -> str | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


def sync_cronjobs(ctl: Controllers) -> None:
    """One pass over every CronJob; wake again at the next minute."""
    now = dt.datetime.now(dt.UTC)
    for cronjob in ctl.store.list(CRONJOBS):
        if not cronjob["metadata"].get("deletionTimestamp"):
            _sync_one(ctl, cronjob, now)
    ctl.timers["cron"] = time.monotonic() + 60.5 - now.second - now.microsecond / 1e6


def _owned_jobs(ctl: Controllers, cronjob: Obj) -> list[Obj]:
    uid = cronjob["metadata"]["uid"]
    return [
        job
        for job in ctl.store.list(JOBS, cronjob["metadata"]["namespace"])
        if any(r.get("uid") == uid for r in job["metadata"].get("ownerReferences") or [])
    ]


def _sync_one(ctl: Controllers, cronjob: Obj, now: dt.datetime) -> None:
    cronjob = copy_of(cronjob)
    before = copy_of(cronjob.get("status") or {})
    status = cronjob.setdefault("status", {})
    jobs = _owned_jobs(ctl, cronjob)
    by_uid = {j["metadata"]["uid"]: j for j in jobs}
    active = []
    for ref in status.get("active") or []:
        job = by_uid.get(ref.get("uid"))
        if job is None:
            continue
        outcome = _finished(job)
        if outcome is None:
            active.append(ref)
            continue
        message = f"Saw completed job: {job['metadata']['name']}, condition: {outcome}"
        ctl.event(cronjob, "Normal", "SawCompletedJob", message, "cronjob-controller")
        if outcome == "Complete":
            done = (job.get("status") or {}).get("completionTime")
            if done:
                status["lastSuccessfulTime"] = done
    status["active"] = active
    _cleanup(ctl, cronjob, jobs)
    spec = cronjob.get("spec") or {}
    if not spec.get("suspend"):
        _maybe_start(ctl, cronjob, now, by_uid)
    if not status["active"]:
        status.pop("active")
    if status != before:
        ctl.put(R.preferred(*CRONJOBS), cronjob)


def _maybe_start(ctl: Controllers, cronjob: Obj, now: dt.datetime, by_uid: dict[str, Obj]) -> None:
    spec, status = cronjob["spec"], cronjob["status"]
    when, _ = _unmet(cronjob, now)
    if when is None:
        return
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None and when < now - dt.timedelta(seconds=int(deadline)):
        message = f"Missed scheduled time to start a job: {when.isoformat()}"
        ctl.event(cronjob, "Warning", "MissSchedule", message, "cronjob-controller")
        status["lastScheduleTime"] = _stamp(when)
        return
    policy = spec.get("concurrencyPolicy") or "Allow"
    if status["active"] and policy == "Forbid":
        message = (
            "Not starting job because prior execution is running and concurrency policy is Forbid"
        )
        ctl.event(cronjob, "Normal", "JobAlreadyActive", message, "cronjob-controller")
        return
    if status["active"] and policy == "Replace":
        for ref in status["active"]:
            _delete_job(ctl, cronjob, by_uid.get(ref["uid"]))
        status["active"] = []
    job = _job_for(cronjob, when)
    try:
        made = ctl.api.create(R.preferred(*JOBS), job["metadata"]["namespace"], job, internal=True)
    except ApiError:
        return  # already made (a restart in between): counted on the next pass
    message = f"Created job {made['metadata']['name']}"
    ctl.event(cronjob, "Normal", "SuccessfulCreate", message, "cronjob-controller")
    status["active"] = [*status["active"], _ref(made)]
    status["lastScheduleTime"] = _stamp(when)


def _delete_job(ctl: Controllers, cronjob: Obj, job: Obj | None) -> None:
    if job is None:
        return
    meta = job["metadata"]
    try:
        ctl.api.delete(
            R.preferred(*JOBS), meta["namespace"], meta["name"], {"propagationPolicy": "Background"}
        )
    except ApiError:
        return
    ctl.event(
        cronjob, "Normal", "SuccessfulDelete", f"Deleted job {meta['name']}", "cronjob-controller"
    )


def _cleanup(ctl: Controllers, cronjob: Obj, jobs: list[Obj]) -> None:
    """cleanupFinishedJobs: keep the newest N successful and M failed Jobs."""
    spec = cronjob.get("spec") or {}
    limits: dict[str, Any] = {
        "Complete": spec.get("successfulJobsHistoryLimit"),
        "Failed": spec.get("failedJobsHistoryLimit"),
    }
    for outcome, limit in limits.items():
        if limit is None:
            continue
        done = [j for j in jobs if _finished(j) == outcome]
        done.sort(
            key=lambda j: (
                (j.get("status") or {}).get("startTime")
                or j["metadata"].get("creationTimestamp", "")
            )
        )
        for job in done[: max(0, len(done) - int(limit))]:
            _delete_job(ctl, cronjob, job)
