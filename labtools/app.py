"""The application layer behind the invoke tasks: load, check, plan, pick providers, run, report.

Everything knowable before a run is checked first (``load``): the files, the tags, the providers,
and every step's templates rendered for every host (the preview); a run starts only when the
whole lab loads. Raises `LabError`s; never prints errors or exits (tasks.py does that).
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtools.core.errors import ConfigError, Interrupted, LabError, RunFailed, file_and_line
from labtools.core.messages import Text, joined, msg, msgn
from labtools.core.model import PHASES, Command, Host, HostPlan, Inventory, Lab, Plan
from labtools.core.options import RunOptions
from labtools.core.redact import Redactor
from labtools.core.results import HostFailure, Output, RunSummary, StepResult

if TYPE_CHECKING:
    from labtools.core.cards import Card
    from labtools.core.i18n import Translator
    from labtools.core.preview import PlannedStep
    from labtools.core.project import Project
    from labtools.effects.prepare import Outcome
    from labtools.effects.process import ProcessRegistry
    from labtools.effects.runner import FailureHook
    from labtools.providers.base import Provider
    from labtools.report import Reporter
    from labtools.report.console import ConsoleReporter
    from labtools.report.html import ReportReporter


@dataclass(frozen=True)
class Loaded:
    """A lab ready to run: its project, plan, providers per host, banners and preview."""

    project: Project
    plan: Plan
    providers: Mapping[str, Provider]
    banners: tuple[Text, ...]
    preview: tuple[PlannedStep, ...]


def load(root: Path, options: RunOptions, phases: Sequence[str] = PHASES) -> Loaded:
    """Load and check everything a run needs; nothing runs (raises ConfigError & co).

    Every problem is reported at once (``Problems``), found by the same checks as ``lab.lint``.
    """
    from labtools.core.inventory import load_inventory
    from labtools.core.playbook import problems_error
    from labtools.core.project import Project, inventory_path, lab_path

    root = Path(root).resolve()
    lab_dir = lab_path(root / "playbooks", options.lab).parent
    inventory = load_inventory(inventory_path(root, options.inventory))
    checked = _check_lab(root, lab_dir, inventory, options, phases, options.tags)
    if checked.problems or checked.plan is None:
        raise problems_error(checked.problems, root=str(root))
    project = Project(root, inventory, checked.lab, root / "templates", root / "playbooks")
    plan = _part_way(project, checked.plan, options)
    preview = checked.preview if plan is checked.plan else _still_planned(checked.preview, plan)
    return Loaded(project, plan, checked.providers, checked.banners, preview)


def _still_planned(preview: Sequence[PlannedStep], plan: Plan) -> tuple[PlannedStep, ...]:
    """The preview of the steps ``--start-at``/``--resume`` kept (the whole lab was checked)."""
    kept = {(hp.host.name, id(step)) for hp in plan.hosts for step in hp.steps}
    return tuple(item for item in preview if (item.host, id(item.step)) in kept)


@dataclass(frozen=True)
class LabCheck:
    """What checking a lab against an inventory found; a plan only when the lab could plan."""

    lab: Lab
    problems: tuple[ConfigError, ...]
    plan: Plan | None = None
    providers: Mapping[str, Provider] = field(default_factory=dict)
    banners: tuple[Text, ...] = ()
    preview: tuple[PlannedStep, ...] = ()


def _check_lab(
    root: Path,
    lab_dir: Path,
    inventory: Inventory,
    options: RunOptions,
    phases: Sequence[str],
    tags: frozenset[str] | None,
) -> LabCheck:
    """The one checker of a lab, for a run's ``load`` and for ``lab.lint``: every problem.

    The playbook's schema and the files it names (``check_playbook``), the plan (hosts, tags;
    ``tags=None``: every step, those tagged ``never`` too), and every selected step rendered for
    every host in run order (``check_plan``).
    """
    from labtools.core.plan import build_plan, lab_tags
    from labtools.core.playbook import PLAYBOOK, check_playbook
    from labtools.core.preview import check_plan
    from labtools.core.yamlfile import load_yaml
    from labtools.providers import host_defaults

    templates = root / "templates"
    checked = check_playbook(
        load_yaml(lab_dir / PLAYBOOK), templates_dir=templates, lab_dir=lab_dir
    )
    lab = checked.lab
    try:
        plan = build_plan(
            inventory,
            lab,
            phases=phases,
            limit=options.limit,
            tags=frozenset({"all", *lab_tags(lab)}) if tags is None else tags,
            skip_tags=options.skip_tags,
            extra_vars={**_internal_vars(root, inventory.path), **options.extra_vars},
            defaults=host_defaults,
        )
        providers, banners = _providers(plan)
    except ConfigError as exc:
        return LabCheck(lab, (*checked.problems, exc))
    built = {step.register for steps in lab.phases.values() for step in steps if step.register}
    preview = check_plan(
        plan, providers, templates, unchecked=checked.unchecked, known=checked.registers - built
    )
    redactor = redactor_for(plan, providers)
    # what lab.plan, --check and anything else showing the preview print: secrets masked
    shown = tuple(
        replace(
            item, display=redactor.text(item.display), notes=tuple(map(redactor.text, item.notes))
        )
        for item in preview.steps
    )
    problems = (*checked.problems, *preview.problems)
    return LabCheck(lab, problems, plan, providers, banners, shown)


def _internal_vars(root: Path, inventory: str) -> dict[str, str]:
    """Where the project is: set for every host (``INTERNAL_VARS``)."""
    return {"project_root": str(root), "inventory_file": str(inventory)}


@dataclass(frozen=True)
class CheckTarget:
    """A host the lab's checks run against, with the variables they may see, and its provider."""

    host: Host
    vars: Mapping[str, Any]
    provider: Provider


