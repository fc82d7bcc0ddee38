"""invoke tasks: `invoke lab.setup | lab.deploy | lab.explore | lab.verify | lab.teardown`,
`lab.up`, `lab.down`, `lab.plan`, `lab.list`, `lab.lint`, `lab.new`; teaching: `lab.tutor`,
`lab.shell`, `lab.test`.

Each task is a few lines that call into `labtools.app`. This file is the ONE place where a
`LabError` becomes an exit code and a message (a traceback only with `--debug`).
"""

from __future__ import annotations

import gc
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke.collection import Collection
from invoke.exceptions import Exit
from invoke.tasks import Task, task

ROOT = Path(__file__).resolve().parent
T = TypeVar("T")

# invoke turns Python's bytecode cache off before it imports this file (no __pycache__ beside a
# tasks.py unless `invoke --write-pyc`), and so for every module imported after it: each run
# compiled labtools' runner, processes and reporters from source again (~50 ms of a `lab.up`
# start here). labtools is a package like any other: its modules are cached as Python was told
# when it started (`python -B` and PYTHONDONTWRITEBYTECODE still turn the cache off).
sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)

# A young-generation collection every 50,000 allocations instead of 700: a run's start builds
# modules, templates and the plan (objects that live as long as the process), and Python's
# default walks them again and again while they are made (~30 ms of a `lab.up` start here,
# bench/compare.py). Garbage cycles are still collected, in fewer, larger passes.
gc.set_threshold(50_000, *gc.get_threshold()[1:])

HELP = {
    "lab": "the lab to run: the folder playbooks/<LAB>/ (default from config lab.name: basics)",
    "inventory": "the inventory file (default: inventory.yml)",
    "limit": "hosts to run on: names, groups, globs, 'a:b' union, 'a:&b' and, 'a:!b' not",
    "tags": "run only steps with these tags (comma separated; 'all,extended': with modules 4-6)",
    "skip_tags": "skip steps with these tags (comma separated)",
    "set_": "extra variable KEY=VALUE, highest precedence (repeatable)",
    "check": "render and show every command, run nothing, write nothing",
    "verbose": "-v explanations and commands, -vv live output, -vvv run details",
    "lang": "language of the explanations: en or zh-TW",
    "forks": "how many hosts run a step at the same time",
    "list_tasks": "list the steps that would run (after --tags/--skip-tags), run nothing",
    "list_tags": "list the tags of the steps that would run, run nothing",
    "debug": "show a traceback on errors",
    "phase": "the phase(s), comma separated (lab.plan: all of them; lab.tutor: "
    "setup,deploy,explore)",
    "run": "the run directory (a path or a name under runs/; default: runs/latest)",
    "name": "the new lab's name (lowercase letters, digits, '-'): playbooks/NAME/",
    "start_at": "start at the step of this name (in any phase of the run); earlier steps that "
    "register a value or start a service run again",
    "with_token": "print each participant's token on their card (the card is then a secret)",
    "format": "card formats, comma separated: html,md (default: both)",
    "resume": "from the last run's journal: each host that failed (or did not finish) again from "
    "where it stopped; hosts that finished are left out (like --limit @failed)",
    "step": "ask before each step: y runs it, n skips it, c runs it and the rest without asking",
    "reset": "forget the progress and start the lab over",
}
# Ansible's short flags where users bring Ansible habits (ansible-playbook -i -l -t -C -f -e -v).
SHORT_FLAGS = {
    "inventory": "i",
    "limit": "l",
    "tags": "t",
    "check": "C",
    "forks": "f",
    "set_": "e",
    "verbose": "v",
}


class LabTask(Task[Any]):
    """A task whose short flags are the Ansible ones above, not invoke's first-letter guesses."""

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        """invoke's options for one argument, with the short flag from SHORT_FLAGS."""
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        if name in SHORT_FLAGS:
            opts["names"] = [*opts["names"], SHORT_FLAGS[name]]
        return opts


def lab_task(*names: str, doc: str) -> Callable[[Callable[..., T]], Any]:
    """``@task`` with LabTask, help for ``names``, ``--set`` repeatable and ``-v`` counting."""

    def wrap(body: Callable[..., T]) -> Any:
        body.__doc__ = doc
        return task(
            klass=LabTask,
            auto_shortflags=False,
            help={name: HELP[name] for name in names},
            iterable=["set_"],
            incrementable=["verbose"],
        )(body)

    return wrap


