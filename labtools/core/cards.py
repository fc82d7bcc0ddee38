"""Access cards (pure): what each participant needs to start, from the plan.

One ``Card`` per host: who, where (namespace or minikube profile), how to get their kubeconfig,
the first three commands of the lab as they type them, when their access expires and an
optional URL (drawn as a QR code). ``templates/cards/`` turns them into HTML and Markdown.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labtools.core.model import HostPlan, Step
from labtools.core.plan import step_vars
from labtools.core.preview import registered_placeholders

FIRST_COMMANDS = 3
COMMAND_ACTIONS = ("kubectl", "minikube", "command")


@dataclass(frozen=True)
class Card:
    """One participant's card."""

    host: str
    participant: str
    provider: str
    shared: bool  # a namespace on a shared cluster (else a minikube profile of their own)
    place: str  # the namespace or the profile
    cluster: str  # the instructor's context, or the profile
    kubeconfig: str  # the file the participant uses (relative to the project when inside it)
    kubeconfig_name: str  # what they export: the file's name (shared) or its path (this machine)
    commands: tuple[str, ...]
    expires: str = ""  # "2026-12-01 18:00 UTC", "" when access does not expire (or not yet)
    lasts: str = ""  # the token's duration ("8h") while it is not issued yet
    url: str = ""
    qr_svg: str = ""
    token: str = ""  # only when the instructor asked for it (--with-token)

    @property
    def export(self) -> str:
        """The line that points kubectl at their file, quoted for a shell."""
        return shlex.join(["export", f"KUBECONFIG={self.kubeconfig_name}"])


def participant_command(step: Step, variables: Mapping[str, Any], host_plan: HostPlan) -> str:
    """The command as the participant types it: no --context or --kubeconfig (their file's
    current context does that), ``-p PROFILE`` for minikube."""
    from labtools.core.render import render_argv

    args = list(render_argv(step.spec, variables, source=step.source))
    if step.action == "minikube":
        profile = str(host_plan.vars.get("profile") or host_plan.host.name)
        return shlex.join(["minikube", *args, "-p", profile])
    if step.action == "kubectl":
        return shlex.join(["kubectl", *args])
    return shlex.join(args)


def first_commands(host_plan: HostPlan, has_minikube: bool) -> tuple[str, ...]:
    """The first three commands a participant runs (minikube's skipped on a shared cluster)."""
    registered = registered_placeholders(host_plan)
    commands: list[str] = []
    for step in host_plan.steps:
        if step.action not in COMMAND_ACTIONS or step.interactive:
            continue
        if step.action == "minikube" and not has_minikube:
            continue
        commands.append(
            participant_command(step, step_vars(host_plan, step, registered), host_plan)
        )
        if len(commands) == FIRST_COMMANDS:
            break
    return tuple(commands)


def card_url(host_plan: HostPlan) -> str:
    """The ``card_url`` var for this host, rendered (``https://ws.org/{{ participant }}``)."""
    from labtools.core.render import render_text

    value = host_plan.vars.get("card_url")
    if not value:
        return ""
    return render_text(str(value), host_plan.vars, source=host_plan.host.source)


def qr_svg(url: str) -> str:
    """The URL as an inline SVG QR code (error correction M: a creased card still scans)."""
    if not url:
        return ""
    import segno

    return str(segno.make(url, error="m", micro=False).svg_inline(border=2, omitsize=True))
