"""Field validation of pod specs, Services and CronJobs, with the v1.32 texts.

Sources: `pkg/apis/core/validation/validation.go` (validateContainerCommon's order: name, image,
ports, imagePullPolicy, resources; then the pod's restartPolicy), `pkg/apis/apps/validation`
(`ValidatePodTemplateSpecForReplicaSet`: only `Always`), `pkg/apis/batch/validation`
(`validateJobSpec`: `Required value: valid values: "OnFailure", "Never"`; `validateCronJobSpec`:
`cron.ParseStandard`'s error), and robfig/cron v3 `parser.go` for the schedule texts.
"""

from __future__ import annotations

import re
from typing import Any

from .quantity import QuantityError, canonical, parse

Obj = dict[str, Any]
Cause = tuple[str, str, str]

RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("SCTP", "TCP", "UDP")
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
PORT_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def go_q(value: Any) -> str:
    """Go's %q of a string value (what field.NotSupported and Duplicate print)."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def inv(path: str, shown: str, message: str) -> Cause:
    """field.Invalid: `Invalid value: <shown>: <message>` (`shown` already formatted)."""
    return (path, "FieldValueInvalid", f"Invalid value: {shown}: {message}")


def dup(path: str, value: Any) -> Cause:
    """field.Duplicate."""
    return (path, "FieldValueDuplicate", f"Duplicate value: {go_q(value)}")


def not_supported(path: str, value: Any, allowed: tuple[str, ...]) -> Cause:
    """field.NotSupported: `Unsupported value: "x": supported values: "a", "b"`."""
    supported = ", ".join(go_q(a) for a in allowed)
    return (
        path,
        "FieldValueNotSupported",
        f"Unsupported value: {go_q(value)}: supported values: {supported}",
    )


def container_causes(containers: list[Obj], prefix: str) -> list[Cause]:
    """Per container, after its name and image (checked by the caller): ports, pull policy,
    resources; then duplicate names."""
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, c in enumerate(containers):
        base = f"{prefix}[{i}]"
        name = c.get("name")
        if name and name in seen:
            causes.append(dup(f"{base}.name", name))
        seen.add(str(name))
        causes += _port_causes(c.get("ports") or [], f"{base}.ports")
        policy = c.get("imagePullPolicy")
        if policy and policy not in PULL_POLICIES:
            causes.append(not_supported(f"{base}.imagePullPolicy", policy, PULL_POLICIES))
        causes += _resource_causes(c.get("resources") or {}, f"{base}.resources")
    return causes


def _port_causes(ports: list[Obj], prefix: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        base = f"{prefix}[{i}]"
        name = port.get("name")
        if name:
            if len(name) > 15:
                causes.append(
                    (
                        f"{base}.name",
                        "FieldValueInvalid",
                        f'Invalid value: "{name}": must be no more than 15 characters',
                    )
                )
            elif not PORT_NAME_RE.match(name) or not re.search("[a-z]", name) or "--" in name:
                causes.append(
                    (
                        f"{base}.name",
                        "FieldValueInvalid",
                        f'Invalid value: "{name}": {_port_name_msg(name)}',
                    )
                )
            elif name in names:
                causes.append(
                    (f"{base}.name", "FieldValueDuplicate", f"Duplicate value: {go_q(name)}")
                )
            names.add(name)
        number = port.get("containerPort")
        if not number:
            causes.append((f"{base}.containerPort", "FieldValueRequired", "Required value"))
        elif isinstance(number, int) and not 0 < number < 65536:
            causes.append(
                (
                    f"{base}.containerPort",
                    "FieldValueInvalid",
                    f"Invalid value: {number}: must be between 1 and 65535, inclusive",
                )
            )
        protocol = port.get("protocol")
        if protocol and protocol not in PROTOCOLS:
            causes.append(not_supported(f"{base}.protocol", protocol, PROTOCOLS))
    return causes


def _port_name_msg(name: str) -> str:
    # validation.IsValidPortName: one message per broken rule, the first one reported here
    if not re.fullmatch(r"[-a-z0-9]+", name):
        return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
    if "--" in name:
        return "must not contain consecutive hyphens"
    if not re.search("[a-z]", name):
        return "must contain at least one letter (a-z)"
    return "must not begin or end with a hyphen"


def _resource_causes(resources: Obj, prefix: str) -> list[Cause]:
    """ValidateResourceRequirements: a request above its limit (`requests[cpu]`)."""
    causes: list[Cause] = []
    limits = resources.get("limits") or {}
    requests = resources.get("requests") or {}
    for name, request in requests.items():
        limit = limits.get(name)
        if limit is None:
            continue
        try:
            asked, most = parse(request), parse(limit)
        except QuantityError:
            continue  # the quantity's own error is reported where it is parsed
        if asked.nanos > most.nanos:
            text = f"must be less than or equal to {name} limit of {canonical(most)}"
            causes.append(
                (
                    f"{prefix}.requests[{name}]",
                    "FieldValueInvalid",
                    f'Invalid value: "{canonical(asked)}": {text}',
                )
            )
    return causes


def restart_policy_causes(kind: str, spec: Obj, prefix: str) -> list[Cause]:
    """The restart policy a pod, a ReplicaSet-like template or a Job's template may have."""
    policy = spec.get("restartPolicy") or ""
    path = f"{prefix}.restartPolicy"
    if kind in ("Job", "CronJob"):
        if policy in ("Always", ""):
            return [
                (path, "FieldValueRequired", 'Required value: valid values: "OnFailure", "Never"')
            ]
        if policy not in ("OnFailure", "Never"):
            return [not_supported(path, policy, ("OnFailure", "Never"))]
        return []
    if policy and policy not in RESTART_POLICIES:
        return [not_supported(path, policy, RESTART_POLICIES)]
    if kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet") and policy != "Always":
        return [not_supported(path, policy, ("Always",))]
    return []


