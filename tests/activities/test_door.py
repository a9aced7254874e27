"""The delivery door's decisions against the database (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Barrier

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.exceptions import ApplicationError

from activities.door import Door
from channels.base import PermanentChannelError, SendReceipt
from followthrough.bootstrap import seed_builtins
from followthrough.models.runs import DeliverInput
from followthrough.models.vocab import Category, Channel, LedgerState
from followthrough.policy.contact_policy import PolicyConfig, QuietHours
from followthrough.policy.people_policy import LEGACY_ADDRESS
from followthrough.rendering import Renderer, TemplateParts
from followthrough.settings import Settings
from followthrough.store import (
    contacts,
    ledger,
    policy,
    preferences,
    suppressions,
    templates,
    users,
)
from followthrough.store.db import session_scope
from followthrough.store.tables import TimelineEntry
from followthrough.store.templates import DbTemplateSource
from tests.conftest import make_settings

NOON = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def door_env(any_engine: Engine, tmp_path: Path) -> tuple[Door, Engine, Settings]:
    settings = make_settings(tmp_path)
    seed_builtins(any_engine, settings)
    with session_scope(any_engine) as session:
        # A fallback channel uses the step's template name on that channel.
        templates.put(session, "email", "welcome_followup", "en",
                      TemplateParts(subject="Hello {{ contact.name }}", text="We will call you soon."))
    return Door(any_engine, Renderer(DbTemplateSource(any_engine), "en"), settings), any_engine, settings


def _contact(engine: Engine, **fields: object) -> int:
    values = {"name": "Ilona", "email": "ilona@example.test", "phone": "+36301234567",
              "locale": "hu", "time_zone": "Europe/Budapest", **fields}
    with session_scope(engine) as session:
        return contacts.create(session, values).id  # type: ignore[return-value]


def _input(contact_id: int, run: str, channel: Channel = Channel.SMS, category: Category = Category.MARKETING,
           fallbacks: list[Channel] | None = None) -> DeliverInput:
    template = {Channel.SMS: "welcome_followup", Channel.EMAIL: "welcome", Channel.VOICE: "welcome_call"}[channel]
    return DeliverInput(run_id=run, step_id="s", contact_id=contact_id, channel=channel, template=template,
                        category=category, fallbacks=fallbacks or [], at=NOON)


class TestCapsUnderRace:
    def test_twenty_runs_racing_one_contact_send_exactly_the_cap(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        barrier = Barrier(20)

        def ask(i: int):  # type: ignore[no-untyped-def]
            barrier.wait()
            inp = _input(contact_id, f"run_{i:02d}")
            return door.prepare(inp, f"run_{i:02d}:s:1", NOON, [])

        with ThreadPoolExecutor(20) as pool:
            outcomes = list(pool.map(ask, range(20)))
        to_send = [o for o in outcomes if o.message is not None]
        deferred = [o.result for o in outcomes if o.result is not None]
        assert len(to_send) == 1
        assert len(deferred) == 19
        assert {(r.state, r.reason, r.defer_until) for r in deferred} == {
            (LedgerState.DEFERRED, "cap:marketing:P1D", NOON + timedelta(days=1))
        }


class TestDecisionsOnTheLedger:
    def test_quiet_hours_defer_to_nine_local_and_record_the_decision(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        with session_scope(engine) as session:
            policy.put_config(session, PolicyConfig())
        late = datetime(2026, 6, 10, 20, 30, tzinfo=UTC)  # 22:30 in Budapest (CEST)
        prepared = door.prepare(_input(contact_id, "run_q", category=Category.SERVICE), "run_q:s:1", late, [])
        assert prepared.result is not None
        assert (prepared.result.state, prepared.result.reason) == (LedgerState.DEFERRED, "quiet_hours")
        assert prepared.result.defer_until == datetime(2026, 6, 11, 7, 0, tzinfo=UTC)
        with session_scope(engine) as session:
            row = ledger.get_by_key(session, "run_q:s:1")
            assert (row.decision, row.state) == ("defer", "deferred")

    def test_revoked_sms_consent_falls_back_to_email(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        with session_scope(engine) as session:
            preferences.revoke(session, contact_id, Channel.SMS, None, source="keyword")
        prepared = door.prepare(_input(contact_id, "run_f", category=Category.SERVICE, fallbacks=[Channel.EMAIL]),
                                "run_f:s:1", NOON, [])
        assert prepared.message is not None
        assert (prepared.message.channel, prepared.message.to) == (Channel.EMAIL, "ilona@example.test")
        assert "List-Unsubscribe" in prepared.message.headers

    def test_no_consent_and_no_fallback_is_skipped(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        with session_scope(engine) as session:
            preferences.revoke(session, contact_id, Channel.SMS, [Category.MARKETING], source="api")
        prepared = door.prepare(_input(contact_id, "run_s"), "run_s:s:1", NOON, [])
        assert prepared.result is not None
        assert (prepared.result.state, prepared.result.reason) == (LedgerState.SKIPPED, "no_consent")

    def test_a_final_outcome_is_returned_unchanged_without_asking_the_policy(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        inp = _input(contact_id, "run_r", category=Category.SERVICE)
        prepared = door.prepare(inp, "run_r:s:1", NOON, [])
        assert prepared.message is not None
        door.sent(inp, "run_r:s:1", prepared.message, SendReceipt("SM123", "queued"), False)
        with session_scope(engine) as session:
            preferences.revoke(session, contact_id, Channel.SMS, None, source="keyword")
        again = door.prepare(inp, "run_r:s:1", NOON + timedelta(hours=1), [])
        assert again.result is not None
        assert (again.result.state, again.result.provider_id) == (LedgerState.SENT, "SM123")

    def test_a_sent_message_is_recorded_on_the_ledger_and_the_timeline(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        inp = _input(contact_id, "run_t", category=Category.SERVICE)
        prepared = door.prepare(inp, "run_t:s:1", NOON, [])
        assert prepared.message is not None
        result = door.sent(inp, "run_t:s:1", prepared.message, SendReceipt("SM777", "queued"), True)
        assert (result.state, result.provider_id, result.uncertain_before) == (LedgerState.SENT, "SM777", True)
        with session_scope(engine) as session:
            row = ledger.get_by_key(session, "run_t:s:1")
            entries = session.exec(select(TimelineEntry).where(TimelineEntry.contact_id == contact_id)).all()
        assert row is not None
        assert (row.state, row.provider_status, row.reason, row.attempt_token) == (
            "sent", "queued", "resent after an uncertain attempt", None)
        assert row.sent_at is not None
        [entry] = [e for e in entries if e.kind == "message.sent"]
        assert (entry.direction, entry.channel, entry.run_id, entry.delivery_key) == (
            "outbound", row.channel, "run_t", "run_t:s:1")
        assert entry.summary == f"{row.channel} '{inp.template}' sent to {row.to_address}"
        assert entry.data == {"state": "sent", "template": inp.template, "provider_id": "SM777",
                              "reason": "resent after an uncertain attempt", "decision": "send"}

    def test_transactional_email_has_no_unsubscribe_header(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        prepared = door.prepare(_input(contact_id, "run_t", Channel.EMAIL, Category.TRANSACTIONAL), "run_t:s:1", NOON, [])
        assert prepared.message is not None and prepared.message.headers == {}

    def test_a_marketing_email_shows_the_headers_unsubscribe_link_in_its_body(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        inp = _input(contact_id, "run_u", Channel.EMAIL).model_copy(
            update={"template": "nurture_intro", "brand": "Kovács Bolt"})
        prepared = door.prepare(inp, "run_u:s:1", NOON, [])
        assert prepared.message is not None
        url = prepared.message.headers["List-Unsubscribe"].strip("<>")
        assert f"Itt leiratkozhat, és azonnal leállítjuk a küldést: {url}" in prepared.message.text
        assert prepared.message.subject == "Köszönjük érdeklődését! – Kovács Bolt"  # the definition's brand

    def test_a_transactional_email_has_no_unsubscribe_link(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        inp = _input(contact_id, "run_v", Channel.EMAIL, Category.TRANSACTIONAL).model_copy(
            update={"template": "nurture_intro"})
        prepared = door.prepare(inp, "run_v:s:1", NOON, [])
        assert prepared.message is not None
        assert "/u/" not in prepared.message.text
        assert "levelezőprogramja leiratkozási lehetőségét" in prepared.message.text


class TestPermanentFailures:
    def test_hard_bounce_suppresses_the_address(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        inp = _input(contact_id, "run_b", Channel.EMAIL, Category.SERVICE)
        prepared = door.prepare(inp, "run_b:s:1", NOON, [])
        door.failed(inp, "run_b:s:1", prepared.message, PermanentChannelError("No such user", code="smtp_550"))  # type: ignore[arg-type]
        with session_scope(engine) as session:
            assert suppressions.is_suppressed(session, Channel.EMAIL, "ilona@example.test") is True

    def test_twilio_21610_revokes_sms_consent(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        inp = _input(contact_id, "run_o", Channel.SMS, Category.SERVICE)
        prepared = door.prepare(inp, "run_o:s:1", NOON, [])
        door.failed(inp, "run_o:s:1", prepared.message, PermanentChannelError("unsubscribed", code="twilio_21610"))  # type: ignore[arg-type]
        with session_scope(engine) as session:
            consent = preferences.get(session, contact_id).consent
        assert consent["sms"] == {c.value: False for c in Category}

    def test_after_a_permanent_failure_the_fallback_is_decided(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        inp = _input(contact_id, "run_p", Channel.SMS, Category.SERVICE, fallbacks=[Channel.EMAIL])
        first = door.prepare(inp, "run_p:s:1", NOON, [])
        door.failed(inp, "run_p:s:1", first.message, PermanentChannelError("bad number", code="twilio_21211"))  # type: ignore[arg-type]
        second = door.prepare(inp, "run_p:s:1", NOON, [Channel.SMS])
        assert second.message is not None and second.message.channel == Channel.EMAIL
        with session_scope(engine) as session:
            row = ledger.get_by_key(session, "run_p:s:1")
            assert (row.channel, row.state, row.attempts) == ("email", "pending", 2)




class TestRetriesStillHonourOptOuts:
    def test_a_stop_between_a_transient_error_and_the_retry_skips_the_retry(self, door_env) -> None:  # type: ignore[no-untyped-def]
        from channels.base import TransientChannelError

        door, engine, _ = door_env
        contact_id = _contact(engine)
        inp = _input(contact_id, "run_x", Channel.SMS, Category.SERVICE)
        first = door.prepare(inp, "run_x:s:1", NOON, [])
        assert first.message is not None
        door.retrying("run_x:s:1", TransientChannelError("429", code="twilio_20429"))
        with session_scope(engine) as session:
            preferences.revoke(session, contact_id, Channel.SMS, None, source="keyword")
        retry = door.prepare(inp, "run_x:s:1", NOON + timedelta(minutes=1), [])
        assert retry.result is not None
        assert (retry.result.state, retry.result.reason) == (LedgerState.SKIPPED, "no_consent")


class TestGiveUp:
    def test_a_cut_off_attempt_stays_uncertain_and_a_deferred_one_is_skipped(self, door_env) -> None:  # type: ignore[no-untyped-def]
        from followthrough.models.runs import GiveUpInput

        door, engine, _ = door_env
        contact_id = _contact(engine)
        inp = _input(contact_id, "run_g", Channel.EMAIL, Category.SERVICE)
        assert door.prepare(inp, "run_g:s:1", NOON, []).message is not None  # now pending
        door.give_up(GiveUpInput(key="run_g:s:1", reason="gave_up"))
        with session_scope(engine) as session:
            policy.put_config(session, PolicyConfig())
        late = datetime(2026, 6, 10, 20, 30, tzinfo=UTC)  # quiet hours in Budapest
        deferred = door.prepare(_input(contact_id, "run_h", category=Category.SERVICE), "run_h:s:1", late, [])
        assert deferred.result is not None and deferred.result.state == LedgerState.DEFERRED
        door.give_up(GiveUpInput(key="run_h:s:1", reason="stopped", skipped=True))
        with session_scope(engine) as session:
            rows = {k: ledger.get_by_key(session, k).state for k in ("run_g:s:1", "run_h:s:1")}  # type: ignore[union-attr]
        assert rows == {"run_g:s:1": "uncertain", "run_h:s:1": "skipped"}


class TestFallbackAfterDeferral:
    def test_a_channel_that_failed_is_not_tried_again_when_the_fallback_was_deferred(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        with session_scope(engine) as session:
            # Quiet hours for email only, so the email fallback is deferred at night.
            policy.put_config(session, PolicyConfig(quiet_hours=QuietHours(channels=[Channel.EMAIL])))
        night = datetime(2026, 6, 10, 20, 30, tzinfo=UTC)  # 22:30 in Budapest
        inp = _input(contact_id, "run_d", Channel.SMS, Category.SERVICE, fallbacks=[Channel.EMAIL])
        first = door.prepare(inp, "run_d:s:1", night, [])
        assert first.message is not None and first.message.channel == Channel.SMS
        door.failed(inp, "run_d:s:1", first.message, PermanentChannelError("bad number", code="twilio_21211"))
        deferred = door.prepare(inp, "run_d:s:1", night, [Channel.SMS])
        assert deferred.result is not None and deferred.result.state == LedgerState.DEFERRED
        # The workflow asks again in the morning, in a new activity that knows nothing of SMS.
        morning = door.prepare(inp, "run_d:s:1", deferred.result.defer_until, [])  # type: ignore[arg-type]
        assert morning.message is not None and morning.message.channel == Channel.EMAIL


def _user(engine: Engine, email: str | None = "rep@example.test") -> int:
    with session_scope(engine) as session:
        user, _ = users.create(session, name="Rep", email=email, role="rep")
        return user.id  # type: ignore[return-value]


def _to_user(contact_id: int, run: str, user_id: int, category: Category = Category.SALES) -> DeliverInput:
    return DeliverInput(run_id=run, step_id="s", contact_id=contact_id, channel=Channel.EMAIL, template="welcome",
                        category=category, at=NOON, to_user_id=user_id)


def _alert(door: Door, inp: DeliverInput, key: str, at: datetime = NOON) -> None:
    prepared = door.prepare(inp, key, at, [])
    assert prepared.message is not None
    door.sent(inp, key, prepared.message, SendReceipt(f"<{key}@example.test>", "sent"), False)


class TestMessagesToUsers:
    """An ``internal`` notification goes to a user's own address and is outside the contact's
    policy: it is never held back by it and never counts toward it."""

    def test_two_rep_alerts_then_a_sales_message_to_the_contact_goes_now(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id, rep = _contact(engine), _user(engine)
        _alert(door, _to_user(contact_id, "run_a1", rep), "run_a1:s:1")
        _alert(door, _to_user(contact_id, "run_a2", rep), "run_a2:s:1", NOON + timedelta(minutes=5))
        # Sales is capped at 2 a day: counting the alerts, this would wait until tomorrow.
        sales = door.prepare(_input(contact_id, "run_sales", Channel.SMS, Category.SALES),
                             "run_sales:s:1", NOON + timedelta(minutes=10), [])
        assert sales.message is not None
        assert (sales.message.channel, sales.message.to) == (Channel.SMS, "+36301234567")
        with session_scope(engine) as session:
            rows = [ledger.get_by_key(session, k) for k in ("run_a1:s:1", "run_a2:s:1", "run_sales:s:1")]
        assert [(r.to_user_id, r.to_address, r.state, r.decision) for r in rows] == [  # type: ignore[union-attr]
            (rep, "rep@example.test", "sent", "send"), (rep, "rep@example.test", "sent", "send"),
            (None, "+36301234567", "pending", "send")]

    def test_a_rep_alert_does_not_make_marketing_yield(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id, rep = _contact(engine), _user(engine)
        # Marketing yields for a day after any louder (here: sales) message to the contact.
        _alert(door, _to_user(contact_id, "run_y1", rep, Category.SALES), "run_y1:s:1")
        newsletter = door.prepare(_input(contact_id, "run_news", Channel.EMAIL, Category.MARKETING),
                                  "run_news:s:1", NOON + timedelta(hours=1), [])
        assert newsletter.message is not None and newsletter.message.to == "ilona@example.test"

    def test_the_contacts_consent_suppression_quiet_hours_and_caps_do_not_hold_it_back(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id, rep = _contact(engine), _user(engine)
        with session_scope(engine) as session:
            policy.put_config(session, PolicyConfig(quiet_hours=QuietHours(channels=[Channel.EMAIL])))
            preferences.revoke(session, contact_id, Channel.EMAIL, None, source="keyword")
            suppressions.add(session, Channel.EMAIL, "ilona@example.test", reason="bounce", source="bounce")
        night = datetime(2026, 6, 10, 20, 30, tzinfo=UTC)  # 22:30 in Budapest
        for n in range(3):  # sales is capped at 2 a day for the contact
            _alert(door, _to_user(contact_id, f"run_n{n}", rep), f"run_n{n}:s:1", night)
        prepared = door.prepare(_to_user(contact_id, "run_n9", rep), "run_n9:s:1", night, [])
        assert prepared.message is not None
        assert (prepared.message.to, prepared.message.headers) == ("rep@example.test", {})

    def test_an_unknown_user_is_a_recorded_skip(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        prepared = door.prepare(_to_user(contact_id, "run_u", 424242), "run_u:s:1", NOON, [])
        assert prepared.result is not None
        assert (prepared.result.state, prepared.result.reason) == (
            LedgerState.SKIPPED, "no_recipient: user 424242 does not exist")
        with session_scope(engine) as session:
            row = ledger.get_by_key(session, "run_u:s:1")
            assert (row.state, row.decision, row.to_user_id, row.to_address) == ("skipped", "skip", 424242, None)  # type: ignore[union-attr]

    def test_a_user_id_beyond_the_databases_integers_is_an_unknown_user(self, door_env) -> None:  # type: ignore[no-untyped-def]
        # PostgreSQL would refuse the lookup itself ("integer out of range"), retrying forever.
        door, engine, _ = door_env
        contact_id = _contact(engine)
        prepared = door.prepare(_to_user(contact_id, "run_big", 2**40), "run_big:s:1", NOON, [])
        assert prepared.result is not None
        assert (prepared.result.state, prepared.result.reason) == (
            LedgerState.SKIPPED, f"no_recipient: user {2**40} does not exist")

    def test_a_user_without_an_email_address_is_a_recorded_skip(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id, rep = _contact(engine), _user(engine, email=None)
        prepared = door.prepare(_to_user(contact_id, "run_e", rep), "run_e:s:1", NOON, [])
        assert prepared.result is not None
        assert (prepared.result.state, prepared.result.reason) == (
            LedgerState.SKIPPED, f"no_recipient: user {rep} has no address on their channels (email)")

    def test_an_old_input_with_an_address_from_the_data_is_skipped(self, door_env) -> None:  # type: ignore[no-untyped-def]
        # An activity scheduled before this change (retried after it) carries ``to``: the alert
        # must neither reach that address nor fall through to the contact's.
        door, engine, _ = door_env
        contact_id = _contact(engine)
        document = {**_input(contact_id, "run_old", Channel.EMAIL, Category.SALES).model_dump(mode="json"),
                    "to": "rep@example.test"}
        inp = DeliverInput.model_validate(document)
        assert (inp.legacy_to, "to" in inp.model_dump()) == (True, False)
        prepared = door.prepare(inp, "run_old:s:1", NOON, [])
        assert prepared.result is not None
        assert (prepared.result.state, prepared.result.reason) == (LedgerState.SKIPPED, LEGACY_ADDRESS)
        with session_scope(engine) as session:
            assert ledger.get_by_key(session, "run_old:s:1").to_address is None  # type: ignore[union-attr]

    def test_an_old_input_of_a_contacts_message_still_goes_to_the_contact(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id = _contact(engine)
        document = {**_input(contact_id, "run_old_c", Channel.EMAIL, Category.SERVICE).model_dump(mode="json"),
                    "to": None}
        prepared = door.prepare(DeliverInput.model_validate(document), "run_old_c:s:1", NOON, [])
        assert prepared.message is not None and prepared.message.to == "ilona@example.test"

    def test_a_bounce_from_a_users_address_suppresses_nothing(self, door_env) -> None:  # type: ignore[no-untyped-def]
        door, engine, _ = door_env
        contact_id, rep = _contact(engine), _user(engine)
        inp = _to_user(contact_id, "run_bb", rep)
        prepared = door.prepare(inp, "run_bb:s:1", NOON, [])
        door.failed(inp, "run_bb:s:1", prepared.message, PermanentChannelError("No such user", code="smtp_550"))  # type: ignore[arg-type]
        with session_scope(engine) as session:
            assert suppressions.is_suppressed(session, Channel.EMAIL, "rep@example.test") is False
            assert ledger.get_by_key(session, "run_bb:s:1").state == "failed"  # type: ignore[union-attr]


class _Clock:
    """The wall clock of attempt deadlines, moved by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


