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
