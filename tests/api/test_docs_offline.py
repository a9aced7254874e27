"""Every page the app serves works offline: no script, style, font or image from another host."""

from __future__ import annotations

import re

import httpx
import pytest

from followthrough.models.vocab import Category, Channel
from followthrough.settings import Settings
from followthrough.unsubscribe import make_token
from tests.support.factories import create_contact

#: Any absolute URL in a page: a reference the browser would fetch from elsewhere, or a link.
_URL = re.compile(r"""(?:src|href|url)\s*[=(]\s*["']?((?:https?:)?//[^"')\s>]+)""", re.IGNORECASE)
_LOCAL = ("//testserver", "http://testserver")


def _outside(html: str) -> list[str]:
    return [u for u in _URL.findall(html) if not u.startswith(_LOCAL)]


async def _pages(api: httpx.AsyncClient, settings: Settings) -> dict[str, str]:
    contact = await create_contact(api, email="page@example.test")
    token = make_token(settings, contact["id"], Channel.EMAIL, Category.MARKETING)
    pages = {}
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect", f"/u/{token}", "/u/not-a-token"):
        response = await api.get(path, headers={"Authorization": ""})  # no key: these are public
        assert response.status_code in (200, 404), (path, response.status_code)
        if response.headers["content-type"].startswith("text/html"):
            pages[path] = response.text
    return pages


async def test_no_page_refers_to_another_host(api: httpx.AsyncClient, settings: Settings) -> None:
    pages = await _pages(api, settings)
    assert {"/docs", "/redoc", "/docs/oauth2-redirect"} <= set(pages)
    assert {path: _outside(html) for path, html in pages.items()} == dict.fromkeys(pages, [])


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_assets_are_served_by_the_app(api: httpx.AsyncClient, page: str) -> None:
    html = (await api.get(page, headers={"Authorization": ""})).text
    assets = re.findall(r"""(?:src|href)=["'](/docs/assets/[^"']+)["']""", html)
    assert assets, html
    for asset in assets:
        response = await api.get(asset, headers={"Authorization": ""})
        assert (asset, response.status_code, len(response.content) > 1000) == (asset, 200, True)