def _guard(c: Any, debug: bool, action: Callable[[], T], lang: str | None = None) -> T:
    """Run ``action``; a LabError (or Ctrl-C) becomes a message in the run's language and a code."""
    from labtools.core.errors import Interrupted, LabError

    debug = debug or bool(c.config.lab.get("debug")) or bool(os.environ.get("LABTOOLS_DEBUG"))
    try:
        return action()
    except KeyboardInterrupt as exc:
        from labtools.effects.process import STOPPED

        error: LabError = Interrupted(STOPPED)
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        raise Exit(error.format(_translator(c, lang)), error.exit_code) from None
    except LabError as exc:
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        raise Exit(exc.format(_translator(c, lang)), exc.exit_code) from None
    finally:
        # the process ends with the task: Python's last garbage collection would walk every
        # object the run made (~0.1 CPU-s under load at the end of lab.up); frozen, the
        # objects are left to the operating system (every reporter has closed its files)
        gc.freeze()


def _translator(c: Any, lang: str | None) -> Any:
    """The errors' language: ``--lang``, else the `lab` config; English when that is invalid."""
    from labtools.core.errors import OptionError
    from labtools.core.i18n import translator

    try:
        return translator(lang or c.config.lab.get("lang") or "en")
    except OptionError:  # the unknown language is itself the error being reported
        return translator("en")


def _check_project_config() -> None:
    """invoke reads invoke.yaml next to this file right after importing it: check it first."""
    from labtools.core.errors import LabError
    from labtools.core.options import check_invoke_file

    try:
        check_invoke_file(ROOT)
    except LabError as exc:
        if os.environ.get("LABTOOLS_DEBUG"):
            traceback.print_exception(exc, file=sys.stderr)
        raise Exit(exc.format(), exc.exit_code) from None


def _options(c: Any, flags: dict[str, Any]) -> Any:
    """Typed RunOptions: flags over the `lab` config (defaults < invoke.yaml < INVOKE_LAB_*)."""
    from labtools.core.options import run_options

    given = {key: value for key, value in flags.items() if key not in ("set_", "debug")}
    return run_options(dict(c.config.lab), {**given, "sets": flags.get("set_") or []})


RUN_FLAGS = (
    "limit",
    "lab",
    "inventory",
    "tags",
    "skip_tags",
    "set_",
    "check",
    "verbose",
    "lang",
    "forks",
    "list_tasks",
    "list_tags",
    "debug",
    "start_at",
    "resume",
    "step",
)


def _phase_task(name: str, phases: tuple[str, ...], doc: str) -> Any:
    def body(
        c: Any,
        limit: str | None = None,
        lab: str | None = None,
        inventory: str | None = None,
        tags: str | None = None,
        skip_tags: str | None = None,
        set_: list[str] | None = None,
        check: bool = False,
        verbose: int = 0,
        lang: str | None = None,
        forks: int | None = None,
        list_tasks: bool = False,
        list_tags: bool = False,
        debug: bool = False,
        start_at: str | None = None,
        resume: bool = False,
        step: bool = False,
    ) -> None:
        flags = {key: value for key, value in locals().items() if key in RUN_FLAGS}
        from labtools import app

        _guard(c, debug, lambda: app.run_lab(ROOT, phases, _options(c, flags)), lang)

    body.__name__ = name
    return lab_task(*RUN_FLAGS, doc=doc)(body)


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


@lab_task(
    "limit",
    "phase",
    "lab",
    "inventory",
    "set_",
    "check",
    "verbose",
    "lang",
    "forks",
    "debug",
    doc="Reset: tear down the --limit hosts and run the lab on them again (default: up's phases); "
    "the other hosts are not touched.",
)
def reset(
    c: Any,
    limit: str | None = None,
    phase: str | None = None,
    lab: str | None = None,
    inventory: str | None = None,
    set_: list[str] | None = None,
    check: bool = False,
    verbose: int = 0,
    lang: str | None = None,
    forks: int | None = None,
    debug: bool = False,
) -> None:
    flags = {key: value for key, value in locals().items() if key in RUN_FLAGS}
    from labtools import app
    from labtools.core.options import parse_phases

    def run() -> Any:
        phases = parse_phases(phase or "setup,deploy,explore,verify")
        return app.reset_lab(ROOT, phases, _options(c, flags))

    _guard(c, debug, run, lang)


