"""The door under the people policy: a user's channels in order, their language, their working
time and absences (the contact's policy never applies to them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from activities.door import Door
from channels.base import PermanentChannelError
from followthrough.models.runs import DeliverInput
from followthrough.models.vocab import Category, Channel, LedgerState
from followthrough.rendering import TemplateParts
from followthrough.settings import Settings
from followthrough.store import contacts, ledger, templates, users
from followthrough.store.db import session_scope
from tests.activities.test_door import door_env  # noqa: F401  (the fixture)

#: Wednesday 2026-06-10 12:00 UTC: 14:00 in Budapest, 19:00 in Bangkok.
NOON = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def _contact(engine: Engine) -> int:
    with session_scope(engine) as session:
        return contacts.create(session, {"name": "Ирина", "email": "irina@example.test", "locale": "ru",
                                         "time_zone": "Europe/Moscow"}).id  # type: ignore[return-value]


def _user(engine: Engine, **profile: Any) -> int:
    fields = {"email": "rep@example.test", "locale": "en", **profile}
    with session_scope(engine) as session:
        user, _ = users.create(session, name="Rep", role="rep", **fields)
        return user.id  # type: ignore[return-value]


def _alert(contact_id: int, user_id: int, run: str, *, urgent: bool = False) -> DeliverInput:
    return DeliverInput(run_id=run, step_id="s", contact_id=contact_id, channel=Channel.EMAIL, template="welcome",
                        category=Category.SERVICE, at=NOON, to_user_id=user_id, urgent=urgent)


class TestPeoplePolicyAtTheDoor:
    def test_a_russian_contacts_alert_reads_in_the_english_reps_language(self, door_env: tuple[Door, Engine, Settings]) -> None:  # noqa: F811
        door, engine, _ = door_env
        prepared = door.prepare(_alert(_contact(engine), _user(engine), "run_l"), "run_l:s:1", NOON, [])
        assert prepared.message is not None
        assert (prepared.message.locale, prepared.message.subject) == ("en", "Welcome to Followthrough, Ирина!")

    def test_the_users_first_channel_with_an_address_and_a_template(self, door_env: tuple[Door, Engine, Settings]) -> None:  # noqa: F811
        door, engine, _ = door_env
        contact_id = _contact(engine)
        both = _user(engine, phone="+36301234567", notify_channels=["sms", "email"])
        # No sms template "welcome" yet: the email goes.
        prepared = door.prepare(_alert(contact_id, both, "run_c1"), "run_c1:s:1", NOON, [])
        assert prepared.message is not None and (prepared.message.channel, prepared.message.to) == (
            Channel.EMAIL, "rep@example.test")
        with session_scope(engine) as session:
            templates.put(session, "sms", "welcome", "en", TemplateParts(text="New: {{ contact.name }}"))
        prepared = door.prepare(_alert(contact_id, both, "run_c2"), "run_c2:s:1", NOON, [])
        assert prepared.message is not None
        assert (prepared.message.channel, prepared.message.to, prepared.message.text) == (
            Channel.SMS, "+36301234567", "New: Ирина")
        # The sms fails for good: the user's next channel, then nothing more.
        door.failed(_alert(contact_id, both, "run_c2"), "run_c2:s:1", prepared.message,
                    PermanentChannelError("invalid number", code="twilio_21211"))
        again = door.prepare(_alert(contact_id, both, "run_c2"), "run_c2:s:1", NOON, [Channel.SMS])
        assert again.message is not None and again.message.channel == Channel.EMAIL
        door.failed(_alert(contact_id, both, "run_c2"), "run_c2:s:1", again.message,
                    PermanentChannelError("no mailbox", code="smtp_550"))
        last = door.prepare(_alert(contact_id, both, "run_c2"), "run_c2:s:1", NOON, [Channel.SMS, Channel.EMAIL])
        assert last.result is not None and last.result.state == LedgerState.FAILED

    @pytest.mark.parametrize(("urgent", "state"), [(False, LedgerState.DEFERRED), (True, None)])
    def test_outside_working_time_it_waits_unless_urgent(self, door_env: tuple[Door, Engine, Settings],  # noqa: F811
                                                         urgent: bool, state: LedgerState | None) -> None:
        door, engine, _ = door_env
        # 19:00 in Bangkok: after the default office day there; the next is Thursday 09:00.
        rep = _user(engine, time_zone="Asia/Bangkok", calendar="default")
        key = f"run_w{int(urgent)}:s:1"
        prepared = door.prepare(_alert(_contact(engine), rep, key.split(":")[0], urgent=urgent), key, NOON, [])
        if state is None:
            assert prepared.message is not None
            return
        assert prepared.result is not None
        assert (prepared.result.state, prepared.result.reason, prepared.result.defer_until) == (
            state, "outside_working_time", datetime(2026, 6, 11, 2, 0, tzinfo=UTC))

    def test_an_absent_user_gets_it_when_back(self, door_env: tuple[Door, Engine, Settings]) -> None:  # noqa: F811
        door, engine, _ = door_env
        rep = _user(engine, time_zone="Europe/Budapest", calendar="default")
        with session_scope(engine) as session:
            users.add_absence(session, rep, NOON - timedelta(days=1), NOON + timedelta(hours=1), "dentist")
        prepared = door.prepare(_alert(_contact(engine), rep, "run_a"), "run_a:s:1", NOON, [])
        assert prepared.result is not None
        assert (prepared.result.state, prepared.result.reason, prepared.result.defer_until) == (
            LedgerState.DEFERRED, "absent", NOON + timedelta(hours=1))
        with session_scope(engine) as session:
            row = ledger.get_by_key(session, "run_a:s:1")
            assert (row.to_user_id, row.decision) == (rep, "defer")  # type: ignore[union-attr]

    def test_an_inactive_user_is_sent_nothing(self, door_env: tuple[Door, Engine, Settings]) -> None:  # noqa: F811
        door, engine, _ = door_env
        rep = _user(engine, active=False)
        prepared = door.prepare(_alert(_contact(engine), rep, "run_i"), "run_i:s:1", NOON, [])
        assert prepared.result is not None
        assert (prepared.result.state, prepared.result.reason) == (
            LedgerState.SKIPPED, f"no_recipient: user {rep} is not active")
