"""Preflight checks of the ``minikube`` provider: driver, CPU, memory and disk (pure)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labtools.core.messages import msg, msgn
from labtools.core.model import Host
from labtools.providers.base import Facts, PreflightProblem, where

MIN_MEMORY_MB = 1800  # below this `minikube start` exits 23 (RSRC_INSUFFICIENT_REQ_MEMORY)
MIN_CPUS = 2  # below this `minikube start` exits 29 (RSRC_INSUFFICIENT_CORES)
DEFAULT_DISK_MB = 20000  # minikube's default --disk-size
DRIVER_BINARIES: Mapping[str, str] = {
    "docker": "docker",
    "podman": "podman",
    "kvm2": "virsh",
    "qemu2": "qemu-system-x86_64",
    "virtualbox": "VBoxManage",
}
DRIVERS_PROBED = ("docker", "podman")  # drivers whose daemon must answer `<bin> info`
SIZE_UNITS = {"b": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


def size_mb(value: Any) -> int | None:
    """MB from an inventory size: ``2200`` (MB), ``"4g"``, ``"20000mb"``; None for max/no-limit."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)b?\s*", str(value).lower())
    if not match:
        return None
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2) or "m"])


def cpus_of(host: Host) -> int | None:
    """The requested CPU count, or None (unset, ``max``, ``no-limit``)."""
    try:
        return int(host.vars["cpus"])
    except (KeyError, TypeError, ValueError):
        return None


def drivers_to_probe(host: Host) -> tuple[str, ...]:
    """The container drivers whose daemon must answer: the one asked for, or both when unset."""
    driver = host.vars.get("driver")
    if driver is None:
        return DRIVERS_PROBED
    return (str(driver),) if driver in DRIVERS_PROBED else ()


def mini_path(minikube_home_var: str | None) -> Path:
    """localpath.MiniPath: ``$MINIKUBE_HOME`` with ``.minikube`` appended unless it ends so,
    else ``~/.minikube`` (where the cache, profiles and machines are)."""
    if not minikube_home_var:
        return Path.home() / ".minikube"
    path = Path(minikube_home_var).expanduser()
    return path if path.name == ".minikube" else path / ".minikube"


def minikube_home(host: Host) -> str:
    """Where minikube keeps its machines (MINIKUBE_HOME, else ~/.minikube)."""
    return os.environ.get("MINIKUBE_HOME") or os.path.join(os.path.expanduser("~"), ".minikube")


def check_driver(host: Host, facts: Facts) -> list[PreflightProblem]:
    """The driver the inventory asks for works, or (when unset) some driver is there."""
    driver = host.vars.get("driver")
    if driver is None:
        found = [d for d, b in DRIVER_BINARIES.items() if facts.binaries.get(b)]
        usable = [d for d in found if facts.drivers.get(d, d not in DRIVERS_PROBED)]
        if usable:
            return []
        message = msg(
            "no minikube driver found for {where} (looked for {drivers})",
            where=where(host),
            drivers=", ".join(DRIVER_BINARIES),
        )
        if found:
            message = msg(
                "{drivers} found but not answering (`info` failed) for {where}",
                drivers=", ".join(found),
                where=where(host),
            )
        hint = msg("start Docker or set `driver`")
        return [PreflightProblem(host.name, "driver", message, hint)]
    driver = str(driver)
    binary = DRIVER_BINARIES.get(driver)
    if binary and not facts.binaries.get(binary):
        message = msg(
            "inventory asks driver {driver} for {where} but {binary} is not on PATH",
            driver=driver,
            where=where(host),
            binary=binary,
        )
        hint = msg("install {binary} or change `driver`", binary=binary)
        return [PreflightProblem(host.name, "driver", message, hint)]
    if driver in DRIVERS_PROBED and not facts.drivers.get(driver, False):
        message = msg(
            "inventory asks driver {driver} for {where} but `{binary} info` failed",
            driver=driver,
            where=where(host),
            binary=binary,
        )
        hint = msg(
            "start the {driver} daemon (and check your user may use it) or change `driver`",
            driver=driver,
        )
        return [PreflightProblem(host.name, "driver", message, hint)]
    return []


