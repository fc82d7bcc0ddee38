"""Write access cards: ``templates/cards/cards.html.j2`` and ``cards.md.j2`` over ``Card``s.

HTML is rendered with autoescaping (a participant called ``<b>Bo</b>`` is text, not markup) and
is self-contained (inline CSS and SVG): it prints eight cards per A4 page with no network.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from labtools.core.cards import Card
from labtools.core.errors import Location, TemplateError
from labtools.core.i18n import SOURCE_LANGUAGE, Translator, translator
from labtools.core.messages import Msg, msg
from labtools.core.model import Lab

FORMATS = {"html": "cards.html.j2", "md": "cards.md.j2"}


def render_cards(
    cards: Sequence[Card],
    lab: Lab,
    templates_dir: Path,
    fmt: str,
    *,
    secret: bool = False,
    lang: str = SOURCE_LANGUAGE,
) -> str:
    """The cards as HTML or Markdown from the project's ``templates/cards/``, in ``lang``."""
    import jinja2

    tr = translator(lang)
    name = "cards/" + FORMATS[fmt]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=fmt == "html",
        keep_trailing_newline=True,
    )
    html = fmt == "html"
    gettext = _markup_gettext(tr) if html else tr.gettext
    env.globals.update(
        _=gettext, gettext=gettext, lang=tr.lang, code=_html_code if html else _md_code
    )
    context = {
        "lab": {"name": lab.name, "description": lab.description},
        "generated": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cards": [{**dataclasses.asdict(card), "export": card.export} for card in cards],
        "secret": secret,
    }
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(
            msg("card template not found: {path}", path="templates/" + name),
            location=Location(str(templates_dir / name)),
            hint=msg("copy templates/cards/ from the labtools repository"),
        ) from exc
    except jinja2.TemplateError as exc:
        line = getattr(exc, "lineno", None)
        raise TemplateError(
            msg("card template: {error}", error=exc),
            location=Location(str(templates_dir / name), line),
        ) from exc


def _markup_gettext(tr: Translator) -> Callable[..., Any]:
    """``_()`` for HTML: the translation is text (escaped), its arguments are escaped unless
    they are markup already (``code(x)``), so a card can say "namespace <code>x</code>"."""
    from markupsafe import Markup, escape

    def gettext(msgid: str, /, **args: Any) -> Any:
        message = Msg(msgid, args)

        def fill(template: str) -> Any:
            return Markup(escape(template)).format(**args)

        try:
            return fill(tr.template(message))
        except (KeyError, IndexError, ValueError):  # a translator's typo: the English text
            return fill(message.id)

    return gettext


def _html_code(text: Any) -> Any:
    from markupsafe import Markup

    return Markup("<code>{}</code>").format(text)  # i18n: not text (markup)


def _md_code(text: Any) -> str:
    return f"`{text}`"


def write_cards(
    cards: Sequence[Card],
    lab: Lab,
    templates_dir: Path,
    out_dir: Path,
    formats: Sequence[str],
    *,
    secret: bool = False,
    lang: str = SOURCE_LANGUAGE,
) -> list[Path]:
    """Write ``cards.html`` / ``cards.md`` into ``out_dir`` (0600 when they hold tokens)."""
    written = []
    for fmt in formats:
        text = render_cards(cards, lab, templates_dir, fmt, secret=secret, lang=lang)
        path = out_dir / f"cards.{fmt}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    return written
