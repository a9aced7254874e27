"""The SLA policy's preview: classification, priority, team, the promised first response (UTC and
the contact's local time) and the planned ladder, on the stored calendars; nothing written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from followthrough.calendar import Calendar
from followthrough.errors import ValidationFailed
from followthrough.store import calendars, teams, users
from followthrough.store.db import session_scope
from followthrough.store.tables import Ticket, TicketEvent
from followthrough.tickets.policy import SlaPolicyDefinition
from followthrough.tickets.preview import preview

POLICY = SlaPolicyDefinition.model_validate({
    "name": "support", "kind": "sla_policy", "calendar": "budapest_office", "default_team": "support",
    "classification": [
        {"id": "complaint_ru", "language": "ru", "keywords": ["жалоба"], "category": "complaint", "priority": "high"},
        {"id": "complaint_hu", "language": "hu", "keywords": ["panasz"], "category": "complaint", "priority": "high"},
    ],
    "routing": [
        {"id": "vip", "when": "contact.attributes.get('tier') == 'vip'", "team": "vip_desk"},
        {"id": "complaints", "when": "ticket.category == 'complaint' and ticket.channel == 'sms'", "team": "escalations"},
    ],
    "priorities": {
        "normal": {"first_response": "PT4H", "resolution": "PT16H"},
        "high": {"first_response": "PT2H", "resolution": "PT8H", "ladder": [
            {"at": {"share": 0.5}, "target": "first_response", "notify": ["assignee"], "warning": True},
            {"at": {"share": 1.0}, "target": "first_response", "notify": ["team_manager"]},
        ]},
    },
})
MOSCOW_CONTACT = {"locale": "ru", "time_zone": "Europe/Moscow", "attributes": {}}
# Wednesday 19 Aug 2026 15:30 UTC = 17:30 Budapest, after closing; 20 and 21 Aug are closed (a
# public holiday and its bridge day), then the weekend: the clock starts on Monday 24 Aug.
NOW = datetime(2026, 8, 19, 15, 30, tzinfo=UTC)


def run(engine: Engine, contact: dict[str, Any], ticket: dict[str, Any], policy: SlaPolicyDefinition = POLICY) -> dict[str, Any]:
    with session_scope(engine) as session:
        return preview(session, policy, contact=contact, ticket=ticket, now=NOW)


class TestPreview:
    def test_a_russian_complaint_by_email(self, engine: Engine) -> None:
        found = run(engine, MOSCOW_CONTACT, {"subject": "Заказ 100482", "text": "Пишу с жалобой на курьера",
                                              "channel": "email"})
        assert found["classification"]["matched"] == ["complaint_ru"]
        assert found["classification"]["words"] == {"complaint_ru": ["жалобой"]}
        assert (found["category"], found["priority"], found["team"], found["routing_rule"], found["hold"]) == (
            "complaint", "high", "support", None, True)
        # 2 working hours from Monday 09:00 Budapest = 11:00 Budapest = 09:00 UTC = 12:00 Moscow.
        assert found["first_response"] == {"at": "2026-08-24T09:00:00+00:00",
                                           "local": "2026-08-24T12:00:00+03:00", "zone": "Europe/Moscow"}
        assert found["resolution"]["at"] == "2026-08-25T08:00:00+00:00"  # Mon 7 h (lunch), Tue 1 h
        assert [(d["key"], d["at"], d["local"]) for d in found["ladder"]] == [
            ("first_response/1/warning/1", "2026-08-24T08:00:00+00:00", "2026-08-24T11:00:00+03:00"),
            ("first_response/1/escalation/1", "2026-08-24T09:00:00+00:00", "2026-08-24T12:00:00+03:00"),
            ("first_response/1/breach", "2026-08-24T09:00:00+00:00", "2026-08-24T12:00:00+03:00"),
            ("resolution/1/breach", "2026-08-25T08:00:00+00:00", "2026-08-25T11:00:00+03:00"),
        ]
        assert found["ladder"][1]["notify"] == ["team_manager"]

    def test_the_assignee_the_rotation_would_pick_nothing_moved(self, engine: Engine) -> None:
        with session_scope(engine) as session:
            anna, _ = users.create(session, name="Anna", email=None, role="rep")
            bela, _ = users.create(session, name="Bela", email=None, role="rep")
            cili, _ = users.create(session, name="Cili", email=None, role="rep")
            cili.active = False
            session.add(cili)
            teams.put(session, "support", members_in=[(cili.id, 1), (anna.id, 1), (bela.id, 1)],  # type: ignore[list-item]
                      manager_id=None, calendar=None)
        picks = [run(engine, MOSCOW_CONTACT, {"text": "жалоба"}) for _ in range(2)]
        # The same member both times: a preview moves nobody's credit (a real pick would alternate).
        assert [(p["team"], p["assignee_id"]) for p in picks] == [("support", anna.id)] * 2
        assert picks[0]["skipped"] == [{"user_id": cili.id, "reason": "inactive"}]
        assert run(engine, {**MOSCOW_CONTACT, "attributes": {"tier": "vip"}}, {"text": "x"})["assignee_id"] is None

    def test_routing_takes_the_first_rule_that_holds(self, engine: Engine) -> None:
        hungarian = {"locale": "hu", "time_zone": "Europe/Budapest", "attributes": {}}
        sms = run(engine, hungarian, {"text": "Panaszt szeretnék tenni", "channel": "sms"})
        assert (sms["category"], sms["team"], sms["routing_rule"]) == ("complaint", "escalations", "complaints")
        vip = run(engine, {**hungarian, "attributes": {"tier": "vip"}}, {"text": "Panaszt szeretnék tenni",
                                                                          "channel": "sms"})
        assert (vip["team"], vip["routing_rule"]) == ("vip_desk", "vip")

    def test_a_given_priority_and_category_win_over_classification(self, engine: Engine) -> None:
        found = run(engine, MOSCOW_CONTACT, {"text": "жалоба", "priority": "normal", "category": "billing"})
        assert (found["classification"]["priority"], found["priority"], found["category"]) == ("high", "normal", "billing")
        assert found["first_response"]["at"] == "2026-08-24T12:00:00+00:00"  # 9-12, lunch, 13-14 Budapest
        assert found["ladder"] == [d for d in found["ladder"] if d["kind"] == "breach"]  # no ladder for normal

    def test_a_stored_calendar_edit_is_what_the_preview_counts_on(self, engine: Engine) -> None:
        with session_scope(engine) as session:
            calendars.put(session, Calendar(name="budapest_office", time_zone="Europe/Budapest",
                                            week={"thu": [("09:00", "17:00")]}))  # type: ignore[list-item]
        found = run(engine, MOSCOW_CONTACT, {"text": "жалоба"})
        assert found["first_response"]["at"] == "2026-08-20T09:00:00+00:00"  # no country: Thursday works

    @pytest.mark.parametrize(("contact", "ticket", "path"), [
        ({"time_zone": "Mars/Olympus"}, {"text": "x"}, "/contact/time_zone"),
        ({}, {"text": "x", "priority": "whenever"}, "/ticket/priority"),
        ({}, {"text": "x", "channel": "pigeon"}, "/ticket/channel"),
    ])
    def test_bad_input_names_the_field(self, engine: Engine, contact: dict[str, Any], ticket: dict[str, Any],
                                       path: str) -> None:
        with pytest.raises(ValidationFailed) as info:
            run(engine, contact, ticket)
        assert [e.path for e in info.value.errors] == [path]

    def test_nothing_is_written(self, engine: Engine) -> None:
        run(engine, MOSCOW_CONTACT, {"text": "жалоба"})
        with session_scope(engine) as session:
            assert session.exec(select(func.count()).select_from(Ticket)).one() == 0
            assert session.exec(select(func.count()).select_from(TicketEvent)).one() == 0

