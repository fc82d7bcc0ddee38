"""The teaching tasks behind ``invoke lab.tutor``, ``lab.shell`` and ``lab.test``; and the
``--step`` gate of the run tasks. Like ``labtools.app``: everything loads and is checked before
anything runs; errors are raised, never printed (tasks.py prints them)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from labtools.core.errors import Interrupted, OptionError, RunFailed
from labtools.core.i18n import SOURCE_LANGUAGE, Translator, translator
from labtools.core.messages import joined, msg, msgn
from labtools.core.model import PHASES, HostPlan, Plan
from labtools.core.options import RunOptions
from labtools.report.console import fill_cells

if TYPE_CHECKING:
    from labtools.app import Loaded
    from labtools.effects.runner import Runner, StepGate
    from labtools.report import Reporter
    from labtools.tutor.labtest import LabTestGate
    from labtools.tutor.session import Outcome
    from labtools.tutor.shell import ShellSetup
    from labtools.tutor.state import Progress

TUTOR_PHASES: tuple[str, ...] = ("setup", "deploy", "explore")
TEST_PHASES: tuple[str, ...] = PHASES  # what lab.up runs, then lab.down


def step_gate(options: RunOptions, templates_dir: Path | None) -> StepGate | None:
    """The ``--step`` prompt on this terminal (an OptionError when there is no terminal)."""
    if not options.step:
        return None
    if not sys.stdin.isatty():
        raise OptionError(
            msg("--step asks before each step and needs a terminal (stdin is not one)"),
            hint=msg("run it in a terminal, or leave --step out"),
        )
    from labtools.tutor.stepping import StepPrompt

    return StepPrompt(sys.stdin, sys.stdout, translator(options.lang), templates_dir)


# --- lab.tutor ---------------------------------------------------------------------------------


def one_participant(loaded: Loaded) -> HostPlan:
    """The one host a tutor session or a lab shell is for (``-l HOST`` picks it)."""
    hosts = loaded.plan.hosts
    if len(hosts) == 1:
        return hosts[0]
    raise OptionError(
        msgn(
            "the tutor teaches one participant, and {n} host is selected ({hosts})",
            "the tutor teaches one participant, and {n} hosts are selected ({hosts})",
            len(hosts),
            hosts=", ".join(hp.host.name for hp in hosts),
        ),
        hint=msg("pick yours with -l HOST (--limit)"),
    )


def shell_task(loaded: Loaded, host: str, lang: str = SOURCE_LANGUAGE) -> str:
    """How this participant opens their lab shell (``invoke lab.shell [--lab X] [-l HOST]
    [--lang L]``): the flags that pick this lab, host and language, and no others."""
    from labtools.core.playbook import list_labs

    project = loaded.project
    words = ["invoke", "lab.shell"]
    if len(list_labs(project.playbooks_dir)) > 1:
        words += ["--lab", project.lab.name]
    if len(project.inventory.hosts) > 1:
        words += ["-l", host]
    if lang != SOURCE_LANGUAGE:
        words += ["--lang", lang]
    return shlex.join(words)


def _setup(loaded: Loaded, host_plan: HostPlan) -> ShellSetup:
    from labtools.tutor.shell import shell_setup

    provider = loaded.providers[host_plan.host.name]
    return shell_setup(loaded.project.root, loaded.project.lab.name, host_plan.host, provider)


def run_tutor(
    root: Path, options: RunOptions, *, reset: bool = False, phases: Sequence[str] = TUTOR_PHASES
) -> Outcome:
    """Teach the lab to one participant, step by step, from where they stopped."""
    from labtools import app
    from labtools.tutor.shell import write_shell_files
    from labtools.tutor.state import load_progress, progress_path, reset_progress

    loaded = app.load(root, options, phases)
    host_plan = one_participant(loaded)
    if "setup" in phases:
        app.preflight([host_plan.host], loaded.providers)
    setup = _setup(loaded, host_plan)
    write_shell_files(setup)
    path = progress_path(setup.directory)
    if reset:
        reset_progress(path)
    progress = load_progress(path, loaded.project.lab.name, host_plan.host.name)
    return _session(loaded, host_plan, setup, progress, translator(options.lang))


def _session(
    loaded: Loaded, host_plan: HostPlan, setup: ShellSetup, progress: Progress, tr: Translator
) -> Outcome:
    """One run of the runner, the keys, and the tutor in it."""
    from labtools.report.console import ConsoleReporter
    from labtools.tutor.keys import Keys
    from labtools.tutor.session import Tutor
    from labtools.tutor.view import TutorReporter, TutorView

    reporter = TutorReporter(ConsoleReporter(sys.stdout, verbosity=0, lang=tr.lang))
    runner = _runner(loaded, host_plan, "tutor", [reporter])
    view = TutorView(sys.stdout, tr, reporter, shell_task(loaded, host_plan.host.name, tr.lang))
    provider = loaded.providers[host_plan.host.name]
    try:
        with runner.session(), Keys() as keys:
            tutor = Tutor(
                runner, provider, setup, progress, keys, view, tr, loaded.project.templates_dir
            )
            return tutor.run()
    except Interrupted:
        view.quit(progress.count(list(host_plan.steps)), len(host_plan.steps))
        raise


def _runner(
    loaded: Loaded,
    host_plan: HostPlan,
    label: str,
    reporters: list[Reporter],
    gate: StepGate | None = None,
    verbosity: int = 0,
) -> Runner:
    """A runner of this plan (one host or all), writing a run directory named ``label``."""
    from labtools.app import redactor_for
    from labtools.effects.rundir import new_run_dir
    from labtools.effects.runner import RunInfo, Runner
    from labtools.report.journal import JournalReporter

    project = loaded.project
    run_dir = new_run_dir(project.root / "runs", project.lab.name, label)
    plan = Plan(loaded.plan.lab, loaded.plan.phases, (host_plan,))
    info = RunInfo(
        providers={name: provider.name for name, provider in loaded.providers.items()},
        banners=loaded.banners,
        verbosity=verbosity,
    )
    return Runner(
        plan,
        loaded.providers,
        reporters=[*reporters, JournalReporter(run_dir)],
        run_dir=run_dir,
        templates_dir=project.templates_dir,
        verbosity=verbosity,
        forks=1,
        redactor=redactor_for(loaded.plan),
        info=info,
        gate=gate,
    )


# --- lab.shell ---------------------------------------------------------------------------------


def open_shell(root: Path, options: RunOptions) -> NoReturn:
    """Replace this process with the participant's lab shell."""
    from labtools import app
    from labtools.tutor.shell import exec_shell

    loaded = app.load(root, options, TUTOR_PHASES)
    host_plan = one_participant(loaded)
    setup = _setup(loaded, host_plan)
    tr = translator(options.lang)
    print(
        tr.gettext(
            "Lab shell for {lab} on host {host}: kubectl reaches the lab, and the tutor sees "
            "what you run here. `exit` leaves it.",
            lab=setup.lab,
            host=setup.host,
        ),
        flush=True,
    )
    exec_shell(setup)