def check_targets(root: Path, options: RunOptions) -> tuple[CheckTarget, ...]:
    """The hosts and variables the verify plugin gives the checks: the run's own plan.

    The same project, inventory, lab vars, provider defaults and ``--set`` values as ``lab.up``
    (``options.extra_vars``); the lab's ``secrets:`` are left out, and any other value that
    contains one is left out too. Without a lab: the inventory's hosts and their variables.
    """
    if options.lab:
        loaded = load(root, options, ("verify",))
        plan, providers = loaded.plan, loaded.providers
    else:
        plan = _inventory_plan(root, options)
        providers = _providers(plan)[0]
    redactor = redactor_for(plan, providers)
    return tuple(
        CheckTarget(
            hp.host, _check_vars(hp.vars, plan.lab.secrets, redactor), providers[hp.host.name]
        )
        for hp in plan.hosts
    )


def _inventory_plan(root: Path, options: RunOptions) -> Plan:
    """A plan of no steps over the inventory's hosts (checks without a lab)."""
    from labtools.core.inventory import load_inventory
    from labtools.core.plan import build_plan
    from labtools.core.project import inventory_path
    from labtools.providers import host_defaults

    path = inventory_path(Path(root).resolve(), options.inventory)
    inventory = load_inventory(path)
    return build_plan(
        inventory,
        Lab(name="", path=str(path)),
        phases=(),
        limit=options.limit,
        extra_vars={**_internal_vars(Path(root).resolve(), str(path)), **options.extra_vars},
        defaults=host_defaults,
    )


def _check_vars(
    variables: Mapping[str, Any], secrets: Sequence[str], redactor: Redactor
) -> dict[str, Any]:
    """A host's variables, templates rendered, without secrets or values that contain one."""
    import jinja2

    from labtools.core.plan import resolve_vars

    resolved = resolve_vars(variables)
    return {
        key: value
        for key, value in resolved.items()
        if key not in secrets
        and not isinstance(value, jinja2.Undefined)
        and redactor.value(value) == value
    }


def _part_way(project: Project, plan: Plan, options: RunOptions) -> Plan:
    """``--start-at STEP`` and ``--resume`` (from the newest journal of this lab)."""
    if options.start_at:
        from labtools.core.resume import start_at

        plan = start_at(plan, options.start_at)
    if options.resume:
        from labtools.core.resume import resume

        journal = last_journal(project.root / "runs", project.lab.name)
        plan = resume(plan, read_journal_records(journal))
    return plan


def last_journal(runs: Path, lab: str) -> Path:
    """The journal of the newest run of ``lab`` that ran steps (what ``--resume`` resumes)."""
    from labtools.core.errors import OptionError

    candidates = (
        sorted(runs.glob(f"*-{lab}-*/journal.jsonl"), reverse=True) if runs.is_dir() else []
    )
    for path in candidates:
        if '"kind": "step_end"' in path.read_text(encoding="utf-8", errors="replace"):
            return path
    raise OptionError(
        msg("--resume: no earlier run of lab {lab} in {runs}", lab=lab, runs=runs),
        hint=msg("run the lab once (invoke lab.up); --resume then redoes what failed"),
    )


def read_journal_records(path: Path) -> list[dict[str, object]]:
    """The records of a journal file."""
    from labtools.report.journal import read_journal

    return read_journal(path)


def _providers(plan: Plan) -> tuple[dict[str, Provider], tuple[Text, ...]]:
    """One provider per host (``auto`` resolved), and the banners to show."""
    from labtools.providers import provider_for

    providers: dict[str, Provider] = {}
    banners: list[Text] = []
    for host_plan in plan.hosts:
        provider, banner = provider_for(host_plan.host)
        providers[host_plan.host.name] = provider
        if banner:
            banners.append(banner)
    return providers, tuple(banners)


def redactor_for(plan: Plan, providers: Mapping[str, Provider] | None = None) -> Redactor:
    """A Redactor knowing the lab's secret values on every host (``secrets:``, ``--set`` for
    no_log steps) and, given the providers, the participants' current tokens (a run that does
    not issue them must not print them)."""
    from labtools.core.kubeconfig import kubeconfig_token
    from labtools.core.plan import no_log_names
    from labtools.providers.base import isolation_on, participant_kubeconfig

    names = plan.lab.secrets
    values = [hp.vars.get(name) for hp in plan.hosts for name in names]
    # a --set value for a no_log step is a secret too (core/plan.no_log_names)
    quiet = no_log_names(plan.lab)
    values += [value for hp in plan.hosts for key, value in hp.extra_vars.items() if key in quiet]
    for host_plan in plan.hosts:
        host = host_plan.host
        provider = (providers or {}).get(host.name)
        if provider is not None and isolation_on(host, provider.name == "context"):
            try:
                values.append(kubeconfig_token(Path(participant_kubeconfig(host)).read_text()))
            except OSError:
                continue
    return Redactor(str(value) for value in values if value not in (None, ""))


