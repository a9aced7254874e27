"""POST /v1/definitions/{name}/preview: the simulated timeline, rendered, with nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from channels.outbox import OutboxHandle
from followthrough.calendar import BUILTIN_CALENDARS, add_business_time
from followthrough.settings import Settings
from followthrough.store.db import session_scope
from followthrough.store.tables import Contact, Delivery, Run, TimelineEntry
from tests.conftest import ADMIN_KEY
from tests.support.factories import create_contact, save_definition

START = datetime(2024, 6, 5, 8, tzinfo=UTC)  # a Wednesday: 11:00 in Moscow, 10:00 in Budapest
ANNA_RU = {"name": "Анна Иванова", "email": "anna@example.test", "phone": "+79161234567",
           "locale": "ru", "time_zone": "Europe/Moscow"}
EMAIL = {"type": "send", "channel": "email", "template": "welcome"}
SMS = {"type": "send", "channel": "sms", "template": "welcome_followup"}
VOICE = {"type": "send", "channel": "voice", "template": "welcome_call"}


def document(name: str, *steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"name": name, "kind": "sequence", "category": "service", "locales": ["en", "ru", "hu"],
            "steps": list(steps), **top}


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


async def preview(api: httpx.AsyncClient, name: str, **body: Any) -> dict[str, Any]:
    response = await api.post(f"/v1/definitions/{name}/preview", json=body)
    assert response.status_code == 200, response.text
    return response.json()


class TestRussianContact:
    async def test_cyrillic_messages_ucs2_sms_and_planned_times(self, api: httpx.AsyncClient) -> None:
        await save_definition(api, document(
            "onboarding_ru", {"id": "mail", **EMAIL}, {"id": "pause", "type": "wait", "duration": "PT2H"},
            {"id": "text", **SMS},
            {"id": "office", "type": "wait", "business": {"duration": "PT4H", "calendar": "budapest_office"}},
            {"id": "call", **VOICE},
        ))
        anna = await create_contact(api, **ANNA_RU)
        body = await preview(api, "onboarding_ru", contact_id=anna["id"], start=z(START))

        office_due = add_business_time(BUILTIN_CALENDARS["budapest_office"], START + timedelta(hours=2),
                                       timedelta(hours=4))
        assert office_due == datetime(2024, 6, 5, 15, tzinfo=UTC)  # 10-12, 13-15 Budapest; 15:00 local
        assert [(s["step_id"], s["type"], s["state"], s["at"], s["due_at"]) for s in body["steps"]] == [
            ("mail", "send", "sent", z(START), None),
            ("pause", "wait", "done", z(START), z(START + timedelta(hours=2))),
            ("text", "send", "sent", z(START + timedelta(hours=2)), None),
            ("office", "wait", "done", z(START + timedelta(hours=2)), z(office_due)),
            ("call", "send", "sent", z(office_due), None),
        ]
        assert body["end"] == {"status": "completed", "reason": "end_of_sequence", "at": z(office_due),
                               "step_id": None}
        assert (body["definition"], body["version"], body["contact"]["id"]) == ("onboarding_ru", 1, anna["id"])
        mail, sms, call = (body["steps"][i]["message"] for i in (0, 2, 4))
        assert (mail["subject"], mail["locale_used"], mail["to"]) == (
            "Добро пожаловать в Followthrough!", "ru", "anna@example.test")
        assert mail["text"].startswith("Здравствуйте, Анна Иванова!") and "lang=\"ru\"" in mail["html"]
        text = "Followthrough: Анна, спасибо за регистрацию! Скоро мы вам позвоним."
        assert (sms["text"], sms["to"]) == (text, "+79161234567")
        assert sms["sms"] == {"encoding": "UCS-2", "characters": len(text), "segments": 1}
        assert call["text"].startswith("Здравствуйте, Анна Иванова! Вас приветствует Followthrough.")
        assert (call["sms"], body["warnings"]) == (None, [])

    async def test_a_long_cyrillic_sms_counts_67_units_per_segment(self, api: httpx.AsyncClient) -> None:
        long_text = "Ж" * 150  # UCS-2: more than 2 x 67, at most 3 x 67
        response = await api.put("/v1/templates/sms/long_note/ru", json={"text": long_text})
        assert response.status_code == 201, response.text
        await api.put("/v1/templates/sms/long_note/en", json={"text": "x"})
        await save_definition(api, document("long_sms", {"id": "note", "type": "send", "channel": "sms",
                                                         "template": "long_note"}, locales=["en", "ru"]))
        body = await preview(api, "long_sms", contact={**ANNA_RU}, start=z(START))
        assert body["steps"][0]["message"]["sms"] == {"encoding": "UCS-2", "characters": 150, "segments": 3}


class TestSampleContact:
    async def test_sample_fields_render_in_their_locale_and_missing_addresses_skip(
        self, api: httpx.AsyncClient
    ) -> None:
        await save_definition(api, document("sample_seq", {"id": "mail", **EMAIL}, {"id": "text", **SMS}))
        sample = {"name": "Kovács Éva", "email": "eva@example.test", "locale": "hu",
                  "time_zone": "Europe/Budapest"}
        body = await preview(api, "sample_seq", contact=sample, start=z(START))
        mail, text = body["steps"]
        assert (mail["state"], mail["message"]["locale_used"], mail["message"]["to"]) == (
            "sent", "hu", "eva@example.test")
        assert "Kovács Éva" in mail["message"]["text"]
        assert (text["state"], text["reason"], text["message"]) == ("skipped", "no_address", None)
        assert body["contact"] == {"id": None, "name": "Kovács Éva", "email": "eva@example.test",
                                   "phone": None, "locale": "hu", "time_zone": "Europe/Budapest",
                                   "attributes": {}}


class TestPolicy:
    async def test_quiet_hours_move_an_sms_to_nine_local(self, api: httpx.AsyncClient) -> None:
        await save_definition(api, document("late_sms", {"id": "text", **SMS}))
        late = datetime(2024, 6, 5, 20, 30, tzinfo=UTC)  # 22:30 in Budapest: quiet until 09:00
        morning = datetime(2024, 6, 6, 7, tzinfo=UTC)  # 09:00 in Budapest (UTC+2)
        sample = {"name": "Anna", "phone": "+36201234567", "locale": "en", "time_zone": "Europe/Budapest"}
        body = await preview(api, "late_sms", contact=sample, start=z(late))
        step = body["steps"][0]
        assert (step["state"], step["at"], step["started_at"], step["finished_at"]) == (
            "sent", z(morning), z(late), z(morning))
        assert step["deferrals"] == [{"at": z(late), "until": z(morning), "reason": "quiet_hours"}]
        assert body["end"]["at"] == z(morning)

        unchecked = await preview(api, "late_sms", contact=sample, start=z(late), respect_policy=False)
        assert (unchecked["steps"][0]["at"], unchecked["steps"][0]["reason"]) == (z(late), "policy not applied")

    async def test_a_simulated_reply_stops_the_run_early(self, api: httpx.AsyncClient) -> None:
        await save_definition(api, document(
            "stop_on_reply", {"id": "mail", **EMAIL}, {"id": "pause", "type": "wait", "duration": "P1D"},
            {"id": "text", **SMS}, stop_on=["reply"],
        ))
        reply = START + timedelta(hours=3)
        body = await preview(api, "stop_on_reply", contact={**ANNA_RU}, start=z(START),
                             events=[{"at": z(reply), "event": "reply", "channel": "sms", "data": {"text": "да"}}])
        assert [(s["step_id"], s["state"], s["reason"], s["finished_at"]) for s in body["steps"]] == [
            ("mail", "sent", None, z(START)), ("pause", "done", "stopped", z(reply))]
        assert body["end"] == {"status": "stopped", "reason": "reply (sms)", "at": z(reply), "step_id": None}


class TestVersions:
    async def test_a_version_can_be_chosen(self, api: httpx.AsyncClient) -> None:
        await save_definition(api, document("versioned", {"id": "first", **EMAIL}))
        await save_definition(api, document("versioned", {"id": "second", **EMAIL}))
        newest = await preview(api, "versioned", contact={**ANNA_RU}, start=z(START))
        older = await preview(api, "versioned", contact={**ANNA_RU}, start=z(START), version=1)
        assert (newest["version"], newest["steps"][0]["step_id"]) == (2, "second")
        assert (older["version"], older["steps"][0]["step_id"]) == (1, "first")


class TestErrors:
    async def test_unknown_definition_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/definitions/nothing_here/preview", json={"contact": {}})
        assert (response.status_code, response.json()["code"]) == (404, "not_found")

    async def test_unknown_contact_is_404(self, api: httpx.AsyncClient) -> None:
        await save_definition(api, document("for_nobody", {"id": "mail", **EMAIL}))
        response = await api.post("/v1/definitions/for_nobody/preview", json={"contact_id": 999999})
        assert (response.status_code, response.json()["detail"]) == (404, "contact 999999 does not exist")

    @pytest.mark.parametrize(("body", "paths"), [
        ({"contact_id": "x", "start": "tomorrow"}, ["/contact_id", "/start"]),
        ({"contact": {"email": "not-an-address", "time_zone": "Mars/Olympus"}},
         ["/contact/email", "/contact/time_zone"]),
        ({"contact": {}, "events": [{"at": "2024-06-05T08:00:00", "event": ""}]},
         ["/events/0/at", "/events/0/event"]),
        ({"contact": {}, "version": 0, "surprise": 1}, ["/version", "/surprise"]),
        ({}, ["/contact_id", "/contact"]),
        ({"contact_id": 1, "contact": {}}, ["/contact_id", "/contact"]),
    ])
    async def test_a_bad_body_is_422_with_every_path(
        self, api: httpx.AsyncClient, body: dict[str, Any], paths: list[str]
    ) -> None:
        await save_definition(api, document("checked", {"id": "mail", **EMAIL}))
        response = await api.post("/v1/definitions/checked/preview", json=body)
        assert response.status_code == 422, response.text
        assert sorted(e["path"] for e in response.json()["errors"]) == sorted(paths)


@pytest.fixture
async def edge_api(edge_settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The API with its channels pointed at the loopback outbox: anything sent would be caught."""
    from api.app import create_app

    transport = httpx.ASGITransport(app=create_app(edge_settings, engine=engine))
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers) as client:
        yield client


class TestNothingWritten:
    async def test_no_ledger_row_no_timeline_entry_no_run_no_message(
        self, edge_api: httpx.AsyncClient, engine: Engine, outbox: OutboxHandle
    ) -> None:
        await save_definition(edge_api, document(
            "dry_run", {"id": "mail", **EMAIL}, {"id": "tag", "type": "set",
                                                  "target": "contact.attributes.stage", "value": "welcomed"},
            {"id": "text", **SMS}, {"id": "call", **VOICE},
        ))
        anna = await create_contact(edge_api, **ANNA_RU)

        def counts() -> tuple[int, ...]:
            with session_scope(engine) as session:
                return tuple(session.exec(select(func.count()).select_from(table)).one()
                             for table in (Delivery, TimelineEntry, Run))

        before = counts()
        body = await preview(edge_api, "dry_run", contact_id=anna["id"], start=z(START))
        assert [s["state"] for s in body["steps"]] == ["sent", "done", "sent", "sent"]
        assert body["steps"][1]["reason"] == "stage = 'welcomed'"
        assert counts() == before
        assert outbox.store.list(limit=None) == []
        with session_scope(engine) as session:
            assert session.get(Contact, anna["id"]).attributes == {}  # type: ignore[union-attr]
