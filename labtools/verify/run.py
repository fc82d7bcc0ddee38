"""The argv that runs a lab's checks with pytest (the runner runs it like any command)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def verify_command(
    project_root: str | os.PathLike[str],
    inventory: str | os.PathLike[str],
    hosts: str | Sequence[str] | None,
    vars: Mapping[str, Any],
    junit_path: str | os.PathLike[str] | None,
    extra_pytest_args: Sequence[str] = (),
    *,
    checks: str | os.PathLike[str],
    proxy_url: str | None = None,
) -> tuple[str, ...]:
    """``python -m pytest -p labtools.verify.plugin <checks> --junitxml=... -q ...`` as argv."""
    root = Path(project_root)
    inventory_path = Path(inventory)
    if not inventory_path.is_absolute():
        inventory_path = root / inventory_path
    pattern = hosts if isinstance(hosts, str) or hosts is None else ",".join(hosts)
    # -c /dev/null: the checks must not pick up whatever pytest config is near the cwd
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "labtools.verify.plugin",
        "-p",
        "no:cacheprovider",
    ]
    argv += ["-c", os.devnull, "--rootdir", str(Path(checks).parent), str(checks), "-q"]
    argv.append(f"--lab-inventory={inventory_path}")
    argv.append(f"--lab-vars={json.dumps(dict(vars), default=str)}")
    if pattern:
        argv.append(f"--lab-hosts={pattern}")
    if proxy_url:
        argv.append(f"--lab-proxy-url={proxy_url}")
    if junit_path is not None:
        argv.append(f"--junitxml={junit_path}")
    return (*argv, *extra_pytest_args)
