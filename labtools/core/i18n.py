"""The message catalogue: every string a student sees, in English (the source) and zh-TW.

English is the source language: a msgid is the English text itself, so code reads naturally and
a missing translation still shows something true. Translations are gettext catalogues that a
translator edits with any PO editor (Poedit, Lokalize, Weblate) or a text editor:
``labtools/locale/<ll_CC>/LC_MESSAGES/labtools.po``. They are read with Babel on first use (no
compiled ``.mo`` file that could go stale); fuzzy entries are not used.

``translator(lang)`` gives a ``Translator`` whose ``gettext``/``ngettext``/``pgettext`` format
``{named}`` arguments and whose ``render`` turns a ``Msg`` (or a plain string) into text.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
from pathlib import Path
from typing import Any

from labtools.core.messages import Msg, Text

DOMAIN = "labtools"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
SOURCE_LANGUAGE = "en"
# run option language -> gettext locale directory
LOCALES: dict[str, str] = {"zh-TW": "zh_TW"}


def po_path(lang: str) -> Path:
    """The catalogue file of a language (``zh-TW`` -> ``locale/zh_TW/LC_MESSAGES/labtools.po``)."""
    return LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_translations(path: Path) -> _gettext.GNUTranslations:
    """A .po file as gettext translations (Babel parses it; fuzzy entries are left out)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


class Translator:
    """Messages in one language; English (the msgids) where the catalogue has no entry."""

    def __init__(self, lang: str, translations: _gettext.NullTranslations) -> None:
        self.lang = lang
        self.translations = translations

    def template(self, message: Msg) -> str:
        """The translated template of a message (before its arguments are filled in)."""
        tr = self.translations
        if message.plural is not None:
            n = message.n if message.n is not None else 1
            if message.context is not None:
                return tr.npgettext(message.context, message.id, message.plural, n)
            return tr.ngettext(message.id, message.plural, n)
        if message.context is not None:
            return tr.pgettext(message.context, message.id)
        return tr.gettext(message.id)

    def render(self, text: Text | None) -> str:
        """A message in this language; a plain string as it is ('' for None)."""
        if text is None:
            return ""
        if isinstance(text, str):
            return text
        return text.render(self.template)

    def gettext(self, msgid: str, /, **args: Any) -> str:
        """``msgid`` translated, ``{named}`` arguments filled in."""
        return self.render(Msg(msgid, args))

    def ngettext(self, singular: str, plural: str, n: int, /, **args: Any) -> str:
        """The form for ``n`` (``{n}`` is filled in too)."""
        return self.render(Msg(singular, args, plural=plural, n=n))

    def pgettext(self, context: str, msgid: str, /, **args: Any) -> str:
        """``msgid`` in ``context`` (``pgettext("status", "ok")``)."""
        return self.render(Msg(msgid, args, context=context))


@functools.cache
def translator(lang: str = SOURCE_LANGUAGE) -> Translator:
    """The translator for a language (``en``, ``zh-TW``, ``zh_TW``...); others: OptionError."""
    from labtools.core.options import parse_lang

    lang = parse_lang(lang)
    if lang not in LOCALES:
        return Translator(SOURCE_LANGUAGE, _gettext.NullTranslations())
    return Translator(lang, load_translations(po_path(lang)))
