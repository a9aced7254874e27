"""The OpenAPI documents every error as the problem the handlers send."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from followthrough.settings import Settings

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
PUBLIC = {"/healthz", "/v1/definitions/schema", "/v1/webhooks/twilio/sms",
          "/v1/webhooks/twilio/status", "/u/{token}", "/a/{token}"}
#: Pages a person reads, on purpose not problems: a broken unsubscribe link, and an action link
#: that is forged (404), refused by its subject (409), expired or used (410).
PAGES = {("GET", "/u/{token}", "404")} | {(method, "/a/{token}", status) for method in ("GET", "POST")
                                          for status in ("404", "409", "410")}


@pytest.fixture
def openapi(settings: Settings) -> dict[str, Any]:
    return create_app(settings).openapi()


def _operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in openapi["paths"].items()
            for method, op in ops.items()]


def test_every_error_is_a_problem(openapi: dict[str, Any]) -> None:
    not_problems = [
        (method, path, status)
        for method, path, op in _operations(openapi)
        for status, response in op["responses"].items()
        if status[0] in "45" and response.get("content") != PROBLEM
        # On purpose: the health body, and the pages a person reads.
        and (method, path, status) not in {("GET", "/healthz", "503"), *PAGES}
    ]
    assert not_problems == []
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    assert openapi["components"]["schemas"]["Problem"]["required"] == [
        "type", "title", "status", "detail", "code", "errors"]


def test_authenticated_routes_document_every_refusal(openapi: dict[str, Any]) -> None:
    missing = {}
    for method, path, op in _operations(openapi):
        if path in PUBLIC:
            continue
        expected = {"401", "403", "413", "415", "422", "429", "503"}
        if "{" in path:
            expected.add("404")
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            expected |= {"400", "409"}
        if gaps := expected - set(op["responses"]):
            missing[f"{method} {path}"] = sorted(gaps)
        if op.get("security") != [{"bearer": []}]:
            missing[f"{method} {path}"] = ["security: bearer"]
    assert missing == {}
    assert openapi["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_public_routes_document_what_they_answer(openapi: dict[str, Any]) -> None:
    statuses = {f"{method} {path}": sorted(op["responses"])
                for method, path, op in _operations(openapi) if path in PUBLIC}
    assert statuses == {
        "GET /healthz": ["200", "503"],
        "GET /v1/definitions/schema": ["200", "422"],  # ?kind= one of the kinds
        "POST /v1/webhooks/twilio/sms": ["200", "400", "403", "413", "415", "422", "429", "503"],
        "POST /v1/webhooks/twilio/status": ["200", "400", "403", "413", "415", "422", "429"],
        "GET /u/{token}": ["200", "404", "422"],
        "POST /u/{token}": ["200", "400", "404", "413", "415", "422", "429"],
        "GET /a/{token}": ["200", "404", "409", "410", "422"],
        "POST /a/{token}": ["200", "400", "404", "409", "410", "413", "415", "422", "429", "503"],
    }
    twiml = openapi["paths"]["/v1/webhooks/twilio/sms"]["post"]["responses"]["200"]["content"]
    assert twiml == {"application/xml": {"schema": {"type": "string"}}}


async def test_a_database_busy_past_its_timeout_is_a_503_to_try_again(settings: Settings, engine: Any) -> None:
    """Under a burst of writers SQLite answers "database is locked" once a write has waited its
    busy timeout: the client gets a 503 with Retry-After (the transaction was rolled back), never
    a 500, and the same request succeeds once the lock is free."""
    import sqlite3

    import httpx

    from followthrough.store.db import make_engine
    from tests.conftest import ADMIN_KEY

    impatient = make_engine(settings.resolved_database_url, busy_timeout=0.2)
    app = create_app(settings, engine=impatient)
    body = {"name": "Anna Petrova", "email": "anna@example.com"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                                 headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        holder = sqlite3.connect(str(engine.url.database), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        try:
            busy = await client.post("/v1/contacts", json=body)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        again = await client.post("/v1/contacts", json=body)
    assert (busy.status_code, busy.headers.get("retry-after"), busy.json()["code"]) == (503, "1", "unavailable")
    assert "try the request again" in busy.json()["detail"]
    assert again.status_code == 201, again.text
