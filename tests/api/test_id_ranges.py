"""Ids, versions and cursors out of range are a 422 naming the parameter, never a 500: a walk
over every route of the app, so a route added later with a bare ``int`` fails here."""

from __future__ import annotations

import tempfile
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import Engine

from api.app import create_app
from api.schemas.common import MAX_ID, Cursor
from followthrough.settings import Settings
from tests.conftest import ADMIN_KEY, make_settings

#: A plausible value for every other parameter, so the one under test is the only bad one.
SAMPLES = {"contact_id": "1", "hold_id": "1", "suppression_id": "1", "name": "welcome_sequence",
           "channel": "email", "locale": "en", "external_id": "crm-1", "run_id": "r1",
           "token": "t", "from": "1", "to": "1"}
TOO_BIG = [str(MAX_ID + 1), "99999999999999999999"]
#: A body each write needs to get past validation, so the id reaches the database.
BODIES = {"/v1/contacts/{contact_id}/holds": {"categories": ["sales"]},
          "/v1/contacts/{contact_id}/events": {"event": "demo.booked"}}
_CURSOR_CHECKS = get_args(Cursor)[1:]


@dataclass(frozen=True)
class Target:
    method: str
    path: str
    location: str  # path | query
    name: str
    cursor: bool
    required: list[tuple[str, str]]  # every required query parameter (name, location)

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.location}:{self.name}"


def _is_int(annotation: Any) -> bool:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return False
            annotation = args[0]
        else:
            return annotation is int


def _targets() -> list[Target]:
    with tempfile.TemporaryDirectory() as unused:  # only the routes are read
        app = create_app(make_settings(Path(unused)))
    found = []
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        route: APIRoute = context  # type: ignore[assignment]
        params = [("path", f) for f in route.dependant.path_params] + [
            ("query", f) for f in route.dependant.query_params]
        required = [(f.alias, where) for where, f in params if where == "query" and f.field_info.is_required()]
        for where, field in params:
            cursor = any(check in _CURSOR_CHECKS for check in field.field_info.metadata)
            if cursor or _is_int(field.field_info.annotation):
                found += [Target(method, route.path_format, where, field.alias, cursor, required)
                          for method in sorted(route.methods or ())]
    return found


TARGETS = _targets()


def _url(target: Target, value: str) -> tuple[str, dict[str, str]]:
    path = target.path
    for name, sample in SAMPLES.items():
        path = path.replace("{" + name + "}", value if name == target.name and target.location == "path"
                            else sample)
    query = {name: SAMPLES[name] for name, _ in target.required}
    if target.location == "query":
        query[target.name] = value
    return path, query


async def _client(settings: Settings, engine: Engine) -> Any:
    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 headers=headers) as http:
        yield http


@pytest.fixture
async def client(settings: Settings, engine: Engine) -> Any:
    async for http in _client(settings, engine):
        yield http


@pytest.fixture
async def any_client(settings: Settings, any_engine: Engine) -> Any:
    async for http in _client(settings, any_engine):
        yield http


def test_the_walk_finds_the_routes_of_the_issue() -> None:
    """Today's three 500s are among the parameters walked, and so is every kind of id."""
    walked = {str(t) for t in TARGETS}
    assert {
        "GET /v1/contacts/{contact_id} path:contact_id",
        "GET /v1/deliveries query:cursor",
        "GET /v1/definitions/{name}/diff query:from",
        "GET /v1/definitions/{name}/diff query:to",
        "GET /v1/definitions/{name} query:version",
        "DELETE /v1/contacts/{contact_id}/holds/{hold_id} path:hold_id",
        "DELETE /v1/suppressions/{suppression_id} path:suppression_id",
        "GET /v1/contacts/{contact_id}/timeline query:cursor",
        "GET /v1/inbound query:cursor",
        "GET /v1/runs query:contact_id",
        "GET /v1/deliveries query:contact_id",
        "POST /v1/contacts/{contact_id}/events path:contact_id",
    } <= walked


@pytest.mark.parametrize("target", TARGETS, ids=str)
async def test_out_of_range_is_a_422_naming_the_parameter(
    client: httpx.AsyncClient, target: Target
) -> None:
    for value in [*TOO_BIG, *([] if target.cursor else ["0", "-1"])]:
        path, query = _url(target, value)
        response = await client.request(target.method, path, params=query)
        assert response.status_code == 422, (value, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        pointers = [e["path"] for e in response.json()["errors"]]
        assert f"/{target.location}/{target.name}" in pointers, (value, pointers)


@pytest.mark.parametrize(
    ("path", "body", "pointer"),
    [
        ("/v1/sequences/welcome_sequence/enrollments", {"contact_id": MAX_ID + 1}, "/contact_id"),
        ("/v1/definitions/welcome_sequence/preview", {"contact_id": MAX_ID + 1}, "/contact_id"),
        ("/v1/definitions/welcome_sequence/preview", {"version": MAX_ID + 1, "contact_id": 1},
         "/version"),
        ("/v1/definitions/welcome_sequence/publish", {"version": MAX_ID + 1}, "/version"),
        ("/v1/templates/email/welcome/en/preview", {"contact_id": MAX_ID + 1}, "/contact_id"),
    ],
)
async def test_ids_in_bodies_are_bounded_too(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], pointer: str
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == [pointer]


async def test_the_largest_id_reaches_either_database_safely(any_client: httpx.AsyncClient) -> None:
    """MAX_ID is the range of the id columns on PostgreSQL too (INTEGER, 32 bits): every walked
    parameter at MAX_ID gets past validation and the database answers, with no overflow."""
    answers = set()
    for target in TARGETS:
        path, query = _url(target, str(MAX_ID))
        body = BODIES.get(target.path, {}) if target.method in ("POST", "PUT", "PATCH") else None
        response = await any_client.request(target.method, path, params=query, json=body)
        answers.add((str(target), response.status_code))
    assert [answer for answer in sorted(answers) if answer[1] >= 500] == []
    assert ("GET /v1/contacts/{contact_id} path:contact_id", 404) in answers
    assert ("GET /v1/deliveries query:cursor", 200) in answers
