"""Plain, frozen data that flows from loading to planning to running. No behaviour with effects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from labtools.core.errors import Location

PHASES: tuple[str, ...] = ("setup", "deploy", "explore", "verify", "teardown")
"""The phases of a lab, in the order ``lab.up`` (first four) and ``lab.down`` (last) run them."""

ACTIONS: tuple[str, ...] = (
    "command",  # argv template, run as is
    "kubectl",  # argv template, prefixed by the provider (kubectl --context X [-n NS])
    "minikube",  # argv template, prefixed by the provider (minikube -p X); skipped without minikube
    "cluster",  # start | stop | delete | status: the provider's idempotent lifecycle
    "manifest",  # template path rendered to YAML, applied with kubectl apply -f -
    "service",  # a background process with a readiness probe (kubectl proxy)
    "http",  # an HTTP request with expectations
    "wait",  # sleep a number of seconds
    "verify",  # run the lab's pytest-testinfra checks (labtools.verify) against the host
)


@dataclass(frozen=True)
class Host:
    """One cluster target: its provider and its merged inventory variables (groups < host)."""

    name: str
    provider: str
    vars: Mapping[str, Any]
    groups: tuple[str, ...] = ()
    source: Location | None = None
    var_sources: Mapping[str, Location] = field(default_factory=dict)  # where each var was set


@dataclass(frozen=True)
class Inventory:
    """Hosts in file order and groups (name -> host names, children resolved)."""

    path: str
    hosts: Mapping[str, Host]
    groups: Mapping[str, tuple[str, ...]]


CHECK_KINDS: tuple[str, ...] = (
    "kubectl",  # argv template run through the provider, with `that:` (default: rc 0)
    "minikube",  # the same for minikube
    "command",  # argv template run as is
    "http",  # a URL (or an http: mapping), with `that:` over status and body
    "testinfra",  # a test of the lab's checks, by name (`test_deployment_is_available`)
    "history",  # the student ran this command (words) in `invoke lab.shell`; rc 0
    "confirm",  # the student presses Enter: a step nothing can observe
)


@dataclass(frozen=True)
class Check:
    """How the tutor knows a student did a step (and ``lab.test`` that the check can fail).

    ``spec`` is the kind's raw value: an argv template, a URL or mapping, a test name, the words
    expected in the shell history (``None``: the step's own command), or nothing for ``confirm``.
    """

    kind: str
    spec: Any
    source: Location
    that: str | None = None  # expression over `result` (rc, stdout, json, status)


@dataclass(frozen=True)
class Step:
    """One named step of a lab: exactly one action plus the Ansible-style controls."""

    name: str
    phase: str
    action: str
    spec: Any  # the action's raw, unrendered value: a template string or a mapping
    source: Location
    register: str | None = None
    when: str | None = None
    until: str | None = None
    retries: int = 0
    delay: float = 1.0
    changed_when: str | bool | None = None
    failed_when: str | None = None
    ignore_errors: bool = False
    timeout: float | None = None
    tags: tuple[str, ...] = ()
    no_log: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    vars: Mapping[str, Any] = field(default_factory=dict)
    explain: Mapping[str, str] = field(default_factory=dict)  # {"en": ..., "zh-TW": ...}
    interactive: bool = False  # needs a terminal; skipped with a reason when stdin is not a TTY
    stdin: str | None = None  # template for the command's standard input
    spec_source: Location | None = None  # where the action's value is (``deploy[0].kubectl``)
    check: Check | None = None  # tutor mode: how to see that the student did it
    hint: Mapping[str, str] = field(default_factory=dict)  # {"en": ..., "zh-TW": ...}
    solution: Mapping[str, str] = field(default_factory=dict)  # shown when the tutor solves it


@dataclass(frozen=True)
class Lab:
    """A playbook: its name, defaults and steps grouped by phase (phase order = PHASES)."""

    name: str
    path: str
    description: str = ""
    hosts: str = "all"
    vars: Mapping[str, Any] = field(default_factory=dict)
    phases: Mapping[str, tuple[Step, ...]] = field(default_factory=dict)
    source: Location | None = None
    secrets: tuple[str, ...] = ()  # variables whose values are masked in every output
    folder: str = ""  # playbooks/<lab>/: the playbook, checks/ and README.md of the lab


@dataclass(frozen=True)
class Command:
    """A rendered command: argv only, never a shell string."""

    argv: tuple[str, ...]
    stdin: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 120.0
    secret: bool = False  # no_log: never show argv, stdin or output
    cwd: str | None = None  # where it runs (None: labtools' own working directory)


@dataclass(frozen=True)
class HostPlan:
    """The steps one host will run, with its merged variables (everything below --set included)."""

    host: Host
    vars: Mapping[str, Any]
    steps: tuple[Step, ...]
    extra_vars: Mapping[str, Any] = field(default_factory=dict)  # --set: wins over step vars
    registered: Mapping[str, Any] = field(default_factory=dict)  # kept from the run resumed
    # (phase, step) this host failed at in the run resumed: it runs again first
    retried: tuple[str, str] | None = None


@dataclass(frozen=True)
class Plan:
    """What a run will do: the lab, the selected phases and the per-host step lists."""

    lab: Lab
    phases: tuple[str, ...]
    hosts: tuple[HostPlan, ...]
