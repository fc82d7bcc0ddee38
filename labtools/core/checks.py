"""Pure: a step's ``check:`` rendered for one host (a ``Probe``), the command a person types for an
action (``Typed``), and how a line of the student's shell log matches the words a check expects.

The tutor and ``lab.test`` run probes (``labtools.tutor.probe``); nothing here starts anything.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from labtools.core.actions import (
    Action,
    Cluster,
    Context,
    HttpCheck,
    RunCommand,
    Skip,
    StartService,
    Wait,
    build,
)
from labtools.core.errors import TemplateError
from labtools.core.messages import Text, msg
from labtools.core.model import Check, Command, Step

CHECK_TIMEOUT = 30.0  # seconds for one run of a check's command
DEFAULT_THAT = "result.rc == 0"


@dataclass(frozen=True)
class Probe:
    """A check rendered for one host: what to run (or look for) and how to judge it."""

    kind: str
    text: Text  # one line saying what is checked, for messages
    action: RunCommand | HttpCheck | None = None  # kubectl, minikube, command, http, testinfra
    that: str = DEFAULT_THAT
    words: tuple[str, ...] = ()  # history: the words a command in the shell log must have
    ok_codes: tuple[int, ...] = (0,)  # history: the exit codes of a command that did the step
    variables: Mapping[str, Any] = field(default_factory=dict)  # the scope of `that`


@dataclass(frozen=True)
class Typed:
    """What a person types to do an action: argv, the text it reads on stdin (the tutor writes
    it to a file), whether it keeps running (a service) until Ctrl-C, and the exit codes that
    mean it worked (``kubectl diff``: 1 is "there are differences")."""

    argv: tuple[str, ...]
    stdin: str | None = None
    keeps_running: bool = False
    ok_codes: tuple[int, ...] = (0,)


def typed_for(action: Action, shims: Mapping[str, Sequence[str]]) -> Typed | None:
    """The command a student types for ``action``; None when the tutor does it itself.

    ``shims`` are commands the student's shell gets by name (the fake's ``minikube``): an argv
    starting with a shim's full command shows the name instead.
    """
    if isinstance(action, RunCommand):
        argv = _shimmed(action.display or action.command.argv, shims)
        return Typed(argv, action.command.stdin, ok_codes=action.ok_codes)
    if isinstance(action, StartService):
        return Typed(_shimmed(action.display or action.command.argv, shims), keeps_running=True)
    if isinstance(action, Cluster):
        shown = action.op.shown or action.op.run or action.op.probe
        return Typed(_shimmed(shown, shims)) if shown else None
    if isinstance(action, HttpCheck):
        return Typed(curl_argv(action))
    return None  # Wait, Skip: nothing for the student to type


def automatic(action: Action) -> bool:
    """Steps the tutor does itself: waits, steps that do not apply, the lab's own checks."""
    if isinstance(action, Wait | Skip):
        return True
    return isinstance(action, RunCommand) and _is_verify(action)


def _is_verify(action: RunCommand) -> bool:
    argv = action.command.argv
    return len(argv) > 4 and argv[1:4] == ("-m", "pytest", "-p") and "labtools.verify" in argv[4]


