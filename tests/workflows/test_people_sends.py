"""Internal sends through a real SequenceWorkflow: to the contact's owner, on the owner's
channels, in the owner's language, deferred to the owner's return (time-skipping server)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.settings import Settings
from followthrough.store import ledger, timeline, users
from followthrough.store.db import as_utc, session_scope
from tests.workflows.test_sequence_steps import _contact, _run, _save

ALERT = {"id": "tell_owner", "type": "send", "channel": "internal", "template": "welcome"}


def _owner(engine: Engine, **profile: object) -> int:
    with session_scope(engine) as session:
        user, _ = users.create(session, name="Owner", email="owner@example.test", role="rep",
                               locale="en", **profile)
        return user.id  # type: ignore[return-value]


class TestInternalSendToTheOwner:
    async def test_goes_to_the_contacts_owner_in_the_owners_language(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        owner = _owner(engine)
        _save(engine, "notify_owner", [ALERT], locales=["en", "ru"])
        contact_id = _contact(engine, name="Ирина", locale="ru", owner_id=owner)
        out = await _run(ts_env, engine, edge_settings, "notify_owner", contact_id)
        assert out.steps == [("tell_owner", "sent", None)]
        [message] = outbox.store.list(limit=None)
        assert (message.channel, message.to, message.subject) == (
            "email", "owner@example.test", "Welcome to Followthrough, Ирина!")
        with session_scope(engine) as session:
            [row] = ledger.list_page(session, run_id=out.run_id)
        assert (row.to_user_id, row.locale, row.contact_id) == (owner, "en", contact_id)

    async def test_without_an_owner_it_is_a_skipped_step(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        _save(engine, "notify_no_owner", [ALERT])
        out = await _run(ts_env, engine, edge_settings, "notify_no_owner", _contact(engine))
        assert out.steps == [("tell_owner", "skipped",
                              "no_recipient: the step names no user (to_user) and the contact has no owner")]
        assert outbox.store.list(limit=None) == []

    async def test_an_absent_owner_gets_it_when_back_unless_urgent(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        owner = _owner(engine)
        start = await ts_env.get_current_time()
        back = (start + timedelta(days=1)).replace(microsecond=0)
        with session_scope(engine) as session:
            users.add_absence(session, owner, start - timedelta(hours=1), back, "holiday")
        _save(engine, "notify_absent", [ALERT, {**ALERT, "id": "urgent_alert", "urgent": True}])
        out_contact = _contact(engine, owner_id=owner)
        out = await _run(ts_env, engine, edge_settings, "notify_absent", out_contact)
        assert [(s, st) for s, st, _ in out.steps] == [("tell_owner", "sent"), ("urgent_alert", "sent")]
        with session_scope(engine) as session:
            rows = {r.step_id: r for r in ledger.list_page(session, run_id=out.run_id)}
        first, second = rows["tell_owner"], rows["urgent_alert"]
        assert as_utc(first.decided_at) is not None and as_utc(first.decided_at) >= back  # type: ignore[operator]
        # The urgent one went as soon as it was asked (right after the first, still in the absence).
        assert as_utc(second.decided_at) < back + timedelta(minutes=1)  # type: ignore[operator]
        assert len(outbox.store.list(limit=None)) == 2
        with session_scope(engine) as session:
            deferred = [e.summary for e in timeline.page(session, out_contact, before=None, limit=50)
                        if e.kind == "message.deferred"]
        assert deferred == [f"email deferred until {back:%Y-%m-%d %H:%M} UTC: absent"]
