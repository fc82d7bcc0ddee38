"""Print a plan (``lab.plan`` / ``--check``): per host, per phase, numbered rendered steps."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO

from labtools.core.i18n import SOURCE_LANGUAGE, translator
from labtools.core.preview import PlannedStep
from labtools.report.console import use_color


def plan_lines(planned: Iterable[PlannedStep], lang: str = SOURCE_LANGUAGE) -> list[str]:
    """The plan as plain text lines."""
    tr = translator(lang)
    lines: list[str] = []
    host = phase = None
    number = 0
    for item in planned:
        if item.host != host:
            host, phase = item.host, None
            lines.append(tr.gettext("HOST {host}", host=item.host))
        if item.phase != phase:
            phase, number = item.phase, 0
            lines.append(f"  {item.phase}:")
        number += 1
        lines.append(f"    {number:>2}. {item.step.name}")
        lines.append(f"        $ {item.display}")
        lines.extend(f"        ({note})" for note in item.notes)
    return lines


def print_plan(
    planned: Iterable[PlannedStep],
    file: IO[str] | None = None,
    *,
    color: bool | None = None,
    lang: str = SOURCE_LANGUAGE,
) -> None:
    """Print the plan; coloured only on a terminal without NO_COLOR."""
    out = file if file is not None else sys.stdout
    lines = plan_lines(planned, lang)
    if not (use_color(out) if color is None else color):
        out.write("\n".join(lines) + ("\n" if lines else ""))
        return
    from rich.console import Console

    console = Console(file=out, highlight=False)
    for line in lines:
        stripped = line.lstrip()
        style = "bold" if not line.startswith(" ") else None  # i18n: not text (styles)
        if stripped.startswith("$"):
            style = "cyan"  # i18n: not text
        elif stripped.startswith("("):
            style = "dim"  # i18n: not text
        console.print(line, style=style, markup=False)
