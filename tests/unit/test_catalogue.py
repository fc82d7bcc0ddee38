"""The message catalogue: every message translated, nothing around it, output in both languages."""
# ruff: noqa: RUF001  (the zh-TW texts compared here use fullwidth punctuation, as Chinese does)

from __future__ import annotations

import io
import shutil
import textwrap
from pathlib import Path

import i18n_lint
import pytest
from rich.cells import cell_len
from test_report import console_run

from labtools.core import catalog
from labtools.core.errors import OptionError
from labtools.core.i18n import po_path, translator
from labtools.core.messages import Msg, msg, msgn, msgp
from labtools.core.options import parse_lang
from labtools.core.results import Notice, RunStarted, StepStarted
from labtools.report.console import ConsoleReporter
from labtools.report.wrap import wrap

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------- the catalogue


def test_every_message_has_a_current_zh_tw_translation() -> None:
    # missing, fuzzy, stale or with other placeholders than the English: `python -m
    # labtools.core.catalog` adds the new ones, a translator fills them in (docs/i18n.md)
    assert catalog.problems("zh-TW") == []


def test_a_missing_or_wrong_translation_is_reported(tmp_path: Path) -> None:
    po = tmp_path / "zh.po"
    text = po_path("zh-TW").read_text(encoding="utf-8")
    # drop one translation, break the placeholders of another
    text = text.replace("msgstr \"未知的階段 '{phase}'\"", 'msgstr ""', 1)
    text = text.replace('msgstr "找不到指令：{binary}"', 'msgstr "找不到指令：{bin}"', 1)
    po.write_text(text, encoding="utf-8")
    found = catalog.problems("zh-TW", po=po)
    assert any(p.startswith("missing: \"unknown phase '{phase}'\"") for p in found), found
    assert any("placeholders differ: 'command not found: {binary}'" in p for p in found), found


def test_extraction_finds_messages_in_python_and_templates(tmp_path: Path) -> None:
    (tmp_path / "labtools").mkdir()
    (tmp_path / "labtools" / "m.py").write_text(
        'x = msg("a {b}", b=1)\ny = tr.ngettext("{n} cat", "{n} cats", 2)\n', encoding="utf-8"
    )
    (tmp_path / "templates" / "report").mkdir(parents=True)
    (tmp_path / "templates" / "report" / "r.html.j2").write_text(
        '<h1>{{ _("Run report") }}</h1>', encoding="utf-8"
    )
    ids = {m.id for m in catalog.extract(tmp_path) if m.id}
    assert ids == {"a {b}", ("{n} cat", "{n} cats"), "Run report"}


def test_a_message_inside_an_f_string_is_not_extracted_and_the_lint_says_so(
    tmp_path: Path,
) -> None:
    (tmp_path / "labtools").mkdir()
    (tmp_path / "labtools" / "m.py").write_text(
        'line = f"  {_(\'Hidden from Babel\')}"\nok = "  " + _("Seen")\n', encoding="utf-8"
    )
    assert {m.id for m in catalog.extract(tmp_path) if m.id} == {"Seen"}
    assert i18n_lint.fstring_violations(tmp_path) == ["labtools/m.py:1: 'Hidden from Babel'"]


# ---------------------------------------------------------------------------- the lint


def test_no_user_facing_string_bypasses_the_catalogue() -> None:
    assert i18n_lint.error_violations() == []
    assert i18n_lint.report_violations() == []
    assert i18n_lint.template_violations() == []
    assert i18n_lint.fstring_violations() == []


