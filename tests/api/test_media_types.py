"""A route whose body is a JSON model answers 415 to any other media type: walked route by route."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from api.app import create_app
from api.media import takes_json
from tests.conftest import make_settings

_app: FastAPI = create_app(make_settings(Path("/nonexistent")))
JSON_ROUTES = sorted((method, context.path_format) for context in iter_route_contexts(_app.routes)
                     if isinstance(context.original_route, APIRoute) and takes_json(context)
                     for method in (context.methods or ()))


def _concrete(path: str) -> str:
    """A path with every parameter filled (ids 1, names 'x', channel email, locale en)."""
    values = {"channel": "email", "locale": "en"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1" if m.group(1).endswith("id") else "x"), path)


def test_the_walk_covers_the_json_routes() -> None:
    assert ("POST", "/v1/contacts") in JSON_ROUTES and ("PUT", "/v1/policy") in JSON_ROUTES
    assert ("POST", "/v1/webhooks/twilio/sms") not in JSON_ROUTES  # a form
    assert ("POST", "/v1/definitions") not in JSON_ROUTES  # JSON or YAML, its own rule


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES, ids=[f"{m} {p}" for m, p in JSON_ROUTES])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_json_route_refuses_another_media_type(
    api: httpx.AsyncClient, method: str, path: str, content_type: str
) -> None:
    response = await api.request(method, _concrete(path), content=b'{"name": "x"}',
                                 headers={"Content-Type": content_type})
    assert (response.status_code, response.headers["content-type"]) == (415, "application/problem+json")
    assert response.json()["detail"] == f"Send the body as application/json, not '{content_type}'."


async def test_json_with_a_charset_or_a_json_suffix_is_json(api: httpx.AsyncClient) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = await api.post("/v1/contacts", content=b'{"email": "a@example.test"}',
                                  headers={"Content-Type": content_type})
        assert response.status_code in (201, 409), (content_type, response.text)
