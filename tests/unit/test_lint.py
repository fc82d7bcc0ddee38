"""lint: the rules only lab.lint applies (explanations in every language, README, name)."""

from __future__ import annotations

from pathlib import Path

from labtools.core.lint import style_problems
from labtools.core.playbook import load_lab
from labtools.core.yamlfile import load_yaml

STEPS = """
setup:
  - {name: both, command: echo, explain: {en: Hi., zh-TW: 嗨。}}
  - {name: english only, command: echo, explain: {en: Hi.}}
  - {name: plain text, command: echo, explain: Hi.}
  - {name: none, command: echo}
  - {name: blank, command: echo, explain: {en: Hi., zh-TW: "  "}}
"""


def lint(tmp_path: Path, text: str, readme: bool = True) -> list[tuple[int | None, str]]:
    lab_dir = tmp_path / "playbooks" / "web"
    lab_dir.mkdir(parents=True, exist_ok=True)
    (lab_dir / "playbook.yml").write_text(text)
    if readme:
        (lab_dir / "README.md").write_text("# web\n")
    doc = load_yaml(lab_dir / "playbook.yml")
    found = style_problems(doc, load_lab(lab_dir / "playbook.yml"), lab_dir)
    return [(p.location.line if p.location else None, p.message) for p in found]


def test_every_step_explains_itself_in_every_language(tmp_path: Path) -> None:
    assert lint(tmp_path, STEPS) == [
        (4, "step 'english only': explain has no zh-TW text"),
        (5, "step 'plain text': explain has no zh-TW text"),
        (6, "step 'none' has no explain"),
        (7, "step 'blank': explain has no zh-TW text"),
    ]


def test_a_lab_has_a_readme_and_its_folders_name(tmp_path: Path) -> None:
    assert lint(tmp_path, "name: webb\nsetup: []\n", readme=False) == [
        (None, "the lab has no README.md"),
        (1, "the lab is called 'webb' but its folder is 'web'"),
    ]
    assert lint(tmp_path, "setup: []\n") == []  # named after its folder by default


TAUGHT = " (in a tutor lab each step a student does has check, hint and solution)"
EXPLAINED = "explain: {en: Hi., zh-TW: 嗨。}"
BOTH = "{en: Do it., zh-TW: 做吧。}"
TUTOR = f"""
setup:
  - {{name: taught, command: echo, {EXPLAINED}, check: history, hint: {BOTH}, solution: {BOTH}}}
  - {{name: no check, command: echo, {EXPLAINED}, hint: {BOTH}, solution: {BOTH}}}
  - {{name: enter, command: echo, {EXPLAINED}, check: confirm, hint: {BOTH}, solution: {BOTH}}}
  - {{name: english hint, command: echo, {EXPLAINED}, check: history, hint: {{en: Do it.}},
      solution: {BOTH}}}
  - {{name: bare, command: echo, {EXPLAINED}}}
  - {{name: a pause, wait: 1, {EXPLAINED}}}
verify:
  - {{name: the lab's checks, verify: web, {EXPLAINED}}}
teardown:
  - {{name: clean up, command: echo, {EXPLAINED}}}
"""


def test_a_tutor_lab_checks_hints_and_solves_every_step_the_student_does(tmp_path: Path) -> None:
    (tmp_path / "playbooks" / "web" / "checks").mkdir(parents=True)
    (tmp_path / "playbooks" / "web" / "checks" / "test_web.py").write_text("def test_x(): ...\n")
    assert lint(tmp_path, TUTOR) == [
        (4, "step 'no check' has no check" + TAUGHT),
        (6, "step 'english hint': hint has no zh-TW text"),
        (8, "step 'bare' has no check" + TAUGHT),
        (8, "step 'bare' has no hint" + TAUGHT),
        (8, "step 'bare' has no solution" + TAUGHT),
    ]  # `check: confirm` is a choice; waits, the lab's checks and teardown are not taught


def test_a_lab_without_tutor_texts_needs_none(tmp_path: Path) -> None:
    plain = f"setup:\n  - {{name: a, command: echo, {EXPLAINED}}}\n"
    assert lint(tmp_path, plain) == []
    one_sided = f"setup:\n  - {{name: a, command: echo, {EXPLAINED}, solution: {{zh-TW: 做。}}}}\n"
    assert lint(tmp_path, one_sided) == [
        (2, "step 'a': solution has no en text"),
        (2, "step 'a' has no check" + TAUGHT),
        (2, "step 'a' has no hint" + TAUGHT),
    ]