# --- lab.test ----------------------------------------------------------------------------------


def test_lab(root: Path, options: RunOptions) -> LabTestGate:
    """Tear down, run the lab proving each check fails before and holds after its step, tear
    down; RunFailed (exit 1) naming every check that failed its test, or a step that failed."""
    from labtools import app

    loaded = app.load(root, options, TEST_PHASES)
    down = app.load(root, options, ("teardown",))
    app.preflight([hp.host for hp in loaded.plan.hosts], loaded.providers)
    app.run_loaded(down, ("teardown",), options)  # a check can only fail on a lab that is not there
    try:
        gate, summary_failed = _test_run(loaded, options)
    finally:
        app.run_loaded(down, ("teardown",), options)
    _report(gate, loaded.project.lab.name, translator(options.lang))
    _judge(gate, summary_failed, loaded.project.lab.name)
    return gate


def _test_run(loaded: Loaded, options: RunOptions) -> tuple[LabTestGate, list[str]]:
    """The lab's run with the check-testing gate, on every selected host."""
    from labtools.app import redactor_for
    from labtools.effects.rundir import new_run_dir
    from labtools.effects.runner import RunInfo, Runner
    from labtools.report.console import ConsoleReporter
    from labtools.report.journal import JournalReporter
    from labtools.tutor.labtest import LabTestGate

    project = loaded.project
    run_dir = new_run_dir(project.root / "runs", project.lab.name, "test")
    shims = {
        hp.host.name: dict(loaded.providers[hp.host.name].shell_commands(hp.host))
        for hp in loaded.plan.hosts
    }
    gate = LabTestGate(templates_dir=project.templates_dir, shims=shims)
    console = ConsoleReporter(sys.stdout, verbosity=options.verbosity, lang=options.lang)
    runner = Runner(
        loaded.plan,
        loaded.providers,
        reporters=[console, JournalReporter(run_dir)],
        run_dir=run_dir,
        templates_dir=project.templates_dir,
        verbosity=options.verbosity,
        forks=options.forks,
        redactor=redactor_for(loaded.plan),
        info=RunInfo(banners=loaded.banners, verbosity=options.verbosity),
        gate=gate,
    )
    gate.runner = runner
    summary = runner.run()
    failed = sorted(
        {f"{r.host}: {r.step}" for r in summary.results if r.status == "failed" and not r.ignored}
    )
    return gate, failed


def _report(gate: LabTestGate, lab: str, tr: Translator) -> None:
    """A line per check and host: held before? held after? and what was not tested."""
    print()
    print(
        tr.ngettext(
            "LAB TEST {lab}: {n} check", "LAB TEST {lab}: {n} checks", len(gate.tests), lab=lab
        )
    )
    for test in gate.tests:
        if test.problem:
            word = tr.pgettext("check", "failed")
        elif test.note:
            word = tr.pgettext("check", "untested")
        else:
            word = tr.pgettext("check", "passed")
        where = f"{test.step.phase}: {test.step.name} [{test.host}] ({test.kind})"
        print(f"  {fill_cells(word, 9)}{where}")
        for text in (test.problem, test.note):
            if text:
                print(f"           {tr.render(text)}")
    if gate.unchecked:
        names = ", ".join(f"{step.phase}: {step.name}" for step in gate.unchecked)
        count = len(gate.unchecked)
        print(
            "  "
            + tr.ngettext(
                "{n} step without a check (Enter in the tutor): {steps}",
                "{n} steps without a check (Enter in the tutor): {steps}",
                count,
                steps=names,
            )
        )


def _judge(gate: LabTestGate, failed_steps: list[str], lab: str) -> None:
    """RunFailed for checks that failed their test, or for steps that failed."""
    problems = gate.problems()
    if problems:
        lines = [joined([test.where(), test.problem], ": ") for test in problems]
        raise RunFailed(
            msgn(
                "lab.test {lab}: {n} check failed its test:\n{problems}",
                "lab.test {lab}: {n} checks failed their test:\n{problems}",
                len(problems),
                lab=lab,
                problems=joined(lines, "\n"),
            ),
            hint=msg("a check must fail before its step runs and hold after it"),
        )
    if failed_steps:
        raise RunFailed(
            msgn(
                "lab.test {lab}: {n} step failed: {steps}",
                "lab.test {lab}: {n} steps failed: {steps}",
                len(failed_steps),
                lab=lab,
                steps="; ".join(failed_steps),
            ),
            hint=msg("the output above has the details"),
        )