def test_the_lint_finds_text_around_the_catalogue(tmp_path: Path) -> None:
    report = tmp_path / "labtools" / "report"
    report.mkdir(parents=True)
    (report / "bad.py").write_text(
        textwrap.dedent(
            '''
            """Docstrings are fine."""
            def show(out, name, tr):
                out.write(f"STEP {name}")            # flagged: an f-string
                out.write(tr.gettext("STEP {n}", n=name))  # fine
                out.print(name, style="bold red")   # fine: a keyword argument
                label = "Recap"                      # flagged: text in a variable
                return label
            '''
        ),
        encoding="utf-8",
    )
    (tmp_path / "labtools" / "errs.py").write_text(
        textwrap.dedent(
            """
            def fail(lab, exc):
                raise ConfigError(f"unknown lab {lab}")             # flagged
                raise OptionError(msg("unknown lab {lab}", lab=lab))  # fine
                raise OptionError(exc.message)                      # flagged: English
                hint = "try again"
                raise ProviderError(msg("x"), hint=hint)            # flagged: via a name
                raise SchemaError(f"author errors stay English {lab}")  # not checked
            """
        ),
        encoding="utf-8",
    )
    (tmp_path / "templates" / "handout").mkdir(parents=True)
    (tmp_path / "templates" / "handout" / "h.html.j2").write_text(
        '<style>body { color: red }</style><h1>{{ _("Handout") }}</h1><p>Your steps</p>',
        encoding="utf-8",
    )
    reports = i18n_lint.report_violations(tmp_path)
    assert sorted(v.split(": ", 1)[1] for v in reports) == ["'Recap'", "'STEP '"]
    errors = i18n_lint.error_violations(tmp_path)
    assert len(errors) == 3, errors
    assert any("exc.message" in e for e in errors)
    assert any("hint" in e and "ProviderError" in e for e in errors)
    assert i18n_lint.template_violations(tmp_path) == ["templates/handout/h.html.j2: 'Your steps'"]


# ---------------------------------------------------------------------------- translating


def test_messages_render_in_each_language() -> None:
    zh = translator("zh-TW")
    phase = msg("unknown phase '{phase}'", phase="depoy")
    assert str(phase) == "unknown phase 'depoy'"
    assert zh.render(phase) == "未知的階段 'depoy'"
    assert zh.render(msgn("{n} step failed: {steps}", "{n} steps failed: {steps}", 2, steps="x"))
    assert str(msgn("{n} host", "{n} hosts", 1)) == "1 host"
    assert str(msgn("{n} host", "{n} hosts", 3)) == "3 hosts"
    assert zh.render(msgp("status", "skipped")) == "略過"
    # nested messages are rendered in the same language
    hint = msg("hint: {hint}", hint=msg("did you mean '{choice}'?", choice="deploy"))
    assert zh.render(hint) == "提示：您是指 'deploy' 嗎？"
    assert translator("en").render(hint) == "hint: did you mean 'deploy'?"


def test_a_message_equals_its_english_text() -> None:
    assert msg("exit code {rc}", rc=2) == "exit code 2"
    assert msg("exit code {rc}", rc=2) == msg("exit code {rc}", rc=2)
    assert msg("exit code {rc}", rc=2) != msg("exit code {rc}", rc=3)
    assert "code 2" in msg("exit code {rc}", rc=2)


def test_a_broken_translation_falls_back_to_english() -> None:
    broken = Msg("exit code {rc}", {"rc": 2})
    assert broken.render(lambda m: "結束代碼 {code}") == "exit code 2"


@pytest.mark.parametrize(
    ("given", "lang"), [("en", "en"), ("zh-TW", "zh-TW"), ("zh_TW", "zh-TW"), ("zh-tw", "zh-TW")]
)
def test_languages_and_their_spellings(given: str, lang: str) -> None:
    assert parse_lang(given) == lang
    assert translator(given).lang == lang


def test_an_unknown_language_is_an_error_listing_the_known_ones() -> None:
    with pytest.raises(OptionError) as info:
        translator("fr")
    assert info.value.format() == "unknown language 'fr'\n  hint: known languages: en, zh-TW"