def run_lab(root: Path, phases: Sequence[str], options: RunOptions) -> RunSummary | None:
    """Run the given phases on the selected hosts; raise RunFailed when a step failed.

    ``--check``, ``--list-tasks`` and ``--list-tags`` print what would run, write nothing and
    return None.
    """
    with Probes() as probes:
        if not (options.check or options.list_tasks or options.list_tags):
            probes.start_early(root, options, phases)  # read-only, while the lab loads
        return _run_lab(root, phases, options, probes)


def _run_lab(
    root: Path, phases: Sequence[str], options: RunOptions, probes: Probes
) -> RunSummary | None:
    """``run_lab`` with the preflight's probes (started early or not)."""
    loaded = load(root, options, phases)
    if options.resume and not loaded.plan.hosts:
        _say(options.lang, msg("nothing to resume: every host finished the last run of this lab"))
        return None
    if options.list_tasks or options.list_tags:
        from labtools.report.listing import print_tasks

        print_tasks(
            loaded.plan,
            sys.stdout,
            tasks=options.list_tasks,
            tags=options.list_tags,
            lang=options.lang,
        )
        return None
    if options.check:
        _print_preview(loaded, options.lang)
        return None
    from labtools.effects.lock import hold

    targets = [loaded.providers[hp.host.name].lock_name(hp.host) for hp in loaded.plan.hosts]
    with hold(targets, project=str(loaded.project.root)) as took_over:
        hosts = [hp.host for hp in loaded.plan.hosts]
        _preflight(hosts, loaded.providers, phases, meanwhile=RUN_MODULES, probes=probes)
        return run_loaded(loaded, phases, options, notices=tuple(took_over))


RUN_MODULES = (
    "labtools.effects.rundir",
    "labtools.effects.runner",
    "labtools.report.console",
    "labtools.report.html",
    "labtools.report.journal",
    "labtools.report.junit",
    "labtools.tutor.run",
    # what the console reporter imports when it starts and for the recap (rich, ~35 ms)
    "rich.console",
    "rich.markup",
    "rich.table",
    "rich.box",
)


def _importing(modules: Sequence[str]) -> threading.Thread:
    """A thread importing ``modules`` (started): what runs next, while this waits on probes."""
    import importlib

    thread = threading.Thread(
        target=lambda: [importlib.import_module(name) for name in modules],
        name="importing",
        daemon=True,
    )
    thread.start()
    return thread


def run_loaded(
    loaded: Loaded, phases: Sequence[str], options: RunOptions, notices: tuple[Text, ...] = ()
) -> RunSummary:
    """Run a loaded lab (the run tasks, ``lab.test``'s teardowns); RunFailed when a step failed."""
    return _run(loaded, phases, options, notices=notices)


def _run(
    loaded: Loaded, phases: Sequence[str], options: RunOptions, notices: tuple[Text, ...] = ()
) -> RunSummary:
    """Make the run directory, start the reporters, run the plan, judge the summary."""
    from labtools.effects.rundir import new_run_dir
    from labtools.effects.runner import RunInfo, run_plan
    from labtools.report.console import ConsoleReporter
    from labtools.report.html import ReportReporter
    from labtools.report.journal import JournalReporter
    from labtools.report.junit import JUnitReporter
    from labtools.tutor.run import step_gate

    project = loaded.project
    gate = step_gate(options, project.templates_dir)  # before the run directory: may refuse
    run_dir = new_run_dir(project.root / "runs", project.lab.name, _label(phases))
    _link_participants(loaded, run_dir)
    console = ConsoleReporter(sys.stdout, verbosity=options.verbosity, lang=options.lang)
    redactor = redactor_for(loaded.plan, loaded.providers)
    info = RunInfo(
        providers={name: provider.name for name, provider in loaded.providers.items()},
        banners=(*loaded.banners, *notices),
        verbosity=options.verbosity,
    )
    report = ReportReporter(run_dir, project.templates_dir, options.lang)
    reporters: list[Reporter] = [
        console,
        JournalReporter(run_dir),
        JUnitReporter(run_dir / "steps.junit.xml"),
        report,
    ]
    try:
        summary = run_plan(
            loaded.plan,
            loaded.providers,
            reporters=reporters,
            run_dir=run_dir,
            templates_dir=project.templates_dir,
            verbosity=options.verbosity,
            forks=options.forks,
            redactor=redactor,
            info=info,
            on_failure=_diagnose(run_dir, redactor),
            gate=gate,
        )
    except Interrupted as exc:
        _name_the_report(console, report)
        raise Interrupted(msg("{why} (run: {run})", why=exc.text, run=run_dir)) from exc
    _name_the_report(console, report)
    if "teardown" in phases and not summary.failed:
        _remove_leftovers(loaded)
    if summary.failed:
        from labtools.report.outcome import outcome_line

        bad = [r for r in summary.results if r.status == "failed" and not r.ignored]
        hosts = [hp.host.name for hp in loaded.plan.hosts]
        raise RunFailed(
            outcome_line(hosts, list(summary.failures.values())),
            hint=msg(
                "the recap above has the details; the report is {report}",
                report=report.path or run_dir / "journal.jsonl",
            ),
            exit_code=failure_exit_code(bad),
        )
    return summary


