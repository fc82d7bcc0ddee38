"""Rules only ``lab.lint`` applies: a lab a run can use but its author should finish.

Everything a run would stop on is checked by the one checker (``playbook.check_playbook`` and
``preview.check_plan``) that ``app.load`` uses too; these rules add what makes a lab complete:
every step explained in every language, a README, a name that matches the folder, and for a
lab that claims tutor support (any step has a ``check:``, ``hint:`` or ``solution:``) every step
the student does in the tutor checked, hinted and solved in every language.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from labtools.core.errors import ConfigError, Location, SchemaError
from labtools.core.model import PHASES, Lab
from labtools.core.options import LANGUAGES
from labtools.core.yamlfile import YamlDoc

README = "README.md"
TUTOR_KEYS = ("check", "hint", "solution")
TUTOR_PHASES = ("setup", "deploy", "explore")  # what `invoke lab.tutor` teaches
SELF_DONE = ("wait", "verify")  # the tutor does these itself: the student types nothing


def style_problems(doc: YamlDoc, lab: Lab, lab_dir: Path) -> list[ConfigError]:
    """The lint-only problems of a lab (explanations, README, name)."""
    problems: list[ConfigError] = []
    if not (lab_dir / README).is_file():
        problems.append(
            SchemaError(
                f"the lab has no {README}",
                location=Location(str(lab_dir / README)),
                hint="say what the lab is and its source tutorial (`invoke lab.new` writes one)",
            )
        )
    if lab.name != lab_dir.name:
        problems.append(
            SchemaError(
                f"the lab is called '{lab.name}' but its folder is '{lab_dir.name}'",
                location=doc.location(("name",)),
                hint=f"`--lab {lab_dir.name}` selects it: call it '{lab_dir.name}' too",
            )
        )
    steps = list(_raw_steps(doc))
    tutored = any(key in raw for _, raw in steps for key in TUTOR_KEYS)
    for path, raw in steps:
        problems.extend(_explain_problems(doc, path, raw))
        problems.extend(_tutor_problems(doc, path, raw, tutored))
    return problems


def _raw_steps(doc: YamlDoc) -> Iterator[tuple[tuple[str, int], Mapping[str, Any]]]:
    """(``(phase, index)``, the step's mapping) of every step, as written."""
    data = doc.data if isinstance(doc.data, Mapping) else {}
    for phase in PHASES:
        steps = data.get(phase)
        for index, raw in enumerate(steps if isinstance(steps, list) else []):
            if isinstance(raw, Mapping):
                yield (phase, index), raw


def _step_name(path: tuple[str, int], raw: Mapping[str, Any]) -> str:
    return raw["name"] if isinstance(raw.get("name"), str) else f"{path[0]}[{path[1]}]"


def _tutor_problems(
    doc: YamlDoc, path: tuple[str, int], raw: Mapping[str, Any], tutored: bool
) -> list[ConfigError]:
    """hint/solution in every language; in a tutor lab, each student step has all three keys.

    A step the student does in ``lab.tutor`` without a check can only be passed by pressing
    Enter, which proves nothing: say so, unless the author chose it (``check: confirm``).
    """
    name = _step_name(path, raw)
    problems: list[ConfigError] = [
        SchemaError(
            f"step '{name}': {key} has no {lang} text",
            location=doc.location((*path, key)),
            hint=f"write the {lang} {key} next to the others",
        )
        for key in ("hint", "solution")
        if isinstance(raw.get(key), Mapping | str)
        for lang in LANGUAGES
        if not _has_text(raw[key], lang)
    ]
    if not tutored or path[0] not in TUTOR_PHASES or any(key in raw for key in SELF_DONE):
        return problems
    for key in TUTOR_KEYS:
        if raw.get(key) is None:
            problems.append(
                SchemaError(
                    f"step '{name}' has no {key} (in a tutor lab each step a student does has "
                    "check, hint and solution)",
                    location=doc.location(path),
                    hint=TUTOR_HINTS[key],
                )
            )
    return problems


def _has_text(value: Any, lang: str) -> bool:
    texts = {"en": value} if isinstance(value, str) else value
    return (
        isinstance(texts, Mapping)
        and isinstance(texts.get(lang), str)
        and bool(texts[lang].strip())
    )


TUTOR_HINTS = {
    "check": "say how the tutor sees the step done: `check: {kubectl: ..., that: ...}`, "
    "`{testinfra: TEST}`, `history` for a read-only command, or `confirm` for Enter "
    "(docs/teaching.md)",
    "hint": "add hint: with en and zh-TW (h in the tutor shows it)",
    "solution": "add solution: with en and zh-TW (s in the tutor shows it and runs the step)",
}


def _explain_problems(
    doc: YamlDoc, path: tuple[str, int], raw: Mapping[str, Any]
) -> list[ConfigError]:
    """A step explains itself to the student in every language of the message catalogue."""
    name = _step_name(path, raw)
    explain = raw.get("explain")
    if explain is None:
        return [
            SchemaError(
                f"step '{name}' has no explain",
                location=doc.location(path),
                hint=f"add explain: with {' and '.join(LANGUAGES)} (shown with -v, --lang)",
            )
        ]
    texts = {"en": explain} if isinstance(explain, str) else explain
    if not isinstance(texts, Mapping):
        return []  # a wrong type is the schema's problem, reported already
    return [
        SchemaError(
            f"step '{name}': explain has no {lang} text",
            location=doc.location((*path, "explain")),
            hint=f"write the {lang} explanation next to the others",
        )
        for lang in LANGUAGES
        if not (isinstance(texts.get(lang), str) and texts[lang].strip())
    ]
