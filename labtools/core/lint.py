"""Rules only ``lab.lint`` applies: a lab a run can use but its author should finish.

Everything a run would stop on is checked by the one checker (``playbook.check_playbook`` and
``preview.check_plan``) that ``app.load`` uses too; these rules add what makes a lab complete:
every step explained in every language, a README, a name that matches the folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtools.core.errors import ConfigError, Location, SchemaError
from labtools.core.model import PHASES, Lab
from labtools.core.options import LANGUAGES
from labtools.core.yamlfile import YamlDoc

README = "README.md"


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
    data = doc.data if isinstance(doc.data, Mapping) else {}
    for phase in PHASES:
        steps = data.get(phase)
        for index, raw in enumerate(steps if isinstance(steps, list) else []):
            if isinstance(raw, Mapping):
                problems.extend(_explain_problems(doc, (phase, index), raw))
    return problems


def _explain_problems(
    doc: YamlDoc, path: tuple[str, int], raw: Mapping[str, Any]
) -> list[ConfigError]:
    """A step explains itself to the student in every language of the message catalogue."""
    name = raw.get("name") if isinstance(raw.get("name"), str) else f"{path[0]}[{path[1]}]"
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