def _name_the_report(console: ConsoleReporter, report: ReportReporter) -> None:
    """The run's last line: where its HTML report is (or why there is none)."""
    if report.path is not None:
        console.final_line(msg("report: {path}", path=report.path))
    else:
        console.final_line(msg("WARNING: no report was written: {why}", why=report.error))


def _diagnose(run_dir: Path, redactor: Redactor) -> FailureHook:
    """The hook that collects a dropped host's diagnostics into the run directory."""

    def hook(host_plan: HostPlan, provider: Provider, result: StepResult) -> HostFailure:
        # imported when a host fails, not before every run's first step
        from labtools.effects import process
        from labtools.effects.diagnostics import diagnose_host

        return diagnose_host(
            host_plan, provider, result, run_dir=run_dir, redactor=redactor, run=process.run
        )

    return hook


def _link_participants(loaded: Loaded, run_dir: Path) -> None:
    """``<run>/participants`` -> the participants' kubeconfig folder (shared clusters)."""
    import contextlib
    import os

    from labtools.providers.base import isolation_on, participant_kubeconfig

    for host_plan in loaded.plan.hosts:
        shared = loaded.providers[host_plan.host.name].name == "context"
        if isolation_on(host_plan.host, shared):
            folder = os.path.dirname(participant_kubeconfig(host_plan.host))
            # no symlinks on this filesystem: the run prints the folder itself
            with contextlib.suppress(OSError):
                (run_dir / "participants").symlink_to(os.path.relpath(folder, run_dir))
            return


def _remove_leftovers(loaded: Loaded) -> None:
    """After a teardown: the providers' state (the fake's home, its CA key) once unused."""
    from labtools.effects.leftovers import remove_unused

    leftovers = [
        item
        for host_plan in loaded.plan.hosts
        for item in loaded.providers[host_plan.host.name].leftovers(host_plan.host)
    ]
    remove_unused(leftovers, loaded.project.root)


def failure_exit_code(failed: Sequence[StepResult]) -> int:
    """The run's exit code from its failed steps: the lowest-level cause wins.

    3 when a provider problem stopped a step (a binary missing, the cluster unreachable), else
    4 when a background service failed, else 1 (a step failed).
    """
    codes = {result.exit_code for result in failed}
    return next((code for code in (3, 4) if code in codes), 1)


def _label(phases: Sequence[str]) -> str:
    """The run directory's label: ``up`` for the four phases of lab.up, ``reset`` for a
    teardown followed by others, else the phases."""
    if tuple(phases) == PHASES[:4]:
        return "up"
    if len(phases) > 1 and phases[0] == "teardown":
        return "reset"
    return "-".join(phases)


def reset_lab(root: Path, phases: Sequence[str], options: RunOptions) -> RunSummary | None:
    """Tear down the ``--limit`` hosts and run ``phases`` on them again, in one run: one
    participant gets a fresh place (and a new kubeconfig) while the others are not touched."""
    from labtools.core.errors import OptionError

    if not options.limit or not options.limit.strip():
        raise OptionError(
            msg("lab.reset needs --limit: it tears down and re-provisions the hosts it is given"),
            hint=msg(
                "name the participants: invoke lab.reset --limit lab-07 (every host: --limit all)"
            ),
        )
    again = tuple(phase for phase in phases if phase != "teardown")
    return run_lab(root, ("teardown", *again), options)


def preflight(hosts: Sequence[Host], providers: Mapping[str, Provider]) -> None:
    """Check binaries, driver, CPU, memory and disk of these hosts before anything starts."""
    _preflight(hosts, providers, ("setup",))


def _preflight(
    hosts: Sequence[Host],
    providers: Mapping[str, Provider],
    phases: Sequence[str],
    meanwhile: Sequence[str] = (),
    probes: Probes | None = None,
) -> None:
    """Before anything starts: binaries and kubeconfigs for every run; driver, CPU, memory and
    disk when the run starts clusters (setup); the cluster answering when it needs a running
    one (a lab that is down can always be torn down).

    ``meanwhile``: modules to import while the probes run (~25 ms of a run's imports beside
    ~50 ms of waiting on kubectl's starts), after this function's own imports, so no two
    threads import one module cycle from both ends.
    """
    from labtools.effects.process import stop_all_on_exit
    from labtools.providers.preflight import access_problems, run_preflight

    starting, reach = _preflight_kind(phases)
    probes = Probes() if probes is None else probes
    importing = _importing(meanwhile)
    try:
        # the probes run in threads: Ctrl-C ends the ones still running at once, not after them
        with stop_all_on_exit(probes.registry):
            run_preflight(
                list(hosts),
                dict(providers),
                which=shutil.which,
                run=probes.run,
                starting=starting,
                extra=lambda: access_problems(hosts, providers, probe=probes.probe, reach=reach),
                extra_runs_kubectl=True,
            )
    finally:
        probes.stop()  # an early probe whose host the lab changed may still run
        importing.join()