def check_resources(host: Host, facts: Facts) -> list[PreflightProblem]:
    """CPU, memory and disk: minikube's minimums and what the machine has."""
    problems: list[PreflightProblem] = []
    cpus = cpus_of(host)
    if cpus is not None and cpus < MIN_CPUS:
        message = msgn(
            "inventory asks {n} CPU for {where}; minikube needs at least {minimum}",
            "inventory asks {n} CPUs for {where}; minikube needs at least {minimum}",
            cpus,
            where=where(host),
            minimum=MIN_CPUS,
        )
        hint = msg("set `cpus: {minimum}` or more", minimum=MIN_CPUS)
        problems.append(PreflightProblem(host.name, "cpus", message, hint))
    elif cpus is not None and facts.cpu_count is not None and cpus > facts.cpu_count:
        message = msg(
            "inventory asks {cpus} CPUs for {where} but {count} exist",
            cpus=cpus,
            where=where(host),
            count=facts.cpu_count,
        )
        problems.append(PreflightProblem(host.name, "cpus", message, msg("lower `cpus`")))
    problems += check_memory(host, facts)
    disk = size_mb(host.vars.get("disk_size", DEFAULT_DISK_MB))
    if disk is not None and facts.disk_free_mb is not None and disk > facts.disk_free_mb:
        message = msg(
            "inventory asks {disk} MB for {where} but {free} MB is free "
            "where minikube keeps its machines ({home})",
            disk=disk,
            where=where(host),
            free=facts.disk_free_mb,
            home=minikube_home(host),
        )
        hint = msg("lower `disk_size` or free some disk")
        problems.append(PreflightProblem(host.name, "disk", message, hint))
    return problems


def check_memory(host: Host, facts: Facts) -> list[PreflightProblem]:
    """The requested memory is above minikube's minimum and available."""
    memory = size_mb(host.vars.get("memory"))
    if memory is None:
        return []
    if memory < MIN_MEMORY_MB:
        message = msg(
            "inventory asks {memory} MB for {where}; minikube needs {minimum} MB",
            memory=memory,
            where=where(host),
            minimum=MIN_MEMORY_MB,
        )
        hint = msg("raise `memory` to {memory} or more", memory=2200)
        return [PreflightProblem(host.name, "memory", message, hint)]
    available = facts.mem_available_mb
    if available is not None and memory > available:
        message = msg(
            "inventory asks {memory} MB for {where} but {available} MB is available",
            memory=memory,
            where=where(host),
            available=available,
        )
        hint = msg("lower `memory` or close programs")
        return [PreflightProblem(host.name, "memory", message, hint)]
    return []


def check_total_memory(hosts: Sequence[Host], available: int | None) -> list[PreflightProblem]:
    """minikube clusters on one machine share its memory: their sum must fit too."""
    asked = {h.name: size_mb(h.vars.get("memory")) for h in hosts}
    sized = {name: mb for name, mb in asked.items() if mb}
    total = sum(sized.values())
    if len(sized) < 2 or available is None or total <= available:
        return []
    message = msg(
        "{count} minikube hosts together ask {total} MB but {available} MB is available",
        count=len(sized),
        total=total,
        available=available,
    )
    hint = msg("run fewer hosts at once (--limit) or lower `memory`")
    return [PreflightProblem(", ".join(sized), "memory", message, hint)]


CPU_OVERCOMMIT = 2  # container drivers cap a node's CPUs with a CFS quota: cores are shared


def check_total_cpus(hosts: Sequence[Host], cpu_count: int | None) -> list[PreflightProblem]:
    """The CPUs N clusters ask for, against the cores times ``cpu_overcommit`` (default 2)."""
    asked = {h.name: cpus_of(h) for h in hosts}
    sized = {name: n for name, n in asked.items() if n}
    if len(sized) < 2 or cpu_count is None:
        return []
    factor = float(hosts[0].vars.get("cpu_overcommit") or CPU_OVERCOMMIT)
    total = sum(sized.values())
    if total <= cpu_count * factor:
        return []
    message = msg(
        "{count} minikube hosts together ask {total} CPUs; this machine has {cores} cores "
        "(x{factor} overcommit)",
        count=len(sized),
        total=total,
        cores=cpu_count,
        factor=format(factor, "g"),
    )
    hint = msg("lower `cpus`, run fewer hosts at once (--limit), or raise `cpu_overcommit`")
    return [PreflightProblem(", ".join(sized), "cpus", message, hint)]


def check_total_disk(hosts: Sequence[Host], free_mb: int | None) -> list[PreflightProblem]:
    """The disk N clusters may fill: ``disk_size`` where the inventory sets it (VM disks grow to
    it; minikube's default is not counted, a container driver does not allocate it)."""
    asked = {h.name: size_mb(h.vars["disk_size"]) for h in hosts if h.vars.get("disk_size")}
    sized = {name: mb for name, mb in asked.items() if mb}
    total = sum(sized.values())
    if len(sized) < 2 or free_mb is None or total <= free_mb:
        return []
    message = msg(
        "{count} minikube hosts together ask {total} MB of disk but {free} MB is free",
        count=len(sized),
        total=total,
        free=free_mb,
    )
    hint = msg("lower `disk_size`, free some disk or run fewer hosts at once (--limit)")
    return [PreflightProblem(", ".join(sized), "disk", message, hint)]
