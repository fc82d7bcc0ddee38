"""A checks process started before its command is known: ``python -m labtools.verify.warm``.

The checks of a run are ``python -m pytest -p labtools.verify.plugin ...`` (``verify/run.py``);
most of such a process's own time is importing pytest, its plugins, testinfra and labtools (about
a quarter of a second of CPU here). The runner starts this process with the run's first step,
so that the imports happen while the lab's steps run; at the verify step it writes the command
on stdin as one JSON line, ``{"argv": [...], "env": {...}, "cwd": "..."}``, and this process
becomes that command: it changes to ``cwd``, takes ``env`` as its whole environment and runs
pytest with the argv's arguments, in this process. What it prints and its exit code are the
command's.

When the command is not ``<this python> -m pytest ...``, wants another interpreter setting
(a different ``PYTHON*`` variable) or another directory than the one this process started in
(its ``sys.path`` and imports came from there), or an import failed here, it executes the
command as given instead (``os.execvpe``): the same process a cold start would have been, only
later. End of input without a command (the run did not get to its checks) ends it with 0.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labtools.app import CheckTarget

PYTEST = (sys.executable, "-m", "pytest")
# what the checks process imports anyway: pytest and every plugin it registers by default
# (_pytest.config.default_plugins, then what they import when pytest configures: pdb for
# --pdb, unittest for unittest-style tests), then labtools' plugin and what loading the lab
# (labtools.app.check_targets) and the checks' fixtures need (the snapshots' threads, the
# proxy checks' HTTP)
MODULES = (
    "pytest",
    "_pytest.config",
    "_pytest.assertion.rewrite",
    "pdb",
    "unittest",
    "faulthandler",
    "labtools.verify.plugin",
    "labtools.verify.snapshot",
    "labtools.verify.probes",
    "labtools.app",
    "labtools.core.project",
    "labtools.core.playbook",
    "labtools.core.plan",
    "labtools.core.render",
    "labtools.providers",
    "testinfra",
    "testinfra.backend.kubectl",
    "concurrent.futures.thread",
    "urllib.request",
    "encodings.idna",
    "xml.etree.ElementTree",
)


def interpreter_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The variables Python reads when it starts (``PYTHON*``): a command wanting others than
    this process started with must start a Python of its own."""
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}


def becomes(argv: Sequence[str], env: Mapping[str, str], cwd: str, started_in: str) -> bool:
    """True when this process can run ``argv`` itself (else it executes it)."""
    return (
        tuple(argv[: len(PYTEST)]) == PYTEST
        and os.path.realpath(cwd) == os.path.realpath(started_in)
        and interpreter_settings(env) == interpreter_settings(os.environ)
    )


def prepare(hint: Mapping[str, str]) -> tuple[CheckTarget, ...]:
    """Load the lab once as the checks will (``check_targets`` for one host): what that builds
    on the way (lazy imports, compiled templates) is then ready, and the host's snapshot can be
    read as soon as the command comes. Any problem is left for the checks' own load to report."""
    from pathlib import Path

    from labtools.app import check_targets
    from labtools.core.options import RunOptions

    options = RunOptions(lab=hint.get("lab"), inventory=hint.get("inventory"), limit=hint["host"])
    return check_targets(Path(hint.get("root") or "."), options)


def prefetch_snapshots(targets: Sequence[CheckTarget], argv: Sequence[str]) -> None:
    """Start reading the snapshots of the prepared hosts that the command checks (named in its
    ``--lab-hosts``; ``labtools.verify.snapshot.prefetch``): the ``kubectl get`` runs while
    pytest starts. The checks use a read only when they would make exactly that call (same
    command, same environment) before any check has run."""
    from labtools.verify.plugin import snapshot_call
    from labtools.verify.snapshot import prefetch

    flag = "--lab-hosts"
    named = set(argv[argv.index(flag) + 1].split(",")) if flag in argv[:-1] else set()
    for target in targets:
        if target.host.name in named:
            prefetch(*snapshot_call(target))


def main(argv: Sequence[str] = ()) -> int:
    """Import (and with ``--prepare JSON`` load the lab), wait for the command, run it (or
    execute it)."""
    started_in = os.getcwd()
    gc.set_threshold(50_000, *gc.get_threshold()[1:])  # as tasks.py: an import-heavy start
    try:
        for name in MODULES:
            importlib.import_module(name)
        from _pytest.config import default_plugins

        for name in default_plugins:
            importlib.import_module(f"_pytest.{name}")
        imported = True
    except Exception:  # a broken install: the command's own start says what is wrong
        imported = False
    prepared: tuple[CheckTarget, ...] = ()
    if imported and len(argv) == 2 and argv[0] == "--prepare":
        # a problem loading the lab is the checks' own load's to report, in its words
        with contextlib.suppress(Exception):
            prepared = prepare(json.loads(argv[1]))
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    request = json.loads(line)
    argv = [str(word) for word in request["argv"]]
    env = {str(k): str(v) for k, v in request["env"].items()}
    cwd = str(request.get("cwd") or started_in)
    if not (imported and becomes(argv, env, cwd, started_in)):
        os.chdir(cwd)
        os.execvpe(argv[0], argv, env)
    os.environ.clear()
    os.environ.update(env)
    with contextlib.suppress(Exception):  # a host that cannot be read is its checks' to report
        prefetch_snapshots(prepared, argv)
    import pytest

    # as `python -m pytest ARGS` (pytest/__main__.py): ARGS, then its output flushed
    sys.argv = [os.path.join(os.path.dirname(str(pytest.__file__)), "__main__.py"), *argv[3:]]
    code = int(pytest.main(sys.argv[1:]))
    sys.stdout.flush()
    return code


def exit_now(code: int) -> None:
    """End the process with ``code`` once the checks are done and their output written: the
    exit handlers run (logging's flush among them), the interpreter's teardown (every module of
    pytest, testinfra and the lab: ~10 ms here, that the run waits for) does not."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
