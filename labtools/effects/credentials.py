"""Issue and remove participant kubeconfigs (the effects of ``Credentials`` and ``removes``).

The token and the cluster entry are read from kubectl's stdout here and go straight into a file
written with mode 0600; they never reach an ``Output`` the runner reports. The caller adds the
returned secrets to the run's ``Redactor`` so a token echoed anywhere later is masked too.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labtools.core.errors import ConfigError
from labtools.core.kubeconfig import (
    cluster_entry,
    kubeconfig_token,
    participant_kubeconfig,
    recreated,
    token_expiry,
)
from labtools.core.messages import Text, msg
from labtools.core.results import Output
from labtools.providers.base import Credentials

Run = Callable[[tuple[str, ...]], Output]


@dataclass
class Issued:
    """What issuing did: whether it wrote a file, the message, and the values to mask."""

    changed: bool = False
    failed: bool = False
    message: Text = ""
    secrets: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)


def current_token(path: Path, context: str) -> str | None:
    """The token in an existing kubeconfig file (None when there is none)."""
    try:
        return kubeconfig_token(path.read_text(encoding="utf-8"), context)
    except OSError:
        return None


def needs_token(creds: Credentials, applied: str, now: float) -> Text | None:
    """Why a new token is needed, or None when the file's token is still good."""
    path = Path(creds.path)
    token = current_token(path, creds.context)
    if token is None:
        return msg("no kubeconfig yet")
    if recreated(applied, creds.account):
        return msg("serviceaccount {account} was created again", account=creds.account)
    expiry = token_expiry(token)
    if expiry is None or expiry - now < creds.duration / 2:
        return msg("the token expires soon")
    return None


def issue(creds: Credentials, applied: str, run: Run, now: float | None = None) -> Issued:
    """Write the participant's kubeconfig when it is missing, void or about to expire."""
    why = needs_token(creds, applied, time.time() if now is None else now)
    if why is None:
        return Issued()
    token_out = run(creds.token)
    secrets = [token_out.stdout.strip()] if token_out.stdout.strip() else []
    if token_out.rc != 0:
        lines = token_out.stderr.strip().splitlines()
        problem = lines[-1] if lines else msg("exit code {rc}", rc=token_out.rc)
        failed = msg("kubectl create token: {problem}", problem=problem)
        return Issued(failed=True, message=failed, secrets=secrets)
    cluster_out = run(creds.cluster)
    try:
        entry = cluster_entry(cluster_out.stdout if cluster_out.rc == 0 else "")
    except ConfigError as exc:
        detail = cluster_out.stderr.strip() or exc.text
        failed = msg("the cluster's CA: {problem}", problem=detail)
        return Issued(failed=True, message=failed, secrets=secrets)
    text = participant_kubeconfig(
        entry,
        token_out.stdout,
        context=creds.context,
        user=creds.user,
        namespace=creds.namespace,
    )
    write_private(Path(creds.path), text)
    message = msg("kubeconfig {path} written ({why})", path=creds.path, why=why)
    return Issued(changed=True, message=message, secrets=secrets, written=[creds.path])


def write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically with mode 0600 (its folder 0700): nobody else may read a token."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def remove(paths: Sequence[str]) -> list[str]:
    """Delete these files (and their folder once empty); the ones that existed."""
    removed = []
    for name in paths:
        path = Path(name)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(name)
        with contextlib.suppress(OSError):  # not empty, or gone: fine either way
            path.parent.rmdir()
    return removed
