"""The preferences API: read, partial update, closed vocabularies, the timeline."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine

from followthrough.models.vocab import Category, Channel
from followthrough.settings import Settings
from followthrough.store import preferences
from followthrough.store.db import session_scope
from followthrough.unsubscribe import unsubscribe_url
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


class TestRevokedByContact:
    """A withdrawal that came from the contact is not staff's to undo: 409 with the reason."""

    async def test_unsubscribe_page_then_staff_grant_is_409(
        self, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        cid = (await create_contact(api))["id"]
        page = unsubscribe_url(settings, cid, Channel.EMAIL, Category.MARKETING)
        one_click = await api.post(page.removeprefix(settings.public_base_url),
                                   data={"List-Unsubscribe": "One-Click"})
        assert one_click.status_code == 200
        response = await api.patch(f"/v1/contacts/{cid}/preferences", json={
            "preferred_channel": "sms", "consent": {"email": {"marketing": True}}})
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert (body["code"], body["detail"], body["errors"]) == (
            "revoked_by_contact",
            "The contact withdrew this consent themselves (the unsubscribe page); staff cannot give "
            "it back. Only the contact can: by texting START for SMS, or on the preference page "
            "linked from every message.",
            [{"path": "/consent/email/marketing", "message": "withdrawn by the contact (unsubscribe)"}],
        )
        after = (await api.get(f"/v1/contacts/{cid}/preferences")).json()
        assert (after["preferred_channel"], after["consent"]["email"]["marketing"]) == (None, False)

    @pytest.mark.parametrize(("source", "how"), [
        ("keyword", "an SMS STOP keyword"), ("provider", "the carrier's opt-out")])
    async def test_stop_or_carrier_opt_out_then_staff_grant_is_409(
        self, api: httpx.AsyncClient, engine: Engine, source: str, how: str
    ) -> None:
        cid = (await create_contact(api))["id"]
        with session_scope(engine) as session:
            preferences.revoke(session, cid, Channel.SMS, None, source=source)
        response = await api.patch(f"/v1/contacts/{cid}/preferences",
                                   json={"consent": {"sms": {"service": True, "sales": True}}})
        assert response.status_code == 409
        assert f"({how})" in response.json()["detail"]
        assert [e["path"] for e in response.json()["errors"]] == ["/consent/sms/sales", "/consent/sms/service"]
        consent = (await api.get(f"/v1/contacts/{cid}/preferences")).json()["consent"]["sms"]
        assert consent == dict.fromkeys(("transactional", "service", "sales", "marketing"), False)

    async def test_staff_may_still_withdraw_more(self, api: httpx.AsyncClient, engine: Engine) -> None:
        cid = (await create_contact(api))["id"]
        with session_scope(engine) as session:
            preferences.revoke(session, cid, Channel.SMS, [Category.SALES], source="keyword")
        response = await api.patch(f"/v1/contacts/{cid}/preferences",
                                   json={"consent": {"sms": {"sales": False, "marketing": False}}})
        assert response.status_code == 200
        assert response.json()["consent"]["sms"] == {
            "transactional": True, "service": True, "sales": False, "marketing": False}
