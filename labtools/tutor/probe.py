"""Effects: judge a ``Probe`` once: run its command or request, or read the student's shell log.

The tutor polls this with backoff; ``lab.test`` calls it before and after each step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labtools.core.checks import LoggedCommand, Probe, history_matches
from labtools.core.errors import Interrupted, LabError
from labtools.core.messages import Msg, Text, msg
from labtools.core.results import Output
from labtools.effects import process

DETAIL_LINES = 3
NOT_RUN_YET = msg("not run yet")


@dataclass(frozen=True)
class Verdict:
    """Whether a check holds, and what it saw (the reason it does not, in a line or three)."""

    passed: bool
    detail: Text = ""
    registered: Mapping[str, Any] = field(default_factory=dict)  # the check's own result


def judge(
    probe: Probe,
    registry: process.ProcessRegistry,
    logged: Sequence[LoggedCommand] = (),
) -> Verdict:
    """Run ``probe`` once (history: against ``logged``, the commands run since the step began)."""
    if probe.kind == "confirm":
        return Verdict(False, msg("waiting for Enter"))
    if probe.kind == "history":
        return judge_history(probe.words, logged, probe.ok_codes)
    try:
        output = _perform(probe, registry)
    except Interrupted:
        raise
    except LabError as exc:
        return Verdict(False, exc.text)
    return _verdict(probe, output)


def judge_history(
    words: Sequence[str], logged: Sequence[LoggedCommand], ok_codes: Sequence[int] = (0,)
) -> Verdict:
    """Passed when a logged command has ``words`` and exited with one of ``ok_codes``; else the
    closest miss."""
    matching = [entry for entry in logged if history_matches(words, entry.text)]
    done = [entry for entry in matching if entry.rc in ok_codes]
    if done:
        return Verdict(True, done[0].text)
    if matching:
        last = matching[-1]
        return Verdict(False, msg("`{command}` exited with {rc}", command=last.text, rc=last.rc))
    return Verdict(False, NOT_RUN_YET)


def _perform(probe: Probe, registry: process.ProcessRegistry) -> Output:
    """The probe's command or HTTP request, once."""
    from labtools.core.actions import HttpCheck, RunCommand
    from labtools.effects.runner import http_request

    if isinstance(probe.action, RunCommand):
        return process.run(probe.action.command, registry=registry)
    if isinstance(probe.action, HttpCheck):
        return http_request(probe.action)
    raise LabError(msg("a {kind} check has nothing to run", kind=probe.kind))


def _verdict(probe: Probe, output: Output) -> Verdict:
    """Evaluate ``that`` over the output, as a step's controls see ``result``."""
    from labtools.core.render import evaluate
    from labtools.effects.runner import registered_value

    result = registered_value(output)
    try:
        passed = bool(evaluate(probe.that, {**probe.variables, "result": result}))
    except LabError as exc:  # `result.json.x` on a command that printed no JSON: not yet
        return Verdict(False, _short(exc.message), result)
    if passed:
        return Verdict(True, "", result)
    return Verdict(False, _why(probe, output), result)


def _why(probe: Probe, output: Output) -> Text:
    """The most telling lines of a failed check: pytest's assertion, stderr, or the condition."""
    if probe.kind == "testinfra":
        errors = [line[1:].strip() for line in output.stdout.splitlines() if line.startswith("E ")]
        if errors:
            return _short("\n".join(errors))
    if output.stderr.strip():
        return _short(output.stderr)
    if isinstance(output.message, Msg) or output.message.strip():
        return output.message
    return msg("{that} is false (exit code {rc})", that=probe.that, rc=output.rc)


def _short(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[:DETAIL_LINES])
