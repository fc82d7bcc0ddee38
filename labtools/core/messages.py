"""User-facing messages as data: a catalogue id (the English text) and its arguments.

Code that does not know the reader's language (the runner, providers, errors) builds a ``Msg``
with ``msg(...)`` / ``msgn(...)``; a reporter renders it in the run's language through
``labtools.core.i18n``. ``str(m)`` is the English text, so logs, JUnit and exceptions read as
before. Msgids are English with ``{named}`` placeholders (Python brace format, always applied:
write literal braces as ``{{`` and ``}}``). ``python -m labtools.core.catalog`` extracts every
``msg``/``msgn``/``gettext``/``ngettext``/``pgettext`` call into the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, eq=False)
class Msg:
    """A message to show a user: ``id`` is the English text (the catalogue key).

    A message equals another with the same id and arguments, and equals its English text (so
    code and tests that compare texts keep working); it hashes as its English text.
    """

    id: str
    args: Mapping[str, Any] = field(default_factory=dict)
    plural: str | None = None  # the English plural form, with ``n`` choosing
    n: int | None = None
    context: str | None = None  # gettext's msgctxt, for a word with several meanings

    def __str__(self) -> str:
        return self.render(lambda message: message.english_template())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str(self) == other
        if isinstance(other, Msg):
            return self._key() == other._key()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))

    def __contains__(self, part: str) -> bool:
        return part in str(self)

    def _key(self) -> tuple[Any, ...]:
        return (self.id, dict(self.args), self.plural, self.n, self.context)

    def english_template(self) -> str:
        """The English form this message takes (singular or plural)."""
        if self.plural is not None and self.n != 1:
            return self.plural
        return self.id

    def render(self, template_of: Callable[[Msg], str]) -> str:
        """Format the template ``template_of`` gives, nested messages rendered the same way.

        A translation whose placeholders do not match (a translator's typo) falls back to the
        English text rather than failing a run; the catalogue test catches such entries.
        """
        values = {
            key: value.render(template_of) if isinstance(value, Msg) else value
            for key, value in self.args.items()
        }
        if self.n is not None:
            values.setdefault("n", self.n)
        try:
            return template_of(self).format_map(values)
        except (KeyError, IndexError, ValueError, AttributeError):
            return self.english_template().format_map(values)


Text = str | Msg


def msg(msgid: str, /, **args: Any) -> Msg:
    """A message for the catalogue: ``msg("unknown phase '{phase}'", phase=name)``."""
    return Msg(msgid, args)


def msgn(singular: str, plural: str, n: int, /, **args: Any) -> Msg:
    """A message with a plural form; ``{n}`` is available to both forms."""
    return Msg(singular, args, plural=plural, n=n)


def msgp(context: str, msgid: str, /, **args: Any) -> Msg:
    """A message with a context (``msgp("phase", "setup")``), for words with several senses."""
    return Msg(msgid, args, context=context)


def english(text: Text | None) -> str:
    """The English text of a message or plain string ('' for None)."""
    return "" if text is None else str(text)


def joined(items: Sequence[Text], sep: Text = ", ") -> Text:
    """Several texts as one (each part, and ``sep``, rendered in the reader's language)."""
    if len(items) < 2:
        return items[0] if items else ""
    skeleton = "{sep}".join(f"{{p{index}}}" for index in range(len(items)))
    parts = {f"p{index}": item for index, item in enumerate(items)}
    # the skeleton is no catalogue entry: it renders as itself around the translated parts
    return Msg(skeleton, {"sep": sep, **parts})