def _preflight_kind(phases: Sequence[str]) -> tuple[bool, bool]:
    """(starting, reach): the run starts clusters (setup) and checks driver, CPU, memory and
    disk; it needs running clusters (neither setup nor teardown) and checks they answer."""
    starting = "setup" in phases
    return starting, not starting and "teardown" not in phases


class Probes:
    """The preflight's read-only probes of one run: each distinct command once (argv, env,
    stdin, timeout), in a process registry of their own.

    ``start_early`` starts the first ones (facts, the owner's kubeconfig or cluster) for the
    inventory's hosts while the lab loads: kubectl's ~40 ms starts beside the loading, and the
    preflight finds their answers. A lab that does not load reports its own error as before:
    leaving the ``with`` ends the probes still running and waits for them.
    """

    def __init__(self) -> None:
        from labtools.effects.process import ProcessRegistry
        from labtools.providers.preflight import once, probe_key

        self.registry = ProcessRegistry()
        self.probe = once(functools.partial(_probe, registry=self.registry), key=probe_key)
        self._early: threading.Thread | None = None

    def __enter__(self) -> Probes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, argv: Sequence[str]) -> Output:
        """A fact command (argv only)."""
        from labtools.providers.preflight import FACT_TIMEOUT

        return self.probe(Command(tuple(argv), timeout=FACT_TIMEOUT))

    def start_early(self, root: Path, options: RunOptions, phases: Sequence[str]) -> None:
        """Start the first probes of the inventory's hosts, in a thread.

        The hosts and commands are worked out here, in this thread (a few ms: the inventory
        read once more), so the thread imports nothing while ``load`` does; an inventory that
        does not load starts nothing (``load`` names its problem).
        """
        from labtools.providers.preflight import all_at_once, first_probes

        try:
            plan = _inventory_plan(root, options)
            starting, reach = _preflight_kind(phases)
            hosts = [host_plan.host for host_plan in plan.hosts]
            commands = first_probes(
                hosts, _providers(plan)[0], which=shutil.which, starting=starting, reach=reach
            )
        except LabError:
            return

        def run_all() -> None:
            # a probe's error is kept for the preflight, which asks the same and meets it
            with contextlib.suppress(Exception):
                all_at_once(self.probe, commands)

        self._early = threading.Thread(target=run_all, name="early-probes", daemon=True)
        self._early.start()

    def stop(self) -> None:
        """No probe starts any more; the ones running end; the early thread is waited for."""
        self.registry.interrupted.set()
        self.registry.stop_all()
        if self._early is not None:
            self._early.join()


def _probe(command: Command, registry: ProcessRegistry | None = None) -> Output:
    """Run a read-only fact-gathering command (preflight)."""
    from labtools.core.errors import MissingBinaryError
    from labtools.effects.process import run

    try:
        return run(command, registry=registry)
    except MissingBinaryError as exc:
        return Output(rc=127, stderr=str(exc), failed=True)


def _print_preview(loaded: Loaded, lang: str) -> None:
    """The plan as ``lab.plan`` prints it (banners on stderr)."""
    from labtools.core.i18n import translator
    from labtools.report.plan_view import print_plan

    for banner in loaded.banners:
        print(translator(lang).render(banner), file=sys.stderr)
    print_plan(loaded.preview, sys.stdout, lang=lang)


def show_plan(root: Path, phases: Sequence[str], options: RunOptions) -> None:
    """Print the rendered commands of the selected phases for every selected host."""
    _print_preview(load(root, options, phases), options.lang)


class LintFailed(ConfigError):
    """``lab.lint`` found problems: one line each (``file:line: key: message (hint)``)."""

    def __init__(self, problems: Sequence[LabError], root: Path, labs: Sequence[str]) -> None:
        self.problems = tuple(problems)
        self.root = str(root)
        bad = sorted({_lab_of(problem, root) for problem in problems} - {""})
        summary = msgn(
            "lab.lint: {n} problem in {labs} ({checked})",
            "lab.lint: {n} problems in {labs} ({checked})",
            len(self.problems),
            labs=", ".join(bad) or msg("the project"),
            checked=msgn("{n} lab checked", "{n} labs checked", len(labs)),
        )
        super().__init__(summary)

    def format(self, translator: Translator | None = None) -> str:
        """The problem lines and the summary (each line carries its own location)."""
        lines = [problem.one_line(self.root, translator) for problem in self.problems]
        return "\n".join([*lines, super().format(translator)])