@lab_task(
    "limit",
    "lab",
    "inventory",
    "set_",
    "lang",
    "debug",
    doc="Prepare: before the workshop, cache (minikube: start --download-only, cache add) or "
    "test-pull (shared cluster: a pod per image) every image the lab names.",
)
def prepare(
    c: Any,
    limit: str | None = None,
    lab: str | None = None,
    inventory: str | None = None,
    set_: list[str] | None = None,
    lang: str | None = None,
    debug: bool = False,
) -> None:
    flags = {key: value for key, value in locals().items() if key in RUN_FLAGS}
    from labtools import app

    _guard(c, debug, lambda: app.prepare_lab(ROOT, _options(c, flags)), lang)


@lab_task(
    "limit",
    "lab",
    "inventory",
    "set_",
    "with_token",
    "format",
    "lang",
    "debug",
    doc="Cards: one access card per participant (printable HTML, 8 per A4 page, and Markdown) "
    "from templates/cards/, into runs/<time>-<lab>-cards/.",
)
def cards(
    c: Any,
    limit: str | None = None,
    lab: str | None = None,
    inventory: str | None = None,
    set_: list[str] | None = None,
    with_token: bool = False,
    format: str | None = None,
    lang: str | None = None,
    debug: bool = False,
) -> None:
    flags = {key: value for key, value in locals().items() if key in RUN_FLAGS}
    from labtools import app
    from labtools.core.options import parse_formats

    def run() -> Any:
        formats = parse_formats(format)
        return app.make_cards(ROOT, _options(c, flags), with_token=with_token, formats=formats)

    _guard(c, debug, run, lang)


@lab_task(
    "phase",
    "limit",
    "lab",
    "inventory",
    "tags",
    "skip_tags",
    "set_",
    "lang",
    "debug",
    doc="Plan: print the exact commands each host would run, rendered; run nothing.",
)
def plan(
    c: Any,
    phase: str | None = None,
    limit: str | None = None,
    lab: str | None = None,
    inventory: str | None = None,
    tags: str | None = None,
    skip_tags: str | None = None,
    set_: list[str] | None = None,
    lang: str | None = None,
    debug: bool = False,
) -> None:
    flags = {key: value for key, value in locals().items() if key in RUN_FLAGS}
    from labtools import app
    from labtools.core.options import parse_phases

    _guard(c, debug, lambda: app.show_plan(ROOT, parse_phases(phase), _options(c, flags)), lang)


@lab_task(
    "lab",
    "inventory",
    "debug",
    doc="List: the labs, the inventory's hosts and groups, the phases and the tags.",
)
def list_(
    c: Any, lab: str | None = None, inventory: str | None = None, debug: bool = False
) -> None:
    from labtools import app

    flags = {"lab": lab, "inventory": inventory}
    _guard(c, debug, lambda: app.show_list(ROOT, _options(c, flags)))


@lab_task(
    "run",
    "lab",
    "inventory",
    "lang",
    "debug",
    doc="Report: (re)write a run's self-contained HTML report (runs/<run>/report.html).",
)
def report(
    c: Any,
    run: str | None = None,
    lab: str | None = None,
    inventory: str | None = None,
    lang: str | None = None,
    debug: bool = False,
) -> None:
    from labtools import app

    flags = {"lab": lab, "inventory": inventory, "lang": lang}
    _guard(c, debug, lambda: app.make_report(ROOT, _options(c, flags), run), lang)


@lab_task(
    "run",
    "limit",
    "lab",
    "inventory",
    "lang",
    "debug",
    doc="Handout: each participant's steps, commands, outputs and checks (Markdown and HTML).",
)
def handout(
    c: Any,
    run: str | None = None,
    limit: str | None = None,
    lab: str | None = None,
    inventory: str | None = None,
    lang: str | None = None,
    debug: bool = False,
) -> None:
    from labtools import app

    flags = {"lab": lab, "inventory": inventory, "lang": lang, "limit": limit}
    _guard(c, debug, lambda: app.make_handouts(ROOT, _options(c, flags), run), lang)


