"""HTML pages served to people who follow a link from a message (unsubscribe, one-click
actions): sandboxed templates under ``templates/pages``, in the reader's language."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import negotiate_locale
from fastapi.responses import HTMLResponse
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from followthrough.rendering import fallback_chain
from followthrough.settings import Settings

#: The languages the pages are written in (templates/pages/*.<locale>.html.j2).
PAGE_LOCALES = ["en", "ru", "hu"]
# A token sits in the URL: keep it out of Referer headers, caches and search indexes.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


@lru_cache(maxsize=4)
def environment(pages_dir: Path) -> SandboxedEnvironment:
    # Pages are data like message templates: sandboxed, strict, HTML autoescaped.
    return SandboxedEnvironment(
        loader=FileSystemLoader(pages_dir), autoescape=True, undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )


def visitor_locale(settings: Settings, accept_language: str) -> str:
    """The page language a browser asks for (``Accept-Language``), for a visitor we cannot
    name (a link we did not sign)."""
    wanted = [part.split(";")[0].strip() for part in accept_language.split(",") if part.strip()]
    return negotiate_locale(wanted, PAGE_LOCALES, sep="-") or settings.default_locale


def render(settings: Settings, page: str, locale: str, status_code: int = 200, /,
           **context: Any) -> HTMLResponse:
    """``templates/pages/<page>.<locale>.html.j2``, falling back as messages do (``ru-RU`` ->
    ``ru`` -> the default locale -> ``en``)."""
    locales = [*fallback_chain(locale, settings.default_locale), "en"]
    template = environment(settings.templates_dir / "pages").select_template(
        [f"{page}.{candidate}.html.j2" for candidate in locales])
    return HTMLResponse(template.render(**context), status_code=status_code, headers=NO_STORE)
