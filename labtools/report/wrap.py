"""Wrap prose to a terminal's width in cells: CJK text breaks between characters, keeps its indent.

Python's ``textwrap`` counts characters and breaks only at spaces, so a line of Chinese (two
cells a character, no spaces) overflows the terminal and the terminal's own wrap loses the
indent. Here every CJK character is a break opportunity, widths are terminal cells
(``rich.cells``), and the line-breaking rules of CJK typesetting (kinsoku) are kept: closing
punctuation (fullwidth comma, full stop, closing brackets) never starts a line and opening
brackets never end one.
"""

from __future__ import annotations

import re
import unicodedata

from rich.cells import cell_len

# never at the start of a line: they stay with the text before them
NO_LINE_START = frozenset("，。、；：！？）」』】》〉〕…‥・ー,.;:!?)]}%")  # noqa: RUF001
# never at the end of a line: they stay with the text after them
NO_LINE_END = frozenset("（「『【《〈〔([{")  # noqa: RUF001
_TOKEN = re.compile(r"\s+|\S")


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _tokens(text: str) -> list[str]:
    """Unbreakable pieces: a space run, a CJK character (with its punctuation), a word."""
    pieces: list[str] = []
    for match in _TOKEN.finditer(text):
        char = match.group()
        glue_left = pieces and (char in NO_LINE_START or pieces[-1][-1] in NO_LINE_END)
        joins_word = pieces and not char.isspace() and not _wide(char) and _open_word(pieces[-1])
        if (glue_left and not char.isspace() and not pieces[-1][-1].isspace()) or joins_word:
            pieces[-1] += char
        else:
            pieces.append(char)
    return pieces


def _open_word(piece: str) -> bool:
    """Does a narrow character continue ``piece`` (a word of narrow characters)?"""
    last = piece[-1]
    return not last.isspace() and not _wide(last) and last not in NO_LINE_START


def _fold(piece: str, width: int) -> list[str]:
    """A piece wider than a line, cut into line-wide parts."""
    parts, current = [], ""
    for char in piece:
        if current and cell_len(current + char) > width:
            parts.append(current)
            current = ""
        current += char
    return [*parts, current] if current else parts


def wrap(text: str, width: int, indent: str = "", subsequent: str | None = None) -> list[str]:
    """``text`` as lines of at most ``width`` cells, each starting with its indent.

    The first line starts with ``indent``, the others with ``subsequent`` (default: the same).
    Existing newlines are kept; a word longer than a line is cut.
    """
    rest = indent if subsequent is None else subsequent
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines += _wrap_paragraph(paragraph, width, indent if not lines else rest, rest)
    return lines


def _wrap_paragraph(text: str, width: int, first: str, rest: str) -> list[str]:
    lines: list[str] = []
    prefix, current = first, ""
    for piece in _tokens(text.strip()):
        room = max(1, width - cell_len(prefix))
        if piece.isspace():
            current += " " if current else ""
            continue
        if cell_len(current + piece) <= room:
            current += piece
            continue
        if current.strip():
            lines.append(prefix + current.rstrip())
            prefix, current = rest, ""
            room = max(1, width - cell_len(prefix))
        parts = _fold(piece, room) if cell_len(piece) > room else [piece]
        for part in parts[:-1]:
            lines.append(prefix + part)
            prefix = rest
        current = parts[-1]
    lines.append(prefix + current.rstrip())
    return lines
