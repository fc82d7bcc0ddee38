"""Write access cards: ``templates/cards/cards.html.j2`` and ``cards.md.j2`` over ``Card``s.

HTML is rendered with autoescaping (a participant called ``<b>Bo</b>`` is text, not markup) and
is self-contained (inline CSS and SVG): it prints eight cards per A4 page with no network.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path

from labtools.core.cards import Card
from labtools.core.errors import Location, TemplateError
from labtools.core.model import Lab

FORMATS = {"html": "cards.html.j2", "md": "cards.md.j2"}


def render_cards(
    cards: Sequence[Card], lab: Lab, templates_dir: Path, fmt: str, *, secret: bool = False
) -> str:
    """The cards as HTML or Markdown from the project's ``templates/cards/``."""
    import jinja2

    name = f"cards/{FORMATS[fmt]}"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=fmt == "html",
        keep_trailing_newline=True,
    )
    context = {
        "lab": {"name": lab.name, "description": lab.description},
        "generated": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cards": [dataclasses.asdict(card) for card in cards],
        "secret": secret,
    }
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(
            f"card template not found: templates/{name}",
            location=Location(str(templates_dir / name)),
            hint="copy templates/cards/ from the labtools repository",
        ) from exc
    except jinja2.TemplateError as exc:
        line = getattr(exc, "lineno", None)
        raise TemplateError(
            f"card template: {exc}", location=Location(str(templates_dir / name), line)
        ) from exc


def write_cards(
    cards: Sequence[Card],
    lab: Lab,
    templates_dir: Path,
    out_dir: Path,
    formats: Sequence[str],
    *,
    secret: bool = False,
) -> list[Path]:
    """Write ``cards.html`` / ``cards.md`` into ``out_dir`` (0600 when they hold tokens)."""
    written = []
    for fmt in formats:
        text = render_cards(cards, lab, templates_dir, fmt, secret=secret)
        path = out_dir / f"cards.{fmt}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    return written