def service_type_causes(spec: Obj) -> list[Cause]:
    """ValidateService: the type must be one of the four."""
    kind = spec.get("type")
    if kind and kind not in SERVICE_TYPES:
        return [not_supported("spec.type", kind, SERVICE_TYPES)]
    return []


# ---- CronJob schedules (robfig/cron v3 ParseStandard) -------------------------------------
MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec"
DAYS = "sun mon tue wed thu fri sat"
BOUNDS: dict[str, tuple[int, int, dict[str, int]]] = {
    "minute": (0, 59, {}),
    "hour": (0, 23, {}),
    "dom": (1, 31, {}),
    "month": (1, 12, {m: i + 1 for i, m in enumerate(str.split(MONTHS))}),
    "dow": (0, 6, {d: i for i, d in enumerate(str.split(DAYS))}),
}
DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def schedule_error(spec: str) -> str | None:
    """The error cron.ParseStandard returns for `spec`, or None when it parses."""
    if not spec:
        return "empty spec string"
    if spec.startswith(("TZ=", "CRON_TZ=")):
        cut = spec.find(" ")
        if cut == -1:
            return f"invalid timezone specification: {spec}"
        spec = spec[cut:].strip()
    if spec.startswith("@"):
        if spec in DESCRIPTORS:
            return None
        if spec.startswith("@every "):
            return (
                None
                if re.fullmatch(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", spec[7:])
                else (f"failed to parse duration {spec}: time: invalid duration {go_q(spec[7:])}")
            )
        return f"unrecognized descriptor: {spec}"
    fields = spec.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for text, bounds in zip(fields, BOUNDS.values(), strict=True):
        for expr in [e for e in text.split(",") if e]:
            err = _range_error(expr, *bounds)
            if err:
                return err
    return None


def _range_error(expr: str, low: int, high: int, names: dict[str, int]) -> str | None:
    range_step = expr.split("/")
    parts = range_step[0].split("-")
    if parts[0] in ("*", "?"):
        start, end = low, high
    else:
        if len(parts) > 2:
            return f"too many hyphens: {expr}"
        values = []
        for part in parts:
            value, err = _int_or_name(part, names)
            if err:
                return err
            values.append(value)
        start, end = values[0], values[-1]
    if len(range_step) > 2:
        return f"too many slashes: {expr}"
    if len(range_step) == 2:
        step, err = _int_or_name(range_step[1], {})
        if err:
            return err
        if len(parts) == 1:
            end = high
        if step == 0:
            return f"step of range should be a positive number: {expr}"
    if start < low:
        return f"beginning of range ({start}) below minimum ({low}): {expr}"
    if end > high:
        return f"end of range ({end}) above maximum ({high}): {expr}"
    if start > end:
        return f"beginning of range ({start}) beyond end of range ({end}): {expr}"
    return None


def _int_or_name(text: str, names: dict[str, int]) -> tuple[int, str | None]:
    if text.lower() in names:
        return names[text.lower()], None
    if not re.fullmatch(r"[+-]?\d+", text):
        return (
            0,
            f"failed to parse int from {text}: strconv.Atoi: parsing {go_q(text)}: invalid syntax",
        )
    number = int(text)
    if number < 0:
        return 0, f"negative number ({number}) not allowed: {text}"
    return number, None


def cronjob_causes(obj: Obj) -> list[Cause]:
    """validateCronJobSpec's schedule check and the 52-character name limit."""
    causes: list[Cause] = []
    name = (obj.get("metadata") or {}).get("name") or ""
    if len(name) > 52:
        causes.append(
            (
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: "{name}": must be no more than 52 characters',
            )
        )
    spec = obj.get("spec") or {}
    schedule = spec.get("schedule") or ""
    if not schedule:
        causes.append(("spec.schedule", "FieldValueRequired", "Required value"))
    else:
        err = schedule_error(schedule)
        if err:
            causes.append(
                ("spec.schedule", "FieldValueInvalid", f"Invalid value: {go_q(schedule)}: {err}")
            )
        if "TZ" in schedule:
            text = "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
            causes.append(inv("spec.schedule", go_q(schedule), text))
    return causes


# ---- what a valid schedule selects (robfig/cron v3 SpecSchedule) --------------------------
DESCRIPTOR_SPECS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def _field_set(text: str, low: int, high: int, names: dict[str, int]) -> tuple[set[int], bool]:
    """The values one field selects, and whether it is a star (which changes day matching)."""
    values: set[int] = set()
    star = False
    for expr in [e for e in text.split(",") if e]:
        range_step = expr.split("/")
        parts = range_step[0].split("-")
        step = int(range_step[1]) if len(range_step) == 2 else 1
        if parts[0] in ("*", "?"):
            start, end = low, high
            star = star or step == 1
        else:
            start = _int_or_name(parts[0], names)[0]
            end = _int_or_name(parts[-1], names)[0] if len(parts) == 2 else start
            if len(range_step) == 2 and len(parts) == 1:
                end = high
        values.update(range(start, end + 1, step))
    return values, star


def schedule_matcher(spec: str) -> Any:
    """A predicate on (minute, hour, day, month, weekday 0=Sunday) for a schedule that parses
    (cron.ParseStandard's SpecSchedule: day of month OR day of week when neither is a star)."""
    if spec.startswith(("TZ=", "CRON_TZ=")):
        spec = spec[spec.find(" ") :].strip()
    spec = DESCRIPTOR_SPECS.get(spec, spec)
    fields = spec.split()
    sets = [_field_set(text, *bounds) for text, bounds in zip(fields, BOUNDS.values(), strict=True)]
    (minutes, _), (hours, _), (days, dom_star), (months, _), (weekdays, dow_star) = sets

    def matches(minute: int, hour: int, day: int, month: int, weekday: int) -> bool:
        if minute not in minutes or hour not in hours or month not in months:
            return False
        if dom_star or dow_star:
            return day in days and weekday in weekdays
        return day in days or weekday in weekdays

    return matches
