"""Size limits of request fields: free-form objects (16 KiB as JSON), strings and lists."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from api.app import create_app
from followthrough.contact_fields import serialized_size
from tests.conftest import ADMIN_KEY, make_settings
from tests.support.factories import create_contact

KIB = 1024


def _over(limit: int = 16 * KIB) -> dict[str, Any]:
    """An object of ``limit + 1`` bytes as compact JSON."""
    value = {"note": ""}
    value["note"] = "x" * (limit + 1 - serialized_size(value))
    return value


def _under(limit: int = 16 * KIB) -> dict[str, Any]:
    value = {"note": ""}
    value["note"] = "x" * (limit - serialized_size(value))
    return value


class TestFreeObjects:
    def test_the_helpers_build_what_they_say(self) -> None:
        assert (serialized_size(_over()), serialized_size(_under())) == (16 * KIB + 1, 16 * KIB)

    async def test_contact_attributes_at_the_limit_are_kept(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/contacts", json={"external_id": "x1", "attributes": _under()})
        assert response.status_code == 201

    @pytest.mark.parametrize(("method", "path", "field"), [
        ("POST", "/v1/contacts", "attributes"),
        ("PATCH", "/v1/contacts/{id}", "attributes"),
        ("PUT", "/v1/contacts/by-external-id/ext-1", "attributes"),
        ("POST", "/v1/sequences/welcome/enrollments", "data"),
        ("POST", "/v1/contacts/{id}/events", "data"),
        ("POST", "/v1/templates/email/welcome/en/preview", "data"),
        ("POST", "/v1/definitions/welcome/preview", "data"),
    ])
    async def test_an_object_past_the_limit_is_422_at_its_path(
        self, api: httpx.AsyncClient, method: str, path: str, field: str,
    ) -> None:
        contact = await create_contact(api, phone=None)
        body: dict[str, Any] = {field: _over()}
        if "events" in path:
            body["event"] = "x"
        if "enrollments" in path:
            body["contact_id"] = contact["id"]
        response = await api.request(method, path.format(id=contact["id"]), json=body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [
            {"path": f"/{field}", "message": f"is {16 * KIB + 1} bytes as JSON; the limit is 16384 bytes"}
        ]

    async def test_an_event_in_a_preview_is_bounded_too(self, api: httpx.AsyncClient) -> None:
        event = {"at": "2026-01-01T10:00:00Z", "event": "reply", "data": _over()}
        response = await api.post("/v1/definitions/welcome/preview",
                                  json={"contact": {"email": "a@example.test"}, "events": [event]})
        assert response.status_code == 422
        assert [e["path"] for e in response.json()["errors"]] == ["/events/0/data"]

    async def test_the_limit_is_a_setting(self, tmp_path: Path, engine: Engine) -> None:
        settings = make_settings(tmp_path, max_object_bytes=64 * KIB, max_body_bytes=1024 * KIB)
        app = create_app(settings, engine=engine)
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver", headers=headers) as client:
            kept = await client.post("/v1/contacts", json={"external_id": "x1", "attributes": _over()})
            refused = await client.post("/v1/contacts", json={"external_id": "x2", "attributes": _over(64 * KIB)})
        assert (kept.status_code, refused.status_code) == (201, 422)


class TestStringsAndLists:
    @pytest.mark.parametrize(("field", "value", "limit"), [
        ("name", "n" * 201, 200),
        ("email", "a" * 250 + "@example.test", 254),
        ("phone", "+1" + "5" * 40, 32),
        ("locale", "en-" + "a" * 40, 35),
        ("time_zone", "Europe/" + "x" * 60, 64),
        ("external_id", "e" * 201, 200),
    ])
    async def test_long_contact_strings_are_422(self, api: httpx.AsyncClient, field: str,
                                                value: str, limit: int) -> None:
        response = await api.post("/v1/contacts", json={field: value})
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"path": f"/{field}", "message": f"String should have at most {limit} characters"}]

    async def test_a_long_user_email_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/users", json={"name": "R", "role": "rep",
                                                     "email": "a" * 250 + "@example.test"})
        assert [e["path"] for e in response.json()["errors"]] == ["/email"]

    async def test_a_hold_lists_each_category_at_most_once(self, api: httpx.AsyncClient) -> None:
        contact = await create_contact(api, phone=None)
        response = await api.post(f"/v1/contacts/{contact['id']}/holds",
                                  json={"categories": ["marketing"] * 50})
        assert response.status_code == 422
        assert [e["path"] for e in response.json()["errors"]] == ["/categories"]

    async def test_preview_events_are_at_most_100(self, api: httpx.AsyncClient) -> None:
        events = [{"at": "2026-01-01T10:00:00Z", "event": "reply"}] * 101
        response = await api.post("/v1/definitions/welcome/preview",
                                  json={"contact": {"email": "a@example.test"}, "events": events})
        assert [e["path"] for e in response.json()["errors"]] == ["/events"]


class TestDefinitionDocuments:
    async def test_an_alias_bomb_is_a_fast_422(self, api: httpx.AsyncClient) -> None:
        from tests.domain.test_dsl_loader import billion_laughs

        started = time.monotonic()
        response = await api.post("/v1/definitions", content=billion_laughs(),
                                  headers={"Content-Type": "application/yaml"})
        assert response.status_code == 422
        assert response.json()["detail"] == (
            "The YAML does not parse at line 9, column 14: aliases (*a) are not allowed")
        assert time.monotonic() - started < 2

    async def test_a_python_tag_is_a_422(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/definitions", content="name: !!python/object/apply:os.system ['true']\n",
            headers={"Content-Type": "application/yaml"})
        assert response.status_code == 422
        assert response.json()["detail"] == (
            "The YAML does not parse at line 1, column 7: the tag !!python/object/apply:os.system "
            "is not allowed")


LOOP = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x"


class TestSandboxOverTheApi:
    async def test_a_constant_runaway_template_is_refused_when_saved(
        self, api: httpx.AsyncClient,
    ) -> None:
        started = time.monotonic()
        response = await api.put("/v1/templates/sms/bomb/en", json={"text": "{{ 'a' * 10**9 }}"})
        assert response.status_code == 422
        assert response.json()["errors"] == [{"path": "/text", "message": (
            "repeating 1 characters or items 1000000000 times is too large (at most 262144)")}]
        assert time.monotonic() - started < 2

    async def test_a_runaway_loop_is_a_422_preview_not_a_stuck_worker(
        self, api: httpx.AsyncClient,
    ) -> None:
        saved = await api.put("/v1/templates/sms/spin/en", json={"text": LOOP})
        assert saved.status_code == 201
        started = time.monotonic()
        response = await api.post("/v1/templates/sms/spin/en/preview",
                                  json={"contact": {"phone": "+15555550101"}})
        assert (response.status_code, response.json()["code"]) == (422, "render_failed")
        assert response.json()["detail"] == (
            "sms/spin.en text: line 1: BudgetExceeded: stopped after 1000000 operations "
            "(a runaway loop or expression?)")
        assert time.monotonic() - started < 5

    async def test_a_constant_runaway_condition_is_refused_when_saved(
        self, api: httpx.AsyncClient,
    ) -> None:
        document = {"name": "spin", "kind": "sequence", "steps": [
            {"id": "i", "type": "if", "condition": "9 ** (9 ** 9) > 1", "then": "e"},
            {"id": "e", "type": "exit"}]}
        started = time.monotonic()
        response = await api.post("/v1/definitions", json=document)
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"path": "/steps/0/condition",
             "message": "expression '9 ** (9 ** 9) > 1': the power is too large (more than 4096 bits)"}]
        assert time.monotonic() - started < 2

    async def test_a_definition_sending_a_runaway_template_is_checked_in_bounded_time(
        self, api: httpx.AsyncClient,
    ) -> None:
        await api.put("/v1/templates/sms/spin/en", json={"text": LOOP})
        document = {"name": "spin", "kind": "sequence", "steps": [
            {"id": "s", "type": "send", "channel": "sms", "template": "spin"}]}
        started = time.monotonic()
        response = await api.post("/v1/definitions", json=document)
        # The SMS length check renders the template with sample data; the render stops.
        assert (response.status_code, response.json()["warnings"]) == (201, [])
        assert time.monotonic() - started < 5


LISTS = ["/v1/contacts", "/v1/contacts/{id}/timeline", "/v1/contacts/{id}/holds", "/v1/users",
         "/v1/templates", "/v1/calendars", "/v1/definitions", "/v1/definitions/welcome/versions",
         "/v1/runs", "/v1/deliveries", "/v1/suppressions", "/v1/inbound"]


async def _walk(api: httpx.AsyncClient, path: str, limit: int) -> tuple[list[Any], int]:
    """Every item of a list, following next_cursor; and the number of pages."""
    items: list[Any] = []
    pages, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await api.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        pages += 1
        if (cursor := body["next_cursor"]) is None:
            return items, pages


class TestListsArePaged:
    @pytest.mark.parametrize("path", LISTS)
    async def test_a_page_is_at_most_200(self, api: httpx.AsyncClient, path: str) -> None:
        contact = await create_contact(api, phone=None)
        response = await api.get(path.format(id=contact["id"]), params={"limit": 201})
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"path": "/query/limit", "message": "Input should be less than or equal to 200"}]

    @pytest.mark.parametrize("path", ["/v1/templates", "/v1/calendars", "/v1/definitions"])
    async def test_named_lists_walk_page_by_page(self, api: httpx.AsyncClient, path: str) -> None:
        whole = (await api.get(path, params={"limit": 200})).json()
        assert whole["next_cursor"] is None
        items, pages = await _walk(api, path, 2)
        assert items == whole["items"]
        assert pages == -(-len(items) // 2) and pages > 1

    async def test_versions_walk_page_by_page(self, api: httpx.AsyncClient) -> None:
        for text in ("one", "two", "three"):
            document = {"name": "paged", "kind": "sequence", "description": text,
                        "steps": [{"id": "e", "type": "exit"}]}
            assert (await api.post("/v1/definitions", json=document)).status_code == 201
        items, pages = await _walk(api, "/v1/definitions/paged/versions", 2)
        assert ([v["version"] for v in items], pages) == ([1, 2, 3], 2)

    async def test_holds_walk_page_by_page(self, api: httpx.AsyncClient) -> None:
        contact = await create_contact(api, phone=None)
        made = [(await api.post(f"/v1/contacts/{contact['id']}/holds",
                                json={"categories": ["sales"], "reason": f"r{n}"})).json()["id"]
                for n in range(3)]
        items, pages = await _walk(api, f"/v1/contacts/{contact['id']}/holds", 2)
        assert ([h["id"] for h in items], pages) == (made, 2)

    async def test_users_walk_page_by_page(self, api: httpx.AsyncClient) -> None:
        made = [(await api.post("/v1/users", json={"name": f"U{n}", "role": "rep"})).json()["id"]
                for n in range(3)]
        items, pages = await _walk(api, "/v1/users", 2)
        assert ([u["id"] for u in items], pages) == (made, 2)
