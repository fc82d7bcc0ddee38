"""A lab's own bilingual texts (``explain:``, ``hint:``, ``solution:``) in the reader's language.

The tool's own words go through the message catalogue (``labtools.core.i18n``); these are the
lab author's, written beside each step in both languages.
"""

from __future__ import annotations

from collections.abc import Mapping

from labtools.core.i18n import SOURCE_LANGUAGE


def pick(texts: Mapping[str, str], lang: str) -> str:
    """``{en: ..., zh-TW: ...}`` in ``lang`` (English when the lab has no text in it)."""
    return (texts.get(lang) or texts.get(SOURCE_LANGUAGE) or "").strip()
