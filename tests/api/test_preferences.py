"""The preferences API: read, partial update, closed vocabularies, the timeline."""

from __future__ import annotations

import httpx

from tests.support.factories import create_contact

ALL_GRANTED = {ch: {"transactional": True, "service": True, "sales": True, "marketing": True}
               for ch in ("email", "sms", "voice")}


class TestGet:
    async def test_defaults(self, api: httpx.AsyncClient) -> None:
        contact = await create_contact(api)
        response = await api.get(f"/v1/contacts/{contact['id']}/preferences")
        assert response.status_code == 200
        assert response.json() == {"preferred_channel": None, "paused_until": None, "consent": ALL_GRANTED}

    async def test_unknown_contact_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/contacts/99/preferences")
        assert (response.status_code, response.json()["detail"]) == (404, "contact 99 does not exist")


class TestPatch:
    async def test_changes_only_what_is_sent(self, api: httpx.AsyncClient) -> None:
        cid = (await create_contact(api))["id"]
        first = await api.patch(f"/v1/contacts/{cid}/preferences", json={
            "preferred_channel": "sms", "paused_until": "2026-04-01T11:30:00+02:00"})
        second = await api.patch(f"/v1/contacts/{cid}/preferences",
                                 json={"consent": {"sms": {"marketing": False}}})
        assert first.status_code == 200
        assert second.json() == {
            "preferred_channel": "sms", "paused_until": "2026-04-01T09:30:00.000000Z",
            "consent": ALL_GRANTED | {"sms": ALL_GRANTED["sms"] | {"marketing": False}},
        }

    async def test_null_clears_the_pause_and_channel(self, api: httpx.AsyncClient) -> None:
        cid = (await create_contact(api))["id"]
        await api.patch(f"/v1/contacts/{cid}/preferences",
                        json={"preferred_channel": "voice", "paused_until": "2026-04-01T00:00:00Z"})
        response = await api.patch(f"/v1/contacts/{cid}/preferences",
                                   json={"preferred_channel": None, "paused_until": None})
        assert response.json() == {"preferred_channel": None, "paused_until": None, "consent": ALL_GRANTED}

    async def test_consent_change_is_on_the_timeline(self, api: httpx.AsyncClient) -> None:
        cid = (await create_contact(api))["id"]
        await api.patch(f"/v1/contacts/{cid}/preferences", json={"consent": {"email": {"sales": False}}})
        items = (await api.get(f"/v1/contacts/{cid}/timeline")).json()["items"]
        assert [(i["kind"], i["channel"], i["summary"], i["data"]) for i in items] == [(
            "consent.revoked", "email", "email consent revoked for sales (api)",
            {"channel": "email", "categories": ["sales"], "source": "api"},
        )]

    async def test_unknown_words_are_422_with_paths(self, api: httpx.AsyncClient) -> None:
        cid = (await create_contact(api))["id"]
        response = await api.patch(f"/v1/contacts/{cid}/preferences", json={
            "preferred_channel": "fax", "consent": {"pigeon": {"sales": False}, "sms": {"spam": True}},
            "colour": "red",
        })
        assert response.status_code == 422
        assert [e["path"] for e in response.json()["errors"]] == [
            "/preferred_channel", "/consent/pigeon/[key]", "/consent/sms/spam/[key]", "/colour",
        ]

    async def test_null_consent_is_422(self, api: httpx.AsyncClient) -> None:
        cid = (await create_contact(api))["id"]
        response = await api.patch(f"/v1/contacts/{cid}/preferences", json={"consent": None})
        assert response.json()["errors"] == [
            {"path": "/consent", "message": "cannot be null; send answers or leave the field out"}]
