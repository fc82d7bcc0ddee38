"""``lab.prepare``: ready a room with bad Wi-Fi before the workshop.

minikube hosts: ``minikube start --download-only`` for each Kubernetes version the inventory asks
for, and ``minikube cache add`` for every image the lab names (one cache, ``MINIKUBE_HOME``,
serves every profile); then the cache's size. Shared clusters: one short-lived pod per image
(``kubectl run``, as the instructor) says whether the cluster can pull it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from labtools.core.diagnostics import WAITING_REASONS
from labtools.core.messages import Text, msg
from labtools.core.model import Command, Host
from labtools.core.results import Output
from labtools.providers.base import Provider

Run = Callable[[Command], Output]
PULL_TIMEOUT = 120.0  # seconds one image may take to pull on the cluster
PULL_FAILURES = frozenset(r for r in WAITING_REASONS if "Image" in r or "Pull" in r)


@dataclass(frozen=True)
class Outcome:
    """One line of the report: what was done, and whether it worked."""

    what: Text
    ok: bool
    detail: Text = ""


def folder_mb(path: Path) -> float:
    """The size of the files under ``path`` in MB (0 when it does not exist)."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total / 2**20


def cache_minikube(
    hosts: Sequence[Host], provider: Provider, images: Sequence[str], run: Run
) -> list[Outcome]:
    """--download-only per Kubernetes version, then ``cache add`` per image (once each)."""
    outcomes: list[Outcome] = []
    versions: dict[str, Host] = {}
    for host in hosts:
        versions.setdefault(str(host.vars.get("kubernetes_version") or ""), host)
    for version, host in versions.items():
        args = ["start", "--download-only"]
        for var, flag in (("driver", "--driver"), ("container_runtime", "--container-runtime")):
            if host.vars.get(var):
                args += [flag, str(host.vars[var])]
        if version:
            args += ["--kubernetes-version", version]
        out = run(Command(provider.minikube(host, args), env=provider.env(host), timeout=1800))
        label = msg(
            "minikube start --download-only (Kubernetes {version})",
            version=version or msg("default version"),
        )
        outcomes.append(Outcome(label, out.rc == 0, _last_line(out)))
    first = hosts[0]
    for image in images:
        # `cache add` needs an existing profile: the first host's, saved by its --download-only;
        # the image goes into minikube's config, so every profile's start loads it
        argv = provider.minikube(first, ["cache", "add", image])
        out = run(Command(argv, env=provider.env(first), timeout=1800))
        missing = _not_found(out)
        ok = out.rc == 0 and not missing
        what = msg("minikube cache add {image}", image=image)
        outcomes.append(Outcome(what, ok, missing or _last_line(out)))
    return outcomes


def _not_found(out: Output) -> str:
    """minikube's warning for an image the registry does not have: ``cache add`` still exits 0
    (``pkg/minikube/image/cache.go`` SaveToDir), but nothing was cached."""
    for line in out.stderr.splitlines():
        if "was not found; unable to add it to cache" in line:
            return line.lstrip("❗! ").strip()
    return ""


def pull_check(host: Host, provider: Provider, images: Sequence[str], run: Run) -> list[Outcome]:
    """A pod per image on the shared cluster: pulled, or why not."""
    namespace = str(host.vars.get("prepare_namespace") or "default")
    env = dict(provider.admin_env(host))
    admin = provider.admin_kubectl(host, ())  # ... -n <the participant's namespace>
    kubectl = (*admin[:-2], "-n", namespace)
    outcomes = []
    for index, image in enumerate(images):
        name = f"labtools-pull-{os.getpid()}-{index}"
        created = run(
            Command(
                (*kubectl, "run", name, f"--image={image}", "--restart=Never",
                 "--labels=labtools/prepare=pull"),
                env=env,
            )
        )  # fmt: skip
        if created.rc != 0:
            outcomes.append(Outcome(msg("pull {image}", image=image), False, _last_line(created)))
            continue
        try:
            outcomes.append(_await_pull(kubectl, name, image, env, run))
        finally:
            delete = (*kubectl, "delete", "pod", name, "--ignore-not-found", "--grace-period=1")
            run(Command(delete, env=env))
    return outcomes


def _await_pull(
    kubectl: tuple[str, ...], name: str, image: str, env: Mapping[str, str], run: Run
) -> Outcome:
    """Watch the pod's container until it runs (pulled) or waits for a pull failure."""
    import json

    pulling = msg("pull {image}", image=image)
    started = time.monotonic()
    while time.monotonic() - started < PULL_TIMEOUT:
        out = run(Command((*kubectl, "get", "pod", name, "-o", "json"), env=dict(env)))
        statuses = json.loads(out.stdout or "{}").get("status", {}).get("containerStatuses") or []
        state = statuses[0].get("state", {}) if statuses else {}
        waiting = state.get("waiting") or {}
        took = f"{time.monotonic() - started:.1f}"
        if "running" in state or "terminated" in state:
            return Outcome(pulling, True, msg("pulled in {seconds}s", seconds=took))
        if waiting.get("reason") in PULL_FAILURES:
            message = str(waiting.get("message") or "").strip().splitlines()[:1]
            detail = f"{waiting['reason']}: {message[0]}" if message else str(waiting["reason"])
            return Outcome(pulling, False, detail)
        time.sleep(1.0)
    return Outcome(pulling, False, msg("not pulled after {seconds}s", seconds=round(PULL_TIMEOUT)))


def _last_line(out: Output) -> Text:
    """A command's last line of output (its error, when it failed)."""
    text = (out.stderr if out.rc != 0 else "") or out.stdout
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ("" if out.rc == 0 else msg("exit code {rc}", rc=out.rc))
