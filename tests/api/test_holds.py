"""The holds API: place (201), list, lift (204), validation, the timeline."""

from __future__ import annotations

import httpx

from tests.support.factories import create_contact

UNTIL = "2099-01-02T03:04:05Z"


async def place(api: httpx.AsyncClient, cid: int, **body: object) -> httpx.Response:
    return await api.post(f"/v1/contacts/{cid}/holds", json=body)


class TestCreate:
    async def test_places_a_hold(self, api: httpx.AsyncClient) -> None:
        cid = (await create_contact(api))["id"]
        response = await place(api, cid, categories=["sales", "marketing"], until=UNTIL, reason="complaint")
        assert response.status_code == 201
        body = response.json()
        assert {k: v for k, v in body.items() if k != "created_at"} == {
            "id": 1, "contact_id": cid, "categories": ["sales", "marketing"],
            "until": "2099-01-02T03:04:05.000000Z", "reason": "complaint", "lifted_at": None}
        timeline = (await api.get(f"/v1/contacts/{cid}/timeline")).json()["items"]
        assert [(e["kind"], e["summary"]) for e in timeline] == [
            ("hold.placed", "hold on sales, marketing until 2099-01-02T03:04:05+00:00: complaint")]

    async def test_invalid_input_is_422_with_paths(self, api: httpx.AsyncClient) -> None:
        cid = (await create_contact(api))["id"]
        response = await place(api, cid, categories=[], until="2000-01-01T00:00:00Z")
        assert [(e["path"], e["message"]) for e in response.json()["errors"]] == [
            ("/categories", "List should have at least 1 item after validation, not 0"),
            ("/until", "must be in the future"),
        ]
        response = await place(api, cid, categories=["sales", "gossip"])
        assert [e["path"] for e in response.json()["errors"]] == ["/categories/1"]

    async def test_unknown_contact_is_404(self, api: httpx.AsyncClient) -> None:
        response = await place(api, 42, categories=["sales"])
        assert response.status_code == 404


class TestListAndLift:
    async def test_lift_marks_the_hold_and_is_idempotent(self, api: httpx.AsyncClient) -> None:
        cid = (await create_contact(api))["id"]
        hid = (await place(api, cid, categories=["sales"])).json()["id"]
        assert (await api.delete(f"/v1/contacts/{cid}/holds/{hid}")).status_code == 204
        assert (await api.delete(f"/v1/contacts/{cid}/holds/{hid}")).status_code == 204
        listed = (await api.get(f"/v1/contacts/{cid}/holds")).json()["items"]
        assert [(h["id"], h["until"], h["lifted_at"] is not None) for h in listed] == [(hid, None, True)]
        timeline = (await api.get(f"/v1/contacts/{cid}/timeline")).json()["items"]
        assert [e["kind"] for e in timeline] == ["hold.lifted", "hold.placed"]

    async def test_another_contacts_hold_is_404(self, api: httpx.AsyncClient) -> None:
        cid = (await create_contact(api))["id"]
        other = (await create_contact(api))["id"]
        hid = (await place(api, cid, categories=["sales"])).json()["id"]
        response = await api.delete(f"/v1/contacts/{other}/holds/{hid}")
        assert (response.status_code, response.json()["detail"]) == (
            404, f"hold {hid} does not exist for contact {other}")
