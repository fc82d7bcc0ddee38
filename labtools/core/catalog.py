"""Keep the catalogue in step with the sources: extract every message, update the .po files.

``python -m labtools.core.catalog`` (from the project root) extracts the messages of
``labtools/`` (the fake cluster excepted: it speaks Kubernetes' English), ``tasks.py`` and the
HTML/Markdown templates under ``templates/``, and merges them into every language's ``.po``:
new messages appear untranslated, changed ones fuzzy (as ``pybabel update`` does); a translator
then fills them in. ``problems(lang)`` is what the catalogue test asserts is empty.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labtools.core.i18n import DOMAIN, LOCALES, po_path

ROOT = Path(__file__).resolve().parents[2]
# (function, Babel keyword spec): positions of msgid / plural / context
KEYWORDS: dict[str, Any] = {
    "msg": None,
    "msgn": (1, 2),
    "msgp": ((1, "c"), 2),
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "_": None,
}
PYTHON_SOURCES = ("labtools/**/*.py", "tasks.py")
SKIPPED = ("labtools/testing/",)
TEMPLATE_SOURCES = ("templates/**/*.j2",)
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)[^{}]*\}(?!\})")


def source_files(root: Path = ROOT) -> Iterator[tuple[str, Path]]:
    """(method, file) for every file messages are extracted from."""
    for pattern in PYTHON_SOURCES:
        for path in sorted(root.glob(pattern)):
            relative = path.relative_to(root).as_posix()
            if not relative.startswith(SKIPPED):
                yield "python", path
    for pattern in TEMPLATE_SOURCES:
        for path in sorted(root.glob(pattern)):
            yield "jinja2", path


def extract(root: Path = ROOT) -> Any:
    """Every message of the sources, as a Babel ``Catalog`` (locations kept for translators)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract as babel_extract

    catalog = Catalog(domain=DOMAIN, project="labtools", charset="utf-8")
    for method, path in source_files(root):
        method_ref = "jinja2.ext:babel_extract" if method == "jinja2" else method
        with path.open("rb") as handle:
            found = babel_extract(method_ref, handle, keywords=KEYWORDS)
            for line, message, comments, context in found:
                flags = ("python-brace-format",) if _has_placeholder(message) else ()
                catalog.add(
                    message,
                    locations=[(path.relative_to(root).as_posix(), line)],
                    auto_comments=comments,
                    context=context,
                    flags=flags,
                )
    return catalog


def _has_placeholder(message: str | tuple[str, ...]) -> bool:
    texts = (message,) if isinstance(message, str) else message
    return any(PLACEHOLDER.search(text) for text in texts)


def placeholders(text: str) -> set[str]:
    """The ``{names}`` a message template uses."""
    return set(PLACEHOLDER.findall(text))


def read(lang: str, po: Path | None = None) -> Any:
    """The Babel ``Catalog`` of a language's .po file (or of the file ``po``)."""
    from babel.messages.pofile import read_po

    with (po or po_path(lang)).open("rb") as handle:
        return read_po(handle, locale=LOCALES[lang])


def problems(lang: str, root: Path = ROOT, po: Path | None = None) -> list[str]:
    """What is wrong with a language's catalogue: missing, fuzzy, stale or mismatched entries."""
    sources = extract(root)
    catalog = read(lang, po)
    found: list[str] = []
    for message in sources:
        if not message.id:
            continue
        entry = catalog.get(message.id, message.context)
        where = ", ".join(f"{file}:{line}" for file, line in message.locations)
        if entry is None or not _translated(entry.string):
            found.append(f"missing: {message.id!r} ({where})")
        elif entry.fuzzy:
            found.append(f"fuzzy: {message.id!r} ({where})")
        else:
            found += _placeholder_problems(message.id, entry.string)
    for entry in catalog:
        if entry.id and sources.get(entry.id, entry.context) is None:
            found.append(f"stale (no longer in the sources): {entry.id!r}")
    return found


def _translated(string: str | tuple[str, ...]) -> bool:
    texts = (string,) if isinstance(string, str) else string
    return bool(texts) and all(text.strip() for text in texts)


def _placeholder_problems(msgid: str | tuple[str, ...], string: str | tuple[str, ...]) -> list[str]:
    """A translation must use exactly the placeholders of its source."""
    ids = (msgid,) if isinstance(msgid, str) else msgid
    strings = (string,) if isinstance(string, str) else string
    expected = set().union(*(placeholders(text) for text in ids))
    optional = {"n"} if len(ids) > 1 else set()  # a plural form may leave the count implicit
    out = []
    for text in strings:
        names = placeholders(text)
        if expected - names - optional or names - expected - optional:
            out.append(f"placeholders differ: {ids[0]!r} -> {text!r}")
    return out


def update(lang: str, root: Path = ROOT, po: Path | None = None) -> int:
    """Merge the sources' messages into a language's .po (new: untranslated; gone: dropped)."""
    from babel.messages.pofile import write_po

    catalog = read(lang, po)
    catalog.update(extract(root), no_fuzzy_matching=False)
    catalog.obsolete.clear()
    with (po or po_path(lang)).open("wb") as handle:
        write_po(handle, catalog, width=100, sort_output=False, include_previous=True)
    return sum(1 for message in catalog if message.id and not _translated(message.string))


def main(argv: list[str] | None = None) -> int:
    """Update every catalogue; print how many entries wait for a translator."""
    del argv
    for lang in LOCALES:
        untranslated = update(lang)
        print(f"{po_path(lang)}: {untranslated} untranslated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
