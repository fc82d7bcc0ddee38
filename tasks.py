"""invoke tasks: `invoke lab.setup | lab.deploy | lab.explore | lab.verify | lab.teardown`,
`lab.up`, `lab.down`, `lab.plan`, `lab.list`.

Each task is a few lines that call into `labtools.app`. This file is the ONE place where a
`LabError` becomes an exit code and a message (a traceback only with `--debug`).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoke import Collection, Exit, task

ROOT = Path(__file__).resolve().parent

HELP = {
    "lab": "the lab to run: playbooks/<LAB>.yml (default from config lab.name: basics)",
    "inventory": "the inventory file (default: inventory.yml)",
    "limit": "hosts to run on: names, groups, globs, 'a:b' union, 'a:&b' and, 'a:!b' not",
    "tags": "run only steps with these tags (comma separated; 'all,extended': with modules 4-6)",
    "skip_tags": "skip steps with these tags (comma separated)",
    "set_": "extra variable KEY=VALUE, highest precedence (repeatable)",
    "check": "render and show every command, run nothing",
    "verbose": "show explanations and live command output (-vv: more)",
    "lang": "language of the explanations: en or zh-TW",
    "forks": "how many hosts run a step at the same time",
    "debug": "show a traceback on errors",
}


def _help(*names: str) -> dict[str, str]:
    """A fresh help dict per task (invoke consumes the one it is given)."""
    return {name: HELP[name] for name in names}


OPTIONS = ("inventory", "limit", "tags", "skip_tags", "check", "verbose", "lang", "forks")


def _guard(c: Any, debug: bool, action: Callable[[], Any]) -> Any:
    """Run ``action``; turn a LabError (or Ctrl-C) into a message and an exit code."""
    from labtools.core.errors import Interrupted, LabError

    debug = debug or bool(c.config.lab.get("debug")) or bool(os.environ.get("LABTOOLS_DEBUG"))
    try:
        return action()
    except KeyboardInterrupt as exc:
        error: LabError = Interrupted("interrupted; every process the run started was stopped")
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        raise Exit(error.format(), error.exit_code) from None
    except LabError as exc:
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        raise Exit(exc.format(), exc.exit_code) from None


def _options(c: Any, given: dict[str, Any]) -> dict[str, Any]:
    """Task options over the `lab` config (defaults < invoke.yaml < INVOKE_LAB_* < flags)."""
    merged = {key: c.config.lab.get(key) for key in OPTIONS}
    merged["lab"] = c.config.lab.get("name")
    merged.update({key: value for key, value in given.items() if value not in (None, [], 0, False)})
    merged["sets"] = list(given.get("set_") or [])
    merged.pop("set_", None)
    return merged


def _run(c: Any, phases: tuple[str, ...], debug: bool, **given: Any) -> None:
    from labtools import app

    options = _options(c, given)
    _guard(c, debug, lambda: app.run_lab(ROOT, phases=phases, **options))


def _phase_task(name: str, phases: tuple[str, ...], doc: str) -> Any:
    def body(
        c: Any,
        lab: str | None = None,
        inventory: str | None = None,
        limit: str | None = None,
        tags: str | None = None,
        skip_tags: str | None = None,
        set_: list[str] | None = None,
        check: bool = False,
        verbose: int = 0,
        lang: str | None = None,
        forks: int | None = None,
        debug: bool = False,
    ) -> None:
        _run(
            c,
            phases,
            debug,
            lab=lab,
            inventory=inventory,
            limit=limit,
            tags=tags,
            skip_tags=skip_tags,
            set_=set_,
            check=check,
            verbose=verbose,
            lang=lang,
            forks=forks,
        )

    body.__doc__ = doc
    body.__name__ = name
    return task(help=dict(HELP), iterable=["set_"], incrementable=["verbose"])(body)


setup = _phase_task(
    "setup", ("setup",), "Setup: start the cluster (idempotent) and check the nodes are Ready."
)
deploy = _phase_task(
    "deploy", ("deploy",), "Deploy: create the lab's app and wait until it is available."
)
explore = _phase_task(
    "explore", ("explore",), "Explore: proxy, pods, logs, exec: the lab's exploring steps."
)
verify = _phase_task(
    "verify", ("verify",), "Verify: run the lab's pytest-testinfra checks (JUnit in the run dir)."
)
teardown = _phase_task(
    "teardown", ("teardown",), "Teardown: delete what the lab made (cluster, namespace)."
)
up = _phase_task(
    "up",
    ("setup", "deploy", "explore", "verify"),
    "Up: setup, deploy, explore and verify, in order.",
)
down = _phase_task(
    "down", ("teardown",), "Down: tear the lab down (same as teardown; safe to repeat)."
)


@task(
    help={
        **_help("lab", "inventory", "limit", "tags", "skip_tags", "set_", "lang", "debug"),
        "phase": "the phase(s) to show, comma separated (default: all of them)",
    },
    iterable=["set_"],
)
def plan(
    c: Any,
    phase: str | None = None,
    lab: str | None = None,
    inventory: str | None = None,
    limit: str | None = None,
    tags: str | None = None,
    skip_tags: str | None = None,
    set_: list[str] | None = None,
    lang: str | None = None,
    debug: bool = False,
) -> None:
    """Plan: print the exact commands each host would run, rendered; run nothing."""
    from labtools import app

    options = _options(
        c,
        {
            "lab": lab,
            "inventory": inventory,
            "limit": limit,
            "tags": tags,
            "skip_tags": skip_tags,
            "set_": set_,
            "lang": lang,
        },
    )
    _guard(c, debug, lambda: app.show_plan(ROOT, phase=phase, **options))


@task(help=_help("lab", "inventory", "debug"))
def list_(
    c: Any, lab: str | None = None, inventory: str | None = None, debug: bool = False
) -> None:
    """List: the labs, the inventory's hosts and groups, the phases and the tags."""
    from labtools import app

    options = _options(c, {"lab": lab, "inventory": inventory})
    _guard(
        c, debug, lambda: app.show_list(ROOT, lab=options["lab"], inventory=options["inventory"])
    )


lab = Collection("lab", setup, deploy, explore, verify, teardown, up, down, plan)
lab.add_task(list_, name="list")
ns = Collection(lab)
ns.configure(
    {
        "lab": {
            "name": "basics",
            "inventory": "inventory.yml",
            "limit": None,
            "tags": None,
            "skip_tags": None,
            "check": False,
            "verbose": 0,
            "lang": "en",
            "forks": 5,
            "debug": False,
        }
    }
)