WALL = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)


@pytest.fixture
def clocked(door_env) -> tuple[Door, Engine, _Clock]:  # type: ignore[no-untyped-def]
    door, engine, settings = door_env
    clock = _Clock(WALL)
    return Door(engine, Renderer(DbTemplateSource(engine), "en"), settings, clock=clock), engine, clock


def _row_state(engine: Engine, key: str) -> tuple[str, int, str | None, datetime | None]:
    from followthrough.store.db import as_utc

    with session_scope(engine) as session:
        row = ledger.get_by_key(session, key)
        assert row is not None
        return row.state, row.attempts, row.reason, as_utc(row.attempt_deadline)


class TestAttemptInFlight:
    """A retry (Temporal's, after missed heartbeats) that finds the row ``pending`` while the
    first attempt may still be sending: it waits for that attempt instead of calling it over."""

    def test_the_claim_records_provider_timeout_plus_margin_as_the_deadline(self, clocked) -> None:  # type: ignore[no-untyped-def]
        door, engine, clock = clocked
        inp = _input(_contact(engine), "run_dl", Channel.EMAIL, Category.SERVICE)
        assert door.prepare(inp, "run_dl:s:1", NOON, []).message is not None
        # smtp_timeout 30 s + ATTEMPT_MARGIN 30 s; capped by a shorter start-to-close.
        assert _row_state(engine, "run_dl:s:1")[3] == WALL + timedelta(seconds=60)
        clock.at = WALL + timedelta(hours=1)
        inp2 = _input(_contact(engine, email="b@example.test"), "run_dl2", Channel.EMAIL, Category.SERVICE)
        door.prepare(inp2, "run_dl2:s:1", NOON, [], timedelta(seconds=45))
        assert _row_state(engine, "run_dl2:s:1")[3] == WALL + timedelta(hours=1, seconds=45)

    @pytest.mark.parametrize(("after", "delay"), [(timedelta(seconds=10), 5.0), (timedelta(seconds=58), 2.0),
                                                  (timedelta(seconds=59, milliseconds=800), 1.0)])
    def test_a_retry_finding_a_young_pending_row_backs_off_and_sends_nothing(  # type: ignore[no-untyped-def]
        self, clocked, after: timedelta, delay: float,
    ) -> None:
        door, engine, clock = clocked
        inp = _input(_contact(engine), "run_if", Channel.EMAIL, Category.TRANSACTIONAL)
        assert door.prepare(inp, "run_if:s:1", NOON, []).message is not None
        before = _row_state(engine, "run_if:s:1")
        clock.at = WALL + after
        with pytest.raises(ApplicationError) as raised:
            door.prepare(inp, "run_if:s:1", NOON + after, [])
        assert (raised.value.type, raised.value.non_retryable) == ("AttemptInFlight", False)
        assert raised.value.next_retry_delay == timedelta(seconds=delay)
        assert _row_state(engine, "run_if:s:1") == before == ("pending", 1, None, WALL + timedelta(seconds=60))

    def test_once_the_first_attempt_records_sent_the_retry_returns_it(self, clocked) -> None:  # type: ignore[no-untyped-def]
        door, engine, clock = clocked
        inp = _input(_contact(engine), "run_ok", Channel.EMAIL, Category.TRANSACTIONAL)
        first = door.prepare(inp, "run_ok:s:1", NOON, [])
        assert first.message is not None
        clock.at = WALL + timedelta(seconds=12)
        with pytest.raises(ApplicationError):
            door.prepare(inp, "run_ok:s:1", NOON, [])
        door.sent(inp, "run_ok:s:1", first.message, SendReceipt("<m1@example.test>", "250 OK"), False)
        clock.at = WALL + timedelta(seconds=17)
        retry = door.prepare(inp, "run_ok:s:1", NOON, [])
        assert retry.message is None and retry.result is not None
        assert (retry.result.state, retry.result.provider_id, retry.result.uncertain_before) == (
            LedgerState.SENT, "<m1@example.test>", False)
        assert _row_state(engine, "run_ok:s:1")[:2] == ("sent", 1)

    @pytest.mark.parametrize(("category", "resent"), [
        (Category.MARKETING, False), (Category.SALES, False),  # at-most-once: reported, not resent
        (Category.TRANSACTIONAL, True), (Category.SERVICE, True),  # at-least-once: resent
    ])
    def test_past_its_deadline_the_row_is_uncertain_and_the_category_decides(  # type: ignore[no-untyped-def]
        self, clocked, category: Category, resent: bool,
    ) -> None:
        door, engine, clock = clocked
        key = f"run_{category}:s:1"
        inp = _input(_contact(engine), f"run_{category}", Channel.EMAIL, category)
        first = door.prepare(inp, key, NOON, [])
        assert first.message is not None
        clock.at = WALL + timedelta(seconds=60)
        retry = door.prepare(inp, key, NOON, [])
        if resent:
            assert retry.message is not None and retry.uncertain_before is True
            assert retry.message.key == first.message.key  # the same Message-ID on the wire
            assert _row_state(engine, key) == (
                "pending", 2, "attempt interrupted; outcome unknown", WALL + timedelta(seconds=120))
        else:
            assert retry.message is None and retry.result is not None
            assert (retry.result.state, retry.result.reason) == (
                LedgerState.UNCERTAIN, "attempt interrupted; outcome unknown")
            assert _row_state(engine, key)[:3] == ("uncertain", 1, "attempt interrupted; outcome unknown")

    def test_a_row_claimed_before_deadlines_counts_two_minutes_from_its_last_update(self, clocked) -> None:  # type: ignore[no-untyped-def]
        from followthrough.store.db import as_utc

        door, engine, clock = clocked
        inp = _input(_contact(engine), "run_old_p", Channel.EMAIL, Category.MARKETING)
        assert door.prepare(inp, "run_old_p:s:1", NOON, []).message is not None
        with session_scope(engine) as session:  # as migration 0010 leaves an older pending row
            row = ledger.get_by_key(session, "run_old_p:s:1")
            row.attempt_deadline = None  # type: ignore[union-attr]
            session.add(row)
            updated = as_utc(row.updated_at)  # type: ignore[union-attr]
        assert updated is not None
        clock.at = updated + timedelta(seconds=119)
        with pytest.raises(ApplicationError) as raised:
            door.prepare(inp, "run_old_p:s:1", NOON, [])
        assert (raised.value.type, raised.value.next_retry_delay) == ("AttemptInFlight", timedelta(seconds=1))
        clock.at = updated + timedelta(seconds=120)
        late = door.prepare(inp, "run_old_p:s:1", NOON, [])
        assert late.result is not None and late.result.state == LedgerState.UNCERTAIN