def lint(root: Path, options: RunOptions) -> list[str]:
    """Check every lab (or ``options.lab``) without touching a cluster; raise LintFailed.

    The same checks as a run's ``load`` (schema, files, checks, every template rendered for
    every host with the lab's defaults, names used before they are registered), over every phase
    and every step (tags ``never`` included, unless ``--tags`` says), plus the lint-only rules
    (``labtools.core.lint``). Returns the labs checked.
    """
    from labtools.core.inventory import load_inventory
    from labtools.core.playbook import list_labs
    from labtools.core.project import inventory_path, lab_path

    root = Path(root).resolve()
    playbooks = root / "playbooks"
    labs = [lab_path(playbooks, options.lab).parent.name] if options.lab else list_labs(playbooks)
    problems: list[ConfigError] = []
    inventory = None
    try:
        inventory = load_inventory(inventory_path(root, options.inventory))
    except ConfigError as exc:
        problems.append(exc)
    for name in labs:
        problems += _lint_lab(root, playbooks / name, inventory, options)
    # one line per problem: the same one met twice (two hosts, two steps) is said once
    unique = {problem.one_line(str(root)): problem for problem in problems}
    if unique:
        raise LintFailed(sorted(unique.values(), key=file_and_line), root, labs)
    checked = msgn("{n} lab checked", "{n} labs checked", len(labs))
    _say(
        options.lang,
        msg("lab.lint: {checked}, no problems: {labs}", checked=checked, labs=", ".join(labs)),
    )
    return labs


def _lint_lab(
    root: Path, lab_dir: Path, inventory: Inventory | None, options: RunOptions
) -> list[ConfigError]:
    """Every problem of one lab: the run's checks over every step, and the lint-only rules."""
    from labtools.core.lint import style_problems
    from labtools.core.playbook import PLAYBOOK, check_playbook
    from labtools.core.yamlfile import load_yaml

    try:
        doc = load_yaml(lab_dir / PLAYBOOK)
    except ConfigError as exc:
        return [exc]
    if inventory is None:  # reported already: the schema and the files can still be checked
        checked = check_playbook(doc, templates_dir=root / "templates", lab_dir=lab_dir)
        return [*checked.problems, *style_problems(doc, checked.lab, lab_dir)]
    result = _check_lab(root, lab_dir, inventory, options, PHASES, options.tags or None)
    return [*result.problems, *style_problems(doc, result.lab, lab_dir)]


def _lab_of(problem: LabError, root: Path) -> str:
    """The lab a problem is in (``playbooks/<lab>/``, ``templates/<lab>/``), or ""."""
    parts = Path(problem.location.file).parts if problem.location else ()
    for folder in ("playbooks", "templates"):
        anchor = (root / folder).parts
        if parts[: len(anchor)] == anchor and len(parts) > len(anchor) + 1:
            return parts[len(anchor)]
    return ""


LAB_NAME = r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?"  # a DNS label: it also names the app's objects
SCAFFOLD = {  # labtools/scaffold/<file> -> where `lab.new` writes it (__LAB__: the lab's name)
    "playbook.yml": "playbooks/__LAB__/playbook.yml",
    "README.md": "playbooks/__LAB__/README.md",
    "checks/test_lab.py": "playbooks/__LAB__/checks/test___LAB__.py",
    "deployment.yaml.j2": "templates/__LAB__/deployment.yaml.j2",
}


def new_lab(root: Path, name: str, lang: str = "en") -> list[Path]:
    """Write a new lab (playbook, README, checks, a manifest) that lints and runs as it is.

    Like ``molecule init scenario``: nothing is overwritten; the files are labtools/scaffold/
    with ``__LAB__`` replaced by the name.
    """
    import re

    from labtools.core.errors import OptionError

    if not re.fullmatch(LAB_NAME, name):
        raise OptionError(
            msg("'{name}' cannot name a lab", name=name),
            hint=msg(
                "use lowercase letters, digits and '-', starting with a letter (it names the "
                "app's Kubernetes objects too), e.g. `invoke lab.new my-lab`"
            ),
        )
    root = Path(root).resolve()
    targets = {src: root / dest.replace("__LAB__", name) for src, dest in SCAFFOLD.items()}
    taken = [p for p in (root / "playbooks" / name, root / "templates" / name) if p.exists()]
    if taken:
        raise ConfigError(
            msg(
                "lab '{name}' exists already: {paths}", name=name, paths=", ".join(map(str, taken))
            ),
            hint=msg(
                "pick another name, or edit that lab (`invoke lab.lint --lab {name}` checks it)",
                name=name,
            ),
        )
    scaffold = Path(__file__).parent / "scaffold"
    for src, dest in targets.items():
        dest.parent.mkdir(parents=True, exist_ok=True)
        text = (scaffold / src).read_text(encoding="utf-8").replace("__LAB__", name)
        dest.write_text(text, encoding="utf-8")
        _say(lang, msg("created {path}", path=dest.relative_to(root)))
    _say(lang, msg("next: invoke lab.lint --lab {lab} && invoke lab.up --lab {lab}", lab=name))
    return list(targets.values())


def show_list(root: Path, options: RunOptions) -> None:
    """Print the labs, hosts, groups, phases and tags."""
    from labtools.core.playbook import lab_description, list_labs
    from labtools.core.project import Project
    from labtools.report.listing import print_listing

    project = Project.load(root, options.lab, options.inventory)
    labs = list_labs(project.playbooks_dir)
    about = {name: lab_description(project.playbooks_dir, name) for name in labs}
    print_listing(project, labs, out=sys.stdout, lang=options.lang, descriptions=about)


