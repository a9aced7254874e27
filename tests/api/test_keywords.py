"""SMS keywords through the signed Twilio webhook: consent, TwiML answer, timeline, signals."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from followthrough.settings import Settings
from followthrough.store.db import session_scope
from followthrough.store.tables import Suppression
from tests.conftest import LiveStack, make_settings
from tests.support.factories import create_contact, enroll, save_definition, welcome_definition
from tests.support.waiting import eventually

PATH = "/v1/webhooks/twilio/sms"
CATEGORIES = ["transactional", "service", "sales", "marketing"]


def _headers(settings: Settings, params: dict[str, str]) -> dict[str, str]:
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(settings.twilio_auth_token).compute_signature(
        settings.public_base_url + PATH, params)
    return {"X-Twilio-Signature": signature}


async def _sms(api: httpx.AsyncClient, settings: Settings, sender: str, body: str, sid: str) -> str | None:
    """Post an inbound SMS; the text of the TwiML <Message> answer, or None for <Response/>."""
    params = {"From": sender, "To": "+15550000000", "Body": body, "MessageSid": "SM" + sid.ljust(32, "0")}
    response = await api.post(PATH, data=params, headers=_headers(settings, params))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.text)
    assert root.tag == "Response"
    messages = root.findall("Message")
    assert len(messages) <= 1
    return messages[0].text if messages else None


async def _consent(api: httpx.AsyncClient, contact_id: int) -> dict[str, dict[str, bool]]:
    response = await api.get(f"/v1/contacts/{contact_id}/preferences")
    assert response.status_code == 200, response.text
    return response.json()["consent"]


async def _timeline(api: httpx.AsyncClient, contact_id: int) -> list[dict[str, Any]]:
    return (await api.get(f"/v1/contacts/{contact_id}/timeline")).json()["items"]


class TestStop:
    async def test_russian_stop_revokes_sms_in_every_category_and_answers_in_russian(
        self, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        contact = await create_contact(api, phone="+15555550301", locale="ru", name="Анна Тест")
        answer = await _sms(api, settings, "+15555550301", "стоп", "a1")
        assert answer == ("Followthrough: вы отписаны, SMS от нас больше не придут. "
                          "Чтобы подписаться снова, ответьте СТАРТ.")
        consent = await _consent(api, contact["id"])
        assert consent["sms"] == dict.fromkeys(CATEGORIES, False)
        # An SMS keyword speaks for SMS only: voice and email keep their consent.
        assert consent["voice"] == dict.fromkeys(CATEGORIES, True)
        assert consent["email"] == dict.fromkeys(CATEGORIES, True)
        timeline = await _timeline(api, contact["id"])
        assert [(e["kind"], e["direction"], e["channel"], e["summary"]) for e in reversed(timeline)] == [
            ("consent.revoked", "system", "sms",
             "sms consent revoked for transactional, service, sales, marketing (keyword)"),
            ("inbound.keyword", "inbound", "sms", "стоп"),
            ("keyword.reply", "outbound", "sms", answer),
        ]
        assert timeline[1]["data"]["keyword"] == "stop"
        assert timeline[0]["data"]["locale"] == "ru"

    async def test_a_retried_stop_changes_nothing_more_and_answers_again(
        self, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        contact = await create_contact(api, phone="+15555550302", locale="en")
        first = await _sms(api, settings, "+15555550302", "STOP", "a2")
        second = await _sms(api, settings, "+15555550302", "STOP", "a2")
        assert first == second and first is not None and first.startswith("Followthrough: you are unsubscribed")
        assert len(await _timeline(api, contact["id"])) == 3

    async def test_unknown_sender_is_suppressed_and_answered_in_the_keywords_language(
        self, api: httpx.AsyncClient, settings: Settings, engine: Engine
    ) -> None:
        answer = await _sms(api, settings, "+15555550399", "LEIRATKOZÁS!", "a3")
        assert answer is not None and answer.startswith("Followthrough: leiratkozott")
        with session_scope(engine) as session:
            rows = session.exec(select(Suppression)).all()
        assert [(r.channel, r.address, r.source) for r in rows] == [("sms", "+15555550399", "keyword")]
        # START from the same number lifts the keyword suppression again.
        assert (await _sms(api, settings, "+15555550399", "FELIRATKOZÁS", "a4") or "").startswith(
            "Followthrough: újra feliratkozott")
        with session_scope(engine) as session:
            assert session.exec(select(Suppression)).all() == []

    async def test_a_sentence_with_stop_is_a_reply(self, api: httpx.AsyncClient, settings: Settings) -> None:
        contact = await create_contact(api, phone="+15555550303")
        assert await _sms(api, settings, "+15555550303", "please stop calling me at 9", "a5") is None
        assert [e["kind"] for e in await _timeline(api, contact["id"])] == ["inbound.sms"]
        assert (await _consent(api, contact["id"]))["sms"] == dict.fromkeys(CATEGORIES, True)


class TestSharedNumber:
    """A family or an office shares a number: its STOP speaks for every contact with it."""

    async def test_stop_revokes_sms_for_every_contact_and_suppresses_the_number(
        self, api: httpx.AsyncClient, settings: Settings, engine: Engine
    ) -> None:
        anna = await create_contact(api, phone="+15555550310", name="Anna")
        boris = await create_contact(api, phone="+15555550310", name="Boris", email="b@example.test")
        other = await create_contact(api, phone="+15555550311", name="Other")
        await _sms(api, settings, "+15555550310", "STOP", "d1")
        for contact in (anna, boris):
            consent = await _consent(api, contact["id"])
            assert consent["sms"] == dict.fromkeys(CATEGORIES, False)
            assert consent["email"] == dict.fromkeys(CATEGORIES, True)
        assert (await _consent(api, other["id"]))["sms"] == dict.fromkeys(CATEGORIES, True)
        # The message itself is Anna's (the first match); Boris gets the consent change only.
        assert [e["kind"] for e in reversed(await _timeline(api, anna["id"]))] == [
            "consent.revoked", "inbound.keyword", "keyword.reply"]
        assert [(e["kind"], e["data"]["source"]) for e in await _timeline(api, boris["id"])] == [
            ("consent.revoked", "keyword")]
        with session_scope(engine) as session:
            rows = session.exec(select(Suppression)).all()
        assert [(r.channel, r.address, r.reason, r.source) for r in rows] == [
            ("sms", "+15555550310", "SMS keyword stop", "keyword")]
        # The number's STOP is Boris's own revocation too: staff cannot give it back.
        refused = await api.patch(f"/v1/contacts/{boris['id']}/preferences",
                                  json={"consent": {"sms": {"service": True}}})
        assert (refused.status_code, refused.json()["code"]) == (409, "revoked_by_contact")

    async def test_start_grants_sms_back_to_every_contact_and_lifts_the_suppression(
        self, api: httpx.AsyncClient, settings: Settings, engine: Engine
    ) -> None:
        anna = await create_contact(api, phone="+15555550312", name="Anna")
        boris = await create_contact(api, phone="+15555550312", name="Boris")
        await _sms(api, settings, "+15555550312", "STOP", "d2")
        await _sms(api, settings, "+15555550312", "START", "d3")
        for contact in (anna, boris):
            assert (await _consent(api, contact["id"]))["sms"] == dict.fromkeys(CATEGORIES, True)
        with session_scope(engine) as session:
            assert session.exec(select(Suppression)).all() == []


class TestStart:
    async def test_start_grants_sms_back(self, api: httpx.AsyncClient, settings: Settings) -> None:
        contact = await create_contact(api, phone="+15555550304", locale="ru")
        await _sms(api, settings, "+15555550304", "СТОП", "b1")
        answer = await _sms(api, settings, "+15555550304", "Старт", "b2")
        assert answer == "Followthrough: вы снова подписаны на SMS. Отписаться: СТОП, помощь: ПОМОЩЬ."
        assert (await _consent(api, contact["id"]))["sms"] == dict.fromkeys(CATEGORIES, True)
        kinds = [e["kind"] for e in reversed(await _timeline(api, contact["id"]))]
        assert kinds == ["consent.revoked", "inbound.keyword", "keyword.reply",
                         "consent.granted", "inbound.keyword", "keyword.reply"]


class TestHelp:
    async def test_help_answers_in_hungarian_and_changes_nothing(
        self, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        contact = await create_contact(api, phone="+15555550305", locale="hu-HU")
        answer = await _sms(api, settings, "+15555550305", "help", "c1")
        assert answer == ("Ez a(z) Followthrough: fiókjáról és szolgáltatásainkról írunk. "
                          "Leiratkozás: válaszoljon LEIRATKOZÁS.")
        assert (await _consent(api, contact["id"]))["sms"] == dict.fromkeys(CATEGORIES, True)
        timeline = await _timeline(api, contact["id"])
        assert [(e["kind"], e["data"].get("keyword")) for e in reversed(timeline)] == [
            ("inbound.keyword", "help"), ("keyword.reply", "help")]


class TestBrand:
    """Keyword answers have no enrollment data: FT_BRAND_NAME names the sender."""

    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return make_settings(tmp_path, brand_name="Kovács Bolt")

    async def test_the_answer_is_signed_with_the_brand(self, api: httpx.AsyncClient, settings: Settings) -> None:
        await create_contact(api, phone="+15555550306", locale="hu")
        answer = await _sms(api, settings, "+15555550306", "STOP", "e1")
        assert answer == ("Kovács Bolt: leiratkozott, több SMS-t nem küldünk. "
                          "Újra feliratkozás: válaszoljon FELIRATKOZÁS.")


class TestSignals:
    async def _signal_kinds(self, live: LiveStack, workflow_id: str) -> list[str]:
        history = [e async for e in live.temporal.get_workflow_handle(workflow_id).fetch_history_events()]
        signalled = [e.workflow_execution_signaled_event_attributes for e in history
                     if e.HasField("workflow_execution_signaled_event_attributes")]
        return [(await live.temporal.data_converter.decode([a.input.payloads[0]]))[0].get("kind")
                for a in signalled]

    async def test_stop_is_not_a_reply_an_email_sequence_goes_on(self, live: LiveStack) -> None:
        await save_definition(live.api, welcome_definition("kw_seq", wait="PT1H"))  # stop_on: [reply]
        contact = await create_contact(live.api, email="kw@example.test", phone="+15555550306")
        run = (await enroll(live.api, "kw_seq", contact["id"])).json()
        await _sms(live.api, live.settings, "+15555550306", "STOP", "d1")

        async def signalled() -> list[str] | None:
            return await self._signal_kinds(live, run["workflow_id"]) or None

        assert await eventually(signalled) == ["stop"]
        body = (await live.api.get(f"/v1/runs/{run['run_id']}")).json()
        assert (body["status"], body["reason"]) == ("running", None)
        assert (await _consent(live.api, contact["id"]))["sms"] == dict.fromkeys(CATEGORIES, False)

    async def test_stop_ends_a_run_that_stops_on_stop(self, live: LiveStack) -> None:
        await save_definition(live.api, welcome_definition("kw_stop", wait="PT1H", stop_on=["stop"]))
        contact = await create_contact(live.api, email="kw2@example.test", phone="+15555550307")
        run = (await enroll(live.api, "kw_stop", contact["id"])).json()
        await _sms(live.api, live.settings, "+15555550307", "STOP", "d2")

        async def ended() -> dict[str, Any] | None:
            body = (await live.api.get(f"/v1/runs/{run['run_id']}")).json()
            return body if body["status"] != "running" else None

        stopped = await eventually(ended)
        assert (stopped["status"], stopped["reason"]) == ("stopped", "stop (sms)")
        assert await self._signal_kinds(live, run["workflow_id"]) == ["stop"]
