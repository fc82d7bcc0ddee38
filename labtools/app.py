"""The application layer behind the invoke tasks: load, check, plan, pick providers, run, report.

Everything knowable before a run is checked first (``load``): the files, the tags, the providers,
and every step's templates rendered for every host (the preview); a run starts only when the
whole lab loads. Raises `LabError`s; never prints errors or exits (tasks.py does that).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtools.core.errors import ConfigError, Interrupted, LabError, RunFailed, file_and_line
from labtools.core.messages import Text, msg, msgn
from labtools.core.model import PHASES, Command, Host, Inventory, Lab, Plan
from labtools.core.options import RunOptions
from labtools.core.redact import Redactor
from labtools.core.results import Output, RunSummary, StepResult

if TYPE_CHECKING:
    from labtools.core.i18n import Translator
    from labtools.core.preview import PlannedStep
    from labtools.core.project import Project
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
    return Loaded(project, checked.plan, checked.providers, checked.banners, checked.preview)


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
    redactor = redactor_for(plan)
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
    redactor = redactor_for(plan)
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


def redactor_for(plan: Plan) -> Redactor:
    """A Redactor knowing the lab's secret values on every host (``secrets:``, ``--set`` for
    no_log steps)."""
    from labtools.core.plan import no_log_names

    names = plan.lab.secrets
    values = [hp.vars.get(name) for hp in plan.hosts for name in names]
    # a --set value for a no_log step is a secret too (core/plan.no_log_names)
    quiet = no_log_names(plan.lab)
    values += [value for hp in plan.hosts for key, value in hp.extra_vars.items() if key in quiet]
    return Redactor(str(value) for value in values if value not in (None, ""))


def run_lab(root: Path, phases: Sequence[str], options: RunOptions) -> RunSummary | None:
    """Run the given phases on the selected hosts; raise RunFailed when a step failed.

    ``--check``, ``--list-tasks`` and ``--list-tags`` print what would run, write nothing and
    return None.
    """
    loaded = load(root, options, phases)
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
        _preflight([hp.host for hp in loaded.plan.hosts], loaded.providers, phases)
        return run_loaded(loaded, phases, options, notices=tuple(took_over))


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
    console = ConsoleReporter(sys.stdout, verbosity=options.verbosity, lang=options.lang)
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
            redactor=redactor_for(loaded.plan),
            info=info,
            gate=gate,
        )
    except Interrupted as exc:
        _name_the_report(console, report)
        raise Interrupted(msg("{why} (run: {run})", why=exc.text, run=run_dir)) from exc
    _name_the_report(console, report)
    if "teardown" in phases and not summary.failed:
        _remove_leftovers(loaded)
    if summary.failed:
        bad = [r for r in summary.results if r.status == "failed" and not r.ignored]
        failed = sorted({f"{r.host}: {r.step}" for r in bad})
        raise RunFailed(
            msgn(
                "{n} step failed: {steps}",
                "{n} steps failed: {steps}",
                len(failed),
                steps="; ".join(failed),
            ),
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
    """The run directory's label: ``up`` for the four phases of lab.up, else the phases."""
    if tuple(phases) == PHASES[:4]:
        return "up"
    return "-".join(phases)


def preflight(hosts: Sequence[Host], providers: Mapping[str, Provider]) -> None:
    """Check binaries, driver, CPU, memory and disk of these hosts before anything starts."""
    _preflight(hosts, providers, ("setup",))


def _preflight(
    hosts: Sequence[Host], providers: Mapping[str, Provider], phases: Sequence[str]
) -> None:
    """Before anything starts: binaries and kubeconfigs for every run; driver, CPU, memory and
    disk when the run starts clusters (setup); the cluster answering when it needs a running
    one (a lab that is down can always be torn down)."""
    import shutil

    from labtools.core.model import Command
    from labtools.providers.preflight import access_problems, run_preflight

    starting = "setup" in phases
    reach = not starting and "teardown" not in phases
    run_preflight(
        list(hosts),
        dict(providers),
        which=shutil.which,
        run=lambda argv: _probe(Command(tuple(argv), timeout=30.0)),
        starting=starting,
        extra=lambda: access_problems(hosts, providers, probe=_probe, reach=reach),
    )


def _probe(command: Command) -> Output:
    """Run a read-only fact-gathering command (preflight)."""
    from labtools.core.errors import MissingBinaryError
    from labtools.effects.process import run

    try:
        return run(command)
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
    mask = redactor_for(loaded.plan).text if loaded is not None else None
    templates = loaded.project.templates_dir if loaded else Path(root) / "templates"
    paths = write_handouts(record, templates, lang=options.lang, hosts=hosts, mask=mask)
    for path in paths:
        _say(options.lang, msg("handout: {path}", path=path))
    return paths


def _say(lang: str, text: Text) -> None:
    """One line for the user, in their language."""
    from labtools.core.i18n import translator

    print(translator(lang).render(text), file=sys.stdout)