@lab_task(
    "lab",
    "inventory",
    "limit",
    "tags",
    "skip_tags",
    "set_",
    "debug",
    doc="Lint: check every lab (or --lab) without a cluster; one line per problem, exit 2.",
)
def lint(
    c: Any,
    lab: str | None = None,
    inventory: str | None = None,
    limit: str | None = None,
    tags: str | None = None,
    skip_tags: str | None = None,
    set_: list[str] | None = None,
    debug: bool = False,
) -> None:
    flags = {key: value for key, value in locals().items() if key in RUN_FLAGS}
    from labtools import app

    # lint checks every lab unless --lab names one: the configured default lab does not apply
    options = _options(c, {**flags, "lab": lab or None})
    if not lab:
        import dataclasses

        options = dataclasses.replace(options, lab=None)
    _guard(c, debug, lambda: app.lint(ROOT, options))


@lab_task(
    "name", "debug", doc="New: scaffold playbooks/NAME/ and templates/NAME/ (a lab that runs)."
)
def new(c: Any, name: str, debug: bool = False) -> None:
    from labtools import app

    lang = _options(c, {}).lang
    _guard(c, debug, lambda: app.new_lab(ROOT, name, lang))


TEACH_FLAGS = ("limit", "lab", "inventory", "tags", "skip_tags", "set_", "lang", "debug")


@lab_task(
    *TEACH_FLAGS,
    "phase",
    "reset",
    doc="Tutor: you type each step's command in your terminal, the tutor checks it "
    "(h hint, s solve, q quit; it resumes where you stopped).",
)
def tutor(
    c: Any,
    limit: str | None = None,
    lab: str | None = None,
    inventory: str | None = None,
    tags: str | None = None,
    skip_tags: str | None = None,
    set_: list[str] | None = None,
    lang: str | None = None,
    debug: bool = False,
    phase: str | None = None,
    reset: bool = False,
) -> None:
    flags = {key: value for key, value in locals().items() if key in RUN_FLAGS}
    from labtools.tutor.run import TUTOR_PHASES, run_tutor

    phases = _phases(phase, TUTOR_PHASES)
    _guard(c, debug, lambda: run_tutor(ROOT, _options(c, flags), reset=reset, phases=phases), lang)


@lab_task(
    *TEACH_FLAGS,
    doc="Shell: a shell whose kubectl (and minikube) reach the lab; the tutor sees what you run.",
)
def shell(
    c: Any,
    limit: str | None = None,
    lab: str | None = None,
    inventory: str | None = None,
    tags: str | None = None,
    skip_tags: str | None = None,
    set_: list[str] | None = None,
    lang: str | None = None,
    debug: bool = False,
) -> None:
    flags = {key: value for key, value in locals().items() if key in RUN_FLAGS}
    from labtools.tutor.run import open_shell

    _guard(c, debug, lambda: open_shell(ROOT, _options(c, flags)), lang)


@lab_task(
    *TEACH_FLAGS,
    "verbose",
    "forks",
    doc="Test (for lab authors): every check must fail before its step and hold after it; "
    "tears the lab down before and after.",
)
def lab_test(
    c: Any,
    limit: str | None = None,
    lab: str | None = None,
    inventory: str | None = None,
    tags: str | None = None,
    skip_tags: str | None = None,
    set_: list[str] | None = None,
    lang: str | None = None,
    debug: bool = False,
    verbose: int = 0,
    forks: int | None = None,
) -> None:
    flags = {key: value for key, value in locals().items() if key in RUN_FLAGS}
    from labtools.tutor.run import test_lab

    _guard(c, debug, lambda: test_lab(ROOT, _options(c, flags)), lang)


def _phases(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """``--phase``: phases as given (validated), else ``default``."""
    from labtools.core.options import parse_phases

    return parse_phases(value) if value else default


_check_project_config()  # before invoke's own loader turns a bad file into a traceback
lab = Collection(
    "lab",
    setup,
    deploy,
    explore,
    verify,
    teardown,
    up,
    down,
    reset,
    cards,
    prepare,
    plan,
    report,
    handout,
    lint,
    new,
    tutor,
    shell,
)
lab.add_task(list_, name="list")
lab.add_task(lab_test, name="test")
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
