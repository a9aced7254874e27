"""The suppressions API: managers only, add (idempotent), list with filter and pages, remove."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine

from followthrough.models.vocab import Channel
from followthrough.store import suppressions
from followthrough.store.db import session_scope


async def key_for(api: httpx.AsyncClient, role: str) -> dict[str, str]:
    response = await api.post("/v1/users", json={"name": f"A {role}", "role": role})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['api_key']}"}


async def add(api: httpx.AsyncClient, channel: str, address: str, reason: str = "") -> httpx.Response:
    return await api.post("/v1/suppressions", json={"channel": channel, "address": address, "reason": reason})


class TestAuth:
    async def test_rep_is_forbidden(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/suppressions", headers=await key_for(api, "rep"))
        assert (response.status_code, response.json()["code"]) == (403, "forbidden")

    async def test_manager_may_add(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/suppressions", headers=await key_for(api, "manager"),
                                  json={"channel": "sms", "address": "+1 555 555 0101"})
        assert response.status_code == 201


class TestAdd:
    async def test_created_then_existing(self, api: httpx.AsyncClient) -> None:
        first = await add(api, "email", "Anna@Example.TEST", "asked by phone")
        second = await add(api, "email", "anna@example.test", "again")
        assert first.status_code == 201
        body = first.json()
        assert {k: v for k, v in body.items() if k != "created_at"} == {
            "id": 1, "channel": "email", "address": "anna@example.test", "reason": "asked by phone",
            "source": "api"}
        assert (second.status_code, second.json()) == (200, body)

    async def test_bad_address_for_the_channel_is_422_at_its_path(self, api: httpx.AsyncClient) -> None:
        response = await add(api, "sms", "anna@example.test")
        assert response.status_code == 422
        assert [e["path"] for e in response.json()["errors"]] == ["/address"]

    async def test_unknown_channel_is_422(self, api: httpx.AsyncClient) -> None:
        response = await add(api, "fax", "+15555550101")
        assert [e["path"] for e in response.json()["errors"]] == ["/channel"]


class TestList:
    async def test_filter_and_pages(self, api: httpx.AsyncClient) -> None:
        for number in ("+15555550101", "+15555550102", "+15555550103"):
            await add(api, "sms", number)
        await add(api, "email", "anna@example.test")
        page = (await api.get("/v1/suppressions", params={"channel": "sms", "limit": 2})).json()
        assert [i["address"] for i in page["items"]] == ["+15555550103", "+15555550102"]
        assert page["next_cursor"] == "2"
        rest = (await api.get("/v1/suppressions", params={"channel": "sms", "cursor": "2"})).json()
        assert (rest["items"][0]["address"], rest["next_cursor"]) == ("+15555550101", None)
        assert len(rest["items"]) == 1


class TestDelete:
    async def test_removes_then_404(self, api: httpx.AsyncClient) -> None:
        sid = (await add(api, "voice", "+15555550101")).json()["id"]
        assert (await api.delete(f"/v1/suppressions/{sid}")).status_code == 204
        assert (await api.get("/v1/suppressions")).json()["items"] == []
        again = await api.delete(f"/v1/suppressions/{sid}")
        assert (again.status_code, again.json()["detail"]) == (404, f"suppression {sid} does not exist")


class TestTheContactsOwnOptOut:
    async def test_a_stop_suppression_cannot_be_deleted_by_staff(
        self, api: httpx.AsyncClient, engine: Engine
    ) -> None:
        with session_scope(engine) as session:
            row, _ = suppressions.add(session, Channel.SMS, "+15555550104", reason="SMS keyword stop",
                                      source="keyword")
            sid = row.id
        response = await api.delete(f"/v1/suppressions/{sid}")
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert (response.json()["code"], response.json()["errors"]) == (
            "revoked_by_contact", [{"path": "/source", "message": "opted out by the contact (keyword)"}])
        assert [i["id"] for i in (await api.get("/v1/suppressions")).json()["items"]] == [sid]
