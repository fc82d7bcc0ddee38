"""Helpers shared by the commands: the invocation, profile lookups, the "not found" lines."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtools.testing.minikube import kubeconfig, state
from labtools.testing.minikube.console import Console, Exit
from labtools.testing.minikube.flags import Parsed

DEFAULT_PROFILE = "minikube"
EXIT_NOT_FOUND = 85
EXIT_NOT_RUNNING = 83


@dataclass
class Invocation:
    """One run of the fake minikube: the command words, parsed flags, profile, console."""

    command: str
    parsed: Parsed
    profile: str
    console: Console

    def flag(self, name: str) -> Any:
        """The value of flag ``name`` (its default when not given)."""
        return self.parsed.values.get(name)


def active_profile() -> str:
    """The profile set with `minikube profile NAME` (config/config.json), else ``minikube``."""
    path = state.minikube_home() / "config" / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DEFAULT_PROFILE
    return (
        str(data.get("profile") or DEFAULT_PROFILE) if isinstance(data, dict) else DEFAULT_PROFILE
    )


def set_active_profile(name: str | None) -> None:
    """Write (or clear, with None) the ``profile`` key of config/config.json."""
    path = state.minikube_home() / "config" / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if name is None:
        data.pop("profile", None)
    else:
        data["profile"] = name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4), encoding="utf-8")


def start_hint(name: str) -> str:
    """``minikube start`` for the default profile, else ``minikube start -p NAME``."""
    return "minikube start" if name == DEFAULT_PROFILE else f"minikube start -p {name}"


def not_found(inv: Invocation) -> Exit:
    """mustload.Partial for a missing profile: two lines on stdout, exit 85."""
    inv.console.styled(
        "shrug",
        f'Profile "{inv.profile}" not found. Run "minikube profile list" to view all profiles.',
    )
    inv.console.styled("pointer", f'To start a cluster, run: "{start_hint(inv.profile)}"')
    return Exit(EXIT_NOT_FOUND)


def require_config(inv: Invocation) -> dict[str, Any]:
    """The profile's ClusterConfig, or exit 85 with minikube's lines."""
    config = state.load_config(inv.profile)
    if config is None:
        raise not_found(inv)
    return config


def require_running(inv: Invocation) -> dict[str, Any]:
    """mustload.Running: the config of a running profile; 85 when missing, 83 when stopped."""
    config = require_config(inv)
    if state.running_pid(inv.profile) is None:
        inv.console.styled(
            "shrug",
            f"The control-plane node {inv.profile} host is not running: state=Stopped",
        )
        inv.console.styled("pointer", f'To start a cluster, run: "{start_hint(inv.profile)}"')
        raise Exit(EXIT_NOT_RUNNING)
    return config


def kubeconfig_state(name: str) -> str:
    """Configured when the kubeconfig points at the running server, else Misconfigured."""
    url = state.server_url(name)
    configured = kubeconfig.server_of(kubeconfig.kubeconfig_path(), name)
    return "Configured" if url and configured == url else "Misconfigured"


def platform_name() -> str:
    """``Ubuntu 22.04``: the OS as minikube prints it (from /etc/os-release)."""
    info: dict[str, str] = {}
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            info[key] = value.strip('"')
    except OSError:
        return f"{platform.system()} {platform.release()}"
    return f"{info.get('NAME', 'Linux').split()[0]} {info.get('VERSION_ID', '')}".strip()


def box_table(headers: list[str], rows: list[list[str]]) -> str:
    """A table drawn with box characters, like tablewriter v1 in minikube."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(headers)]

    def rule(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * w for w in widths) + right

    def row(cells: list[str]) -> str:
        return (
            "│" + "│".join(f" {cell}".ljust(w) for cell, w in zip(cells, widths, strict=True)) + "│"
        )

    lines = [rule("┌", "┬", "┐"), row(headers), rule("├", "┼", "┤")]
    lines += [row(r) for r in rows]
    lines.append(rule("└", "┴", "┘"))
    return "\n".join(lines)
