"""The contacts API: create, list, read, update, upsert by external id, timeline."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from api.app import create_app
from followthrough.store import timeline
from followthrough.store.db import make_engine, session_scope, upgrade
from tests.conftest import ADMIN_KEY, make_settings

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
ANNA = {
    "name": "Anna Kovács",
    "email": "Anna@Example.TEST",
    "phone": "+36 30 123 4567",
    "locale": "hu_hu",
    "time_zone": "Europe/Budapest",
    "attributes": {"plan": "pro"},
    "external_id": "crm-1",
    "given_name": "Anna",
    "family_name": "Kovács",
}


def without_times(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("created_at", "updated_at")}


async def create(api: httpx.AsyncClient, **fields: object) -> dict:
    response = await api.post("/v1/contacts", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


async def rep_key(api: httpx.AsyncClient) -> str:
    response = await api.post("/v1/users", json={"name": "Rita Rep", "role": "rep"})
    assert response.status_code == 201, response.text
    return response.json()["api_key"]


class TestAuth:
    async def test_missing_key_is_401_problem(self, api: httpx.AsyncClient) -> None:
        request = api.build_request("GET", "/v1/contacts")
        del request.headers["Authorization"]
        response = await api.send(request)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "detail": "Send 'Authorization: Bearer <API key>'.",
            "code": "unauthorized",
            "errors": [],
        }

    async def test_unknown_key_is_401(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/contacts", headers={"Authorization": "Bearer ft_nope"})
        assert response.status_code == 401
        assert response.json()["detail"] == "The API key is not valid."

    async def test_rep_may_use_contacts(self, api: httpx.AsyncClient) -> None:
        headers = {"Authorization": f"Bearer {await rep_key(api)}"}
        created = await api.post("/v1/contacts", json={"name": "Ivan", "email": "ivan@example.test"},
                                 headers=headers)
        listed = await api.get("/v1/contacts", headers=headers)
        assert created.status_code == 201
        assert [c["name"] for c in listed.json()["items"]] == ["Ivan"]


class TestCreate:
    async def test_a_contact_with_no_address_and_no_external_id_is_a_422(self, api: httpx.AsyncClient) -> None:
        for body in ({}, {"name": "Nobody"}, {"name": "Nobody", "email": None, "phone": None}):
            response = await api.post("/v1/contacts", json=body)
            assert response.status_code == 422, body
            assert response.json()["errors"] == [
                {"path": "", "message": "a contact needs an email, a phone or an external_id"}]
        assert (await api.get("/v1/contacts")).json()["items"] == []
        for body in ({"email": "a@example.test"}, {"phone": "+36301234567"}, {"external_id": "crm-1"}):
            assert (await api.post("/v1/contacts", json=body)).status_code == 201, body

    async def test_normalizes_fields(self, api: httpx.AsyncClient) -> None:
        body = await create(api, **ANNA)
        assert without_times(body) == ANNA | {
            "id": 1, "email": "Anna@example.test", "phone": "+36301234567", "locale": "hu-HU"
        }  # fmt: skip
        assert RFC3339_UTC.match(body["created_at"])
        assert RFC3339_UTC.match(body["updated_at"])

    async def test_defaults_locale_and_zone_from_settings(self, tmp_path: Path) -> None:
        settings = make_settings(tmp_path, default_locale="ru", default_time_zone="Europe/Moscow")
        engine = make_engine(settings.resolved_database_url)
        upgrade(engine)
        transport = httpx.ASGITransport(app=create_app(settings, engine=engine))
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as c:
            body = await create(c, name="Ivan", phone="+7 912 345-67-89")
        engine.dispose()
        assert without_times(body) == {
            "id": 1, "external_id": None, "name": "Ivan", "email": None, "phone": "+79123456789",
            "locale": "ru", "time_zone": "Europe/Moscow", "attributes": {}, "given_name": None,
            "family_name": None,
        }  # fmt: skip

    async def test_every_invalid_field_is_named(self, api: httpx.AsyncClient) -> None:
        fields = {"email": "anna", "phone": "12345", "locale": "xx", "time_zone": "Mars/Base"}
        response = await api.post("/v1/contacts", json=fields | {"attributes": [], "nickname": "A"})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert (body["code"], body["detail"]) == (
            "validation_failed",
            "The request has invalid fields.",
        )
        assert [(e["path"], e["message"]) for e in body["errors"]] == [
            ("/email", "not a valid email address: An email address must have an @-sign."),
            ("/phone", "a phone number must be in international format, starting with '+' and "
                       "the country code (E.164), e.g. +15555550123"),
            ("/locale", "'xx' is not a known BCP 47 locale, e.g. en, ru-RU or hu"),
            ("/time_zone", "'Mars/Base' is not an IANA time zone name, e.g. Europe/Budapest"),
            ("/attributes", "Input should be a valid dictionary"),
            ("/nickname", "Extra inputs are not permitted"),
        ]  # fmt: skip

    async def test_malformed_json_is_400(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/contacts", content=b'{"name": ', headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "malformed"
        assert response.json()["detail"] == "The request body is not valid JSON."

    async def test_duplicate_external_id_is_409(self, api: httpx.AsyncClient) -> None:
        await create(api, name="A", external_id="crm-1")
        response = await api.post("/v1/contacts", json={"name": "B", "external_id": "crm-1"})
        assert response.status_code == 409
        assert response.json()["code"] == "conflict"
        assert response.json()["detail"] == "a contact with external_id 'crm-1' already exists"
        assert len((await api.get("/v1/contacts")).json()["items"]) == 1


class TestNameParts:
    async def test_given_and_family_name_are_kept_apart_from_the_display_name(
        self, api: httpx.AsyncClient
    ) -> None:
        created = await create(api, name="Kovács Anna", given_name="Anna", family_name="Kovács",
                               email="anna@example.test")
        read = (await api.get(f"/v1/contacts/{created['id']}")).json()
        assert (read["name"], read["given_name"], read["family_name"]) == ("Kovács Anna", "Anna", "Kovács")
        patched = await api.patch(f"/v1/contacts/{created['id']}", json={"given_name": "Panna"})
        assert (patched.json()["name"], patched.json()["given_name"]) == ("Kovács Anna", "Panna")

    @pytest.mark.parametrize(("value", "message"), [
        ("", "String should have at least 1 character"),
        ("x" * 101, "String should have at most 100 characters"),
        (7, "Input should be a valid string"),
    ])
    async def test_bounded(self, api: httpx.AsyncClient, value: object, message: str) -> None:
        body = {"email": "anna@example.test", "given_name": value, "family_name": value}
        for response in (await api.post("/v1/contacts", json=body),
                         await api.put("/v1/contacts/by-external-id/crm-9", json=body)):
            assert response.status_code == 422
            assert [(e["path"], e["message"]) for e in response.json()["errors"]] == [
                ("/given_name", message), ("/family_name", message)]


class TestRead:
    async def test_get_by_id(self, api: httpx.AsyncClient) -> None:
        created = await create(api, **ANNA)
        response = await api.get(f"/v1/contacts/{created['id']}")
        assert response.status_code == 200
        assert response.json() == created

    async def test_unknown_id_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/contacts/999")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert response.json()["detail"] == "contact 999 does not exist"

    async def test_pages_with_cursor(self, api: httpx.AsyncClient) -> None:
        for n in range(5):
            await create(api, name=f"c{n}", external_id=f"crm-c{n}")
        seen, cursors, cursor = [], [], None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await api.get("/v1/contacts", params=params)).json()
            seen.append([c["name"] for c in page["items"]])
            cursor = page["next_cursor"]
            cursors.append(cursor)
            if cursor is None:
                break
        assert seen == [["c0", "c1"], ["c2", "c3"], ["c4"]]
        assert cursors == ["2", "4", None]

    async def test_exact_last_page_has_no_cursor(self, api: httpx.AsyncClient) -> None:
        for n in range(2):
            await create(api, name=f"c{n}", external_id=f"crm-c{n}")
        page = (await api.get("/v1/contacts", params={"limit": 2})).json()
        assert (len(page["items"]), page["next_cursor"]) == (2, None)

    @pytest.mark.parametrize(
        ("params", "path", "message"),
        [
            ({"limit": 0}, "/query/limit", "Input should be greater than or equal to 1"),
            ({"limit": 201}, "/query/limit", "Input should be less than or equal to 200"),
            ({"cursor": "abc"}, "/query/cursor", "not a cursor returned by this list"),
        ],
    )
    async def test_bad_paging_is_422(
        self, api: httpx.AsyncClient, params: dict, path: str, message: str
    ) -> None:
        response = await api.get("/v1/contacts", params=params)
        assert response.status_code == 422
        assert response.json()["errors"] == [{"path": path, "message": message}]


class TestUpdate:
    async def test_changes_only_fields_sent(self, api: httpx.AsyncClient) -> None:
        created = await create(api, **ANNA)
        response = await api.patch(f"/v1/contacts/{created['id']}", json={"name": "Anna K."})
        assert response.status_code == 200
        assert without_times(response.json()) == without_times(created) | {"name": "Anna K."}
        assert response.json()["created_at"] == created["created_at"]
        assert response.json()["updated_at"] > created["updated_at"]

    async def test_null_clears_optional_fields(self, api: httpx.AsyncClient) -> None:
        created = await create(api, **ANNA)
        body = {"email": None, "phone": None, "external_id": None, "given_name": None, "family_name": None}
        response = await api.patch(f"/v1/contacts/{created['id']}", json=body)
        assert response.status_code == 200
        assert without_times(response.json()) == without_times(created) | body

    async def test_null_for_required_field_is_422(self, api: httpx.AsyncClient) -> None:
        created = await create(api, **ANNA)
        response = await api.patch(f"/v1/contacts/{created['id']}", json={"locale": None})
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"path": "/locale", "message": "cannot be null; send a value or leave the field out"}
        ]

    async def test_validates_like_create(self, api: httpx.AsyncClient) -> None:
        created = await create(api, **ANNA)
        response = await api.patch(f"/v1/contacts/{created['id']}", json={"time_zone": "Mars/Base"})
        assert response.status_code == 422
        assert [e["path"] for e in response.json()["errors"]] == ["/time_zone"]

    async def test_taken_external_id_is_409(self, api: httpx.AsyncClient) -> None:
        await create(api, name="A", external_id="crm-1")
        second = await create(api, name="B", external_id="crm-2")
        response = await api.patch(f"/v1/contacts/{second['id']}", json={"external_id": "crm-1"})
        assert response.status_code == 409
        assert (await api.get(f"/v1/contacts/{second['id']}")).json()["external_id"] == "crm-2"

    async def test_unknown_id_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.patch("/v1/contacts/42", json={"name": "X"})
        assert response.status_code == 404
        assert response.json()["detail"] == "contact 42 does not exist"


class TestUpsert:
    async def test_creates_then_replaces(self, api: httpx.AsyncClient) -> None:
        url = "/v1/contacts/by-external-id/crm-7"
        first = await api.put(
            url, json={"name": "Ivan", "email": "ivan@example.test", "locale": "ru"}
        )
        second = await api.put(url, json={"name": "Ivan Petrov", "phone": "+7 912 345-67-89"})
        assert (first.status_code, second.status_code) == (201, 200)
        expected = {
            "id": 1, "external_id": "crm-7", "name": "Ivan", "email": "ivan@example.test",
            "phone": None, "locale": "ru", "time_zone": "UTC", "attributes": {},
            "given_name": None, "family_name": None,
        }  # fmt: skip
        assert without_times(first.json()) == expected
        # The body is the whole contact: fields left out go back to their defaults.
        changed = {"name": "Ivan Petrov", "email": None, "phone": "+79123456789", "locale": "en"}
        assert without_times(second.json()) == expected | changed
        assert len((await api.get("/v1/contacts")).json()["items"]) == 1

    async def test_a_crm_sync_carries_the_name_parts(self, api: httpx.AsyncClient) -> None:
        """Russian CRMs often store "Иванова Анна": the parts say which word is the given name."""
        url = "/v1/contacts/by-external-id/crm-8"
        body = {"name": "Иванова Анна", "given_name": "Анна", "family_name": "Иванова", "locale": "ru"}
        first = await api.put(url, json=body)
        assert first.status_code == 201
        assert (first.json()["given_name"], first.json()["family_name"]) == ("Анна", "Иванова")
        # A sync without them resets them, like every field the body leaves out.
        second = await api.put(url, json={"name": "Иванова Анна", "locale": "ru"})
        assert (second.json()["given_name"], second.json()["family_name"]) == (None, None)

    async def test_external_id_comes_from_the_path(self, api: httpx.AsyncClient) -> None:
        response = await api.put("/v1/contacts/by-external-id/crm-7", json={"external_id": "x"})
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"path": "/external_id", "message": "Extra inputs are not permitted"}
        ]


class TestTimeline:
    async def test_newest_first_in_pages(self, api: httpx.AsyncClient, engine: Engine) -> None:
        contact = await create(api, name="Anna", external_id="crm-anna")
        other = await create(api, name="Other", external_id="crm-other")
        start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        with session_scope(engine) as session:
            for n in range(3):
                timeline.record(
                    session, contact_id=contact["id"], kind="message.sent", summary=f"sms {n}",
                    direction="outbound", channel="sms", run_id="run-1",
                    delivery_key=f"run-1:step:{n}", data={"n": n},
                    occurred_at=start + timedelta(minutes=n),
                )  # fmt: skip
            timeline.record(session, contact_id=other["id"], kind="run.started")
        url = f"/v1/contacts/{contact['id']}/timeline"
        first = (await api.get(url, params={"limit": 2})).json()
        second = (await api.get(url, params={"limit": 2, "cursor": first["next_cursor"]})).json()
        assert [e["summary"] for e in first["items"]] == ["sms 2", "sms 1"]
        assert first["next_cursor"] == "2"
        assert second == {"items": [{
            "id": 1, "occurred_at": "2026-03-02T09:00:00.000000Z", "kind": "message.sent",
            "direction": "outbound", "channel": "sms", "run_id": "run-1",
            "delivery_key": "run-1:step:0", "summary": "sms 0", "data": {"n": 0},
        }], "next_cursor": None}  # fmt: skip

    async def test_empty_timeline(self, api: httpx.AsyncClient) -> None:
        contact = await create(api, name="Anna", external_id="crm-anna")
        response = await api.get(f"/v1/contacts/{contact['id']}/timeline")
        assert response.json() == {"items": [], "next_cursor": None}

    async def test_unknown_contact_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/contacts/77/timeline")
        assert response.status_code == 404
        assert response.json()["detail"] == "contact 77 does not exist"