def run_dir_of(root: Path, run: str | None) -> Path:
    """A run directory: ``--run`` as a path or a name under ``runs/``; the newest by default."""
    runs = Path(root) / "runs"
    if not run:
        return (runs / "latest").resolve()
    path = Path(run).expanduser()
    for candidate in (path, runs / run):
        if (candidate / "journal.jsonl").is_file():
            return candidate.resolve()
    from labtools.core.errors import ConfigError
    from labtools.core.yamlfile import did_you_mean

    names = sorted(p.name for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    close = did_you_mean(run, names)
    newest = msg("runs: {names}", names=", ".join(names[-5:]) or msg("none"))
    raise ConfigError(msg("no run {run} (no journal.jsonl there)", run=run), hint=close or newest)


def make_report(root: Path, options: RunOptions, run: str | None = None) -> Path:
    """(Re)write the HTML report of a run, in ``options.lang``; print where it is."""
    from labtools.core.project import Project
    from labtools.report.html import write_report
    from labtools.report.record import read_run

    record = read_run(run_dir_of(root, run))
    project = Project.load(root, options.lab or record.lab, options.inventory)
    path = write_report(record, project.templates_dir, options.lang)
    _say(options.lang, msg("report: {path}", path=path))
    return path


def make_handouts(root: Path, options: RunOptions, run: str | None = None) -> list[Path]:
    """Write each participant's handout (Markdown and HTML) of a run; print where they are."""
    from labtools.core.errors import LabError
    from labtools.report.html import write_handouts
    from labtools.report.record import read_run

    record = read_run(run_dir_of(root, run))
    loaded = None
    with contextlib.suppress(LabError):  # the lab's secrets mask what the checks' JUnit says
        loaded = load(root, replace(options, lab=options.lab or record.lab, limit=None))
    hosts = record.hosts
    if options.limit:
        from labtools.core.inventory import select_hosts

        if loaded is None:
            loaded = load(root, replace(options, lab=options.lab or record.lab))
        chosen = {h.name for h in select_hosts(loaded.project.inventory, options.limit)}
        hosts = [host for host in hosts if host in chosen]
    mask = redactor_for(loaded.plan, loaded.providers).text if loaded is not None else None
    templates = loaded.project.templates_dir if loaded else Path(root) / "templates"
    paths = write_handouts(record, templates, lang=options.lang, hosts=hosts, mask=mask)
    for path in paths:
        _say(options.lang, msg("handout: {path}", path=path))
    return paths


def _say(lang: str, text: Text) -> None:
    """One line for the user, in their language."""
    from labtools.core.i18n import translator

    print(translator(lang).render(text), file=sys.stdout)


def make_cards(
    root: Path, options: RunOptions, *, with_token: bool = False, formats: Sequence[str] = ()
) -> list[Path]:
    """Render one access card per selected participant into a ``cards`` run directory."""
    from labtools.core.cards import card_url, first_commands, qr_svg
    from labtools.effects.rundir import new_run_dir
    from labtools.report.cards import FORMATS, write_cards

    loaded = load(root, options, PHASES[:4])
    cards = []
    for host_plan in loaded.plan.hosts:
        provider = loaded.providers[host_plan.host.name]
        url = card_url(host_plan)
        cards.append(
            _card(host_plan, provider, loaded.project.root, with_token)(
                commands=first_commands(host_plan, provider.has_minikube),
                url=url,
                qr_svg=qr_svg(url),
            )
        )
    run_dir = new_run_dir(loaded.project.root / "runs", loaded.project.lab.name, "cards")
    _link_participants(loaded, run_dir)
    chosen = tuple(formats) or tuple(FORMATS)
    written = write_cards(
        cards,
        loaded.project.lab,
        loaded.project.templates_dir,
        run_dir,
        chosen,
        secret=with_token,
        lang=options.lang,
    )
    for path in written:
        _say(options.lang, msgn("{n} card: {path}", "{n} cards: {path}", len(cards), path=path))
    if with_token:
        _say(
            options.lang,
            msg("these cards hold the participants' tokens: hand them out, then delete them"),
        )
    return written


def _card(
    host_plan: HostPlan, provider: Provider, root: Path, with_token: bool
) -> Callable[..., Card]:
    """A Card for one host, waiting for its commands and URL (``functools.partial``)."""
    import functools
    import os

    from labtools.core.cards import Card
    from labtools.providers.base import isolation_on, participant_kubeconfig

    host = host_plan.host
    shared = provider.name == "context"
    if isolation_on(host, shared):
        path = participant_kubeconfig(host)
    else:
        path = str(host.vars.get("kubeconfig") or os.environ.get("KUBECONFIG") or "~/.kube/config")
    shown = os.path.relpath(path, root) if path.startswith(str(root) + os.sep) else path
    expires, lasts, token = _access(path, host, shared and isolation_on(host, True), with_token)
    return functools.partial(
        Card,
        host=host.name,
        participant=str(host_plan.vars.get("participant") or host.name),
        provider=provider.name,
        shared=shared,
        place=str(host.vars.get("namespace") if shared else host.vars.get("profile") or host.name),
        cluster=str(host.vars.get("kube_context") or host.vars.get("profile") or host.name),
        kubeconfig=shown,
        kubeconfig_name=os.path.basename(path) if shared else path,
        expires=expires,
        lasts=lasts,
        token=token,
    )


def _access(path: str, host: Host, tokens: bool, with_token: bool) -> tuple[str, str, str]:
    """(when the participant's token expires, how long it will last when it is not issued yet,
    the token when asked for) from their kubeconfig."""
    import time

    from labtools.core.kubeconfig import kubeconfig_token, token_expiry

    if not tokens:
        return "", "", ""
    try:
        token = kubeconfig_token(Path(path).read_text(encoding="utf-8")) or ""
    except OSError:
        return "", str(host.vars.get("token_duration") or "8h"), ""
    expiry = token_expiry(token)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expiry)) if expiry else ""
    return when, "", token if with_token else ""