def test_errors_format_in_the_reader_language() -> None:
    from labtools.core.options import parse_phases

    with pytest.raises(OptionError) as info:
        parse_phases("setup,depoy")
    assert (
        info.value.format(translator("zh-TW")) == "未知的階段 'depoy'\n  提示：您是指 'deploy' 嗎？"
    )
    assert info.value.message == "unknown phase 'depoy'"
    assert info.value.hint == "did you mean 'deploy'?"


# ---------------------------------------------------------------------------- console


def test_console_in_zh_tw_has_no_english_left(tmp_path: Path) -> None:
    text = console_run(tmp_path, "zh-TW")
    for word in (
        "階段 setup（準備叢集）",
        "步驟 hello",
        "總結",
        "已變更",
        "失敗",
        "略過",
        "結束代碼：2",
    ):
        assert word in text, word
    assert "when: false 為 false" in text  # the skip reason
    for english in ("PHASE", "RECAP", "STEP ", "exit code", "changed  ", "skipped  ", "was false"):
        assert english not in text, english


def test_console_in_english(tmp_path: Path) -> None:
    text = console_run(tmp_path, "en")
    for word in ("PHASE setup", "STEP hello", "RECAP", "changed", "exit code: 2", "was false"):
        assert word in text, word
    assert not any("\u4e00" <= char <= "\u9fff" for char in text.replace("打個招呼", ""))


EXPLAIN = (
    "查看 minikube 版本。minikube 是一種輕量級的 Kubernetes 實現，"
    "可在本地電腦上建立只有一個節點的簡單叢集。"
)


def test_wrapped_cjk_lines_keep_their_indent_in_a_narrow_terminal() -> None:
    out = io.StringIO()
    console = ConsoleReporter(out, verbosity=1, lang="zh-TW", color=False)
    console.console.width = 30  # a narrow terminal
    console.handle(RunStarted(lab="t", phases=("setup",), hosts=("h",), run_dir="r"))
    console.handle(
        StepStarted(host="h", phase="setup", step="s", action="command", explain={"zh-TW": EXPLAIN})
    )
    console.handle(Notice(message=msg("provider {provider} has no minikube", provider="x" * 12)))
    console.close()
    lines = out.getvalue().splitlines()
    explain = [line for line in lines if line.startswith("  ") and "$" not in line]
    assert len(explain) >= 3  # it was wrapped...
    assert "".join(line.strip() for line in explain).replace(" ", "") == EXPLAIN.replace(" ", "")
    assert all(cell_len(line) <= 30 for line in lines), lines  # ...to the terminal's width
    assert not any(line.lstrip().startswith(("，", "。")) for line in lines)


@pytest.mark.parametrize("width", [12, 20, 33, 80])
def test_wrap_keeps_indent_width_and_every_character(width: int) -> None:
    lines = wrap(EXPLAIN, width, "    ")
    assert all(line.startswith("    ") for line in lines)
    assert all(cell_len(line) <= width for line in lines)
    assert "".join(line[4:] for line in lines).replace(" ", "") == EXPLAIN.replace(" ", "")


def test_wrap_english_breaks_at_spaces() -> None:
    text = "Create a Deployment. Kubernetes finds a suitable Node and schedules the app there."
    lines = wrap(text, 30, "  ")
    assert lines == [
        "  Create a Deployment.",
        "  Kubernetes finds a suitable",
        "  Node and schedules the app",
        "  there.",
    ]


def test_update_adds_new_messages_untranslated(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "labtools" / "locale", tmp_path / "locale")
    po = tmp_path / "locale" / "zh_TW" / "LC_MESSAGES" / "labtools.po"
    src = tmp_path / "src"
    (src / "labtools").mkdir(parents=True)
    (src / "labtools" / "m.py").write_text('x = msg("a brand new message")\n', encoding="utf-8")
    untranslated = catalog.update("zh-TW", src, po=po)
    assert untranslated == 1
    assert 'msgid "a brand new message"\nmsgstr ""' in po.read_text(encoding="utf-8")