def _shimmed(argv: Sequence[str], shims: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """``argv`` with a shim's full command replaced by the shim's name."""
    for name, full in shims.items():
        if full and tuple(argv[: len(full)]) == tuple(full):
            return (name, *argv[len(full) :])
    return tuple(argv)


def curl_argv(action: HttpCheck) -> tuple[str, ...]:
    """``curl`` doing the same request as an ``http`` step."""
    argv = ["curl", "-sS"]
    if action.method != ("POST" if action.body is not None else "GET"):
        argv += ["-X", action.method]
    for key, value in action.headers.items():
        argv += ["-H", f"{key}: {value}"]
    if action.body is not None:
        argv += ["--data", action.body]
    return (*argv, action.url)


def typed_text(typed: Typed, stdin_file: str | None = None) -> str:
    """The command line to show: ``-f -`` reads the written file, other stdin comes from it."""
    argv = list(typed.argv)
    if typed.stdin is None or stdin_file is None:
        return shlex.join(argv)
    if argv[-2:] == ["-f", "-"]:
        return shlex.join([*argv[:-1], stdin_file])
    return f"{shlex.join(argv)} < {shlex.quote(stdin_file)}"


# --- probes -------------------------------------------------------------------------------------


def build_probe(
    step: Step,
    variables: Mapping[str, Any],
    ctx: Context,
    own_command: Sequence[str] = (),
    ok_codes: Sequence[int] = (0,),
) -> Probe:
    """Render ``step.check`` for the host of ``ctx`` (TemplateError like a step's own templates).

    ``own_command`` is what the student types for the step: ``check: history`` looks for it, and
    takes its exit codes in ``ok_codes`` as done.
    A step without a check gets a ``confirm`` probe: the student says when it is done.
    """
    check = step.check
    if check is None or check.kind == "confirm":
        return Probe("confirm", msg("you press Enter when it is done"))
    if check.kind == "history":
        return _history_probe(check, variables, own_command, tuple(ok_codes))
    if check.kind == "testinfra":
        return _testinfra_probe(check, variables, ctx)
    action = build(_check_step(step, check), variables, ctx)
    if isinstance(action, Skip):  # e.g. a minikube check on a provider without minikube
        text = msg("you press Enter when it is done ({reason})", reason=action.reason)
        return Probe("confirm", text)
    if not isinstance(action, RunCommand | HttpCheck):
        raise TemplateError(f"a {check.kind} check must run a command", location=check.source)
    that = check.that or (DEFAULT_THAT if isinstance(action, RunCommand) else "not result.failed")
    shown = shlex.join(action.command.argv) if isinstance(action, RunCommand) else action.url
    text = msg("`{command}` (that: {that})", command=shown, that=that)
    return Probe(check.kind, text, action, that, variables=variables)


def _check_step(step: Step, check: Check) -> Step:
    """A step that runs the check's own action, with the step's environment."""
    return replace(
        step,
        name=f"check: {step.name}",
        action=check.kind,
        spec=check.spec,
        source=check.source,
        timeout=CHECK_TIMEOUT,
        interactive=False,
        stdin=None,
        no_log=False,
    )


def _history_probe(
    check: Check, variables: Mapping[str, Any], own: Sequence[str], ok_codes: tuple[int, ...]
) -> Probe:
    """Words the student's shell log must show: the check's own, else the step's command."""
    from labtools.core.render import render_argv

    if check.spec is None or check.spec is True:
        # `-f -` reads stdin: the student's command names the file the tutor wrote instead
        words = tuple(own[:-1]) if tuple(own[-2:]) == ("-f", "-") else tuple(own)
    else:
        words = tuple(render_argv(check.spec, variables, source=check.source))
    if not words:
        raise TemplateError("a history check needs words to look for", location=check.source)
    text = msg("you run `{command}`", command=shlex.join(words))
    return Probe("history", text, words=words, ok_codes=ok_codes)


def _testinfra_probe(check: Check, variables: Mapping[str, Any], ctx: Context) -> Probe:
    """One test of the lab's checks (``checks/test_*.py``), run with pytest against this host."""
    from labtools.core.actions import CHECKS_ENV, checks_call, lab_folder
    from labtools.core.playbook import CHECKS_DIR, test_files
    from labtools.verify.run import shown

    name = str(check.spec)
    lab, folder = lab_folder(ctx, check.source)
    files = test_files(folder / CHECKS_DIR, name)
    if not files:  # the playbook's check said there is one: the file changed since
        raise TemplateError(
            f"no test {name!r} in {folder.name}/{CHECKS_DIR}/", location=check.source
        )
    call = checks_call(variables, ctx, lab, [f"{files[0]}::{name}"], {})
    argv, root = call.argv([call], None), call.root
    env = {**ctx.provider.env(ctx.host), **CHECKS_ENV}
    command = Command(argv=argv, env=env, timeout=CHECK_TIMEOUT * 2, cwd=str(root))
    action = RunCommand(command=command, readonly=True, display=shown(argv))
    text = msg("test {test} of the lab's checks ({file})", test=name, file=files[0].name)
    return Probe("testinfra", text, action, DEFAULT_THAT)


# --- the student's shell log ---------------------------------------------------------------


@dataclass(frozen=True)
class LoggedCommand:
    """One command the student ran in ``invoke lab.shell``: its exit code and its text."""

    rc: int
    text: str


def parse_log_line(line: str) -> LoggedCommand | None:
    """``RC<TAB>COMMAND`` (what lab.shell's prompt hook writes); None for anything else."""
    rc, sep, text = line.rstrip("\n").partition("\t")
    if not sep or not rc.strip().lstrip("-").isdigit() or not text.strip():
        return None
    return LoggedCommand(int(rc), text.strip())


def words_of(text: str) -> list[str]:
    """A command line split like the shell does (plain whitespace when quotes do not close)."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def history_matches(words: Sequence[str], text: str) -> bool:
    """The command ``text`` is ``words[0]`` (any path to it) with ``words[1:]`` in order.

    Other words may come between (a ``-n`` the student added, ``| head``), so the shown command
    and close variations of it pass, and a different command does not.
    """
    if not words:
        return False
    typed = words_of(text)
    if not typed or os.path.basename(typed[0]) != os.path.basename(words[0]):
        return False
    position = 1
    for word in words[1:]:
        try:
            position = typed.index(word, position) + 1
        except ValueError:
            return False
    return True