def lab_images(loaded: Loaded) -> list[str]:
    """Every image the lab's rendered kubectl steps and manifests name, on every host."""
    import yaml

    from labtools.core.actions import Context, RunCommand, build
    from labtools.core.images import images_in_args, images_in_docs, usable
    from labtools.core.plan import step_vars
    from labtools.core.preview import registered_placeholders

    found: dict[str, None] = {}
    for host_plan in loaded.plan.hosts:
        provider = loaded.providers[host_plan.host.name]
        ctx = Context(host_plan.host, provider, loaded.project.templates_dir, tty=True)
        registered = registered_placeholders(host_plan)
        for step in host_plan.steps:
            if step.action not in ("kubectl", "manifest"):
                continue
            action = build(step, step_vars(host_plan, step, registered), ctx)
            if not isinstance(action, RunCommand):
                continue
            names = images_in_args(action.command.argv)
            if step.action == "manifest" and action.command.stdin:
                names += images_in_docs(yaml.safe_load_all(action.command.stdin))
            found.update(dict.fromkeys(name for name in names if usable(name)))
    return list(found)


def prepare_lab(root: Path, options: RunOptions) -> None:
    """Cache (minikube) or test-pull (shared cluster) every image the lab names; report."""
    from dataclasses import replace

    from labtools.core.errors import RunFailed
    from labtools.core.plan import lab_tags
    from labtools.effects import prepare, process
    from labtools.providers.minikube_checks import mini_path

    project_lab = load(root, options, PHASES[:4]).project.lab
    # every step, whatever its tags: a room may run the optional part too
    everything = replace(
        options, tags=frozenset({"all", *lab_tags(project_lab)}), skip_tags=frozenset()
    )
    loaded = load(root, everything, PHASES[:4])
    images = lab_images(loaded)
    listing = ", ".join(images) or msg("none")
    _say(options.lang, msg("images the lab names ({n}): {images}", n=len(images), images=listing))
    outcomes = []
    groups: dict[tuple[str, str], list[Host]] = {}
    for host_plan in loaded.plan.hosts:
        host = host_plan.host
        provider = loaded.providers[host.name]
        where = str(host.vars.get("kube_context")) if provider.name == "context" else ""
        groups.setdefault((provider.name, where), []).append(host)
    for (name, where), hosts in groups.items():
        provider = loaded.providers[hosts[0].name]
        if name == "context":
            _say(options.lang, msg("shared cluster {context}: one pod per image", context=where))
            outcomes += prepare.pull_check(hosts[0], provider, images, process.run)
        else:
            home = mini_path(provider.env(hosts[0]).get("MINIKUBE_HOME"))
            before = prepare.folder_mb(home / "cache")
            outcomes += prepare.cache_minikube(hosts, provider, images, process.run)
            after = prepare.folder_mb(home / "cache")
            size, change = format(after, ".1f"), format(after - before, "+.1f")
            cached = msg(
                "minikube cache {folder}: {size} MB ({change} MB)",
                folder=home / "cache",
                size=size,
                change=change,
            )
            _say(options.lang, cached)
    for outcome in outcomes:
        _say(options.lang, _outcome_line(outcome))
    failed = [o for o in outcomes if not o.ok]
    if failed:
        each = [msg("{what} ({detail})", what=o.what, detail=o.detail) for o in failed]
        raise RunFailed(
            msg(
                "lab.prepare: {n} of {total} failed: {failures}",
                n=len(failed),
                total=len(outcomes),
                failures=joined(each, msg("; ")),
            ),
            hint=msg("fix the image names or the registry access, then run lab.prepare again"),
        )


def _outcome_line(outcome: Outcome) -> Text:
    """``ok     pull IMAGE: pulled in 1.2s`` / ``FAILED pull IMAGE: ErrImagePull: ...``."""
    if outcome.ok:
        if outcome.detail:
            return msg("ok     {what}: {detail}", what=outcome.what, detail=outcome.detail)
        return msg("ok     {what}", what=outcome.what)
    if outcome.detail:
        return msg("FAILED {what}: {detail}", what=outcome.what, detail=outcome.detail)
    return msg("FAILED {what}", what=outcome.what)
