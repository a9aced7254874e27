"""Each step type of the definition language, run by SequenceWorkflow on the time-skipping server."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough import clock
from followthrough.calendar import (
    Calendar,
    add_business_time,
    calendars_with,
    next_local_time,
)
from followthrough.clock import Relative
from followthrough.dsl.waits import split_bucket
from followthrough.enrollment import enroll
from followthrough.models.runs import RunEvent, SequenceInput, SequenceResult
from followthrough.policy.people_policy import LEGACY_ADDRESS
from followthrough.settings import Settings
from followthrough.store import contacts, definitions, ledger, runs, users
from followthrough.store.db import session_scope
from tests.conftest import TEST_CONVERTER
from tests.support.stack import running_worker

BUDAPEST = ZoneInfo("Europe/Budapest")
MAIL = {"type": "send", "channel": "email", "template": "welcome"}


@dataclass
class Outcome:
    result: SequenceResult
    steps: list[tuple[str, str, str | None]]
    due: dict[str, datetime]
    started: dict[str, datetime]
    run_reason: str | None
    run_id: str
    #: The calendars the run decided with: its holiday dates are the ones pinned at enrollment
    #: (for the real clock's years), not the package's for the test server's far-skipped ones.
    calendars: dict[str, Calendar]


def _utc(value: datetime | None) -> datetime:
    assert value is not None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _save(engine: Engine, name: str, steps: list[dict[str, Any]], **top: Any) -> None:
    document = {"name": name, "kind": "sequence", "category": "service", "locales": ["en"],
                "stop_on": [], "steps": steps, **top}
    with session_scope(engine) as session:
        definitions.save(session, name, "sequence", document, publish=True)


def _contact(engine: Engine, **fields: Any) -> int:
    values = {"name": "Ada", "email": "ada@example.test", "phone": "+15555550171", **fields}
    with session_scope(engine) as session:
        return contacts.create(session, values).id  # type: ignore[return-value]


Driver = Callable[[WorkflowHandle], Awaitable[None]]


async def _run(ts_env: WorkflowEnvironment, engine: Engine, settings: Settings, name: str,
               contact_id: int, *, data: dict[str, Any] | None = None,
               drive: Driver | None = None, skip: timedelta = timedelta(days=3)) -> Outcome:
    settings = settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})

    async def client():  # type: ignore[no-untyped-def]
        return ts_env.client

    async with running_worker(ts_env.client, settings, engine):
        run, _ = await enroll(engine, client, settings, name, contact_id, data or {})
        handle = ts_env.client.get_workflow_handle(run.workflow_id, result_type=SequenceResult)
        if drive is not None:
            await drive(handle)
        await ts_env.sleep(skip)
        result = await handle.result()
        history = await handle.fetch_history()
    [start] = await TEST_CONVERTER.decode(
        history.events[0].workflow_execution_started_event_attributes.input.payloads, [SequenceInput])
    with session_scope(engine) as session:
        rows = runs.steps(session, run.id)
        row = runs.get(session, run.id)
        return Outcome(
            result=result,
            steps=[(s.step_id, s.state, s.reason) for s in rows],
            due={s.step_id: _utc(s.due_at) for s in rows if s.due_at is not None},
            started={s.step_id: _utc(s.started_at) for s in rows if s.started_at is not None},
            run_reason=row.reason, run_id=run.id,
            calendars=calendars_with(start.calendars, start.holidays),
        )


class TestBranching:
    async def test_if_true_takes_then_and_exit_records_its_reason(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        _save(engine, "branching", [
            {"id": "check", "type": "if", "condition": "data.vip and contact.locale == 'en'",
             "then": "vip_mail", "else": "done"},
            {"id": "plain_mail", **MAIL},
            {"id": "vip_mail", **MAIL},
            {"id": "done", "type": "exit", "reason": "handled"},
        ])
        out = await _run(ts_env, engine, edge_settings, "branching", _contact(engine), data={"vip": True})
        assert (out.result.status, out.result.reason, out.run_reason) == ("completed", "handled", "handled")
        assert [(s, st) for s, st, _ in out.steps] == [("check", "done"), ("vip_mail", "sent"), ("done", "done")]
        assert out.steps[0][2] == "true -> vip_mail"
        assert len(outbox.store.list(limit=None)) == 1

    async def test_if_false_goes_to_else_and_goto_jumps(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        _save(engine, "branching_else", [
            {"id": "check", "type": "if", "condition": "lead.score >= 50", "then": "mail", "else": "skip"},
            {"id": "mail", **MAIL},
            {"id": "skip", "type": "goto", "goto": "end"},
            {"id": "never", **MAIL},
            {"id": "end", "type": "exit", "reason": "cold lead"},
        ])
        out = await _run(ts_env, engine, edge_settings, "branching_else", _contact(engine))
        assert [(s, st, r) for s, st, r in out.steps] == [
            ("check", "done", "false -> skip"), ("skip", "done", "-> end"), ("end", "done", "cold lead")]
        assert out.result.reason == "cold lead" and outbox.store.list(limit=None) == []

    async def test_split_sends_the_contact_to_its_stable_variant(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        _save(engine, "ab_test", [
            {"id": "ab", "type": "split", "variants": [{"percent": 50, "goto": "a"}, {"percent": 50, "goto": "b"}]},
            {"id": "a", "type": "exit", "reason": "variant a"},
            {"id": "b", "type": "exit", "reason": "variant b"},
        ])
        contact_id = _contact(engine)
        expected = "variant a" if split_bucket(contact_id, "ab") < 50 else "variant b"
        out = await _run(ts_env, engine, edge_settings, "ab_test", contact_id)
        assert out.result.reason == expected


class TestWaits:
    async def test_each_wait_kind_gets_its_exact_due_time(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        _save(engine, "waits", [
            {"id": "plain", "type": "wait", "duration": "PT1H"},
            {"id": "office", "type": "wait", "business": {"duration": "PT4H", "calendar": "budapest_office"}},
            {"id": "morning", "type": "wait", "until_local_time": "09:30"},
            {"id": "before_arrival", "type": "wait",
             "until_date": {"attribute": "contact.attributes.arrival_date", "offset": "-P1D", "at": "10:00"}},
            {"id": "missing", "type": "wait", "until_date": {"attribute": "data.nothing"}},
        ])
        # The test server's clock is shared by every test (and skipped far ahead by some).
        arrival = (await ts_env.get_current_time() + timedelta(days=400)).date()
        contact_id = _contact(engine, time_zone="Europe/Budapest", attributes={"arrival_date": arrival.isoformat()})
        out = await _run(ts_env, engine, edge_settings, "waits", contact_id, skip=timedelta(days=420))
        assert out.result.status == "completed"
        # Each wait starts when the previous timer fired (workflow.now(), a few ms after its due).
        assert out.due["plain"] == out.started["plain"] + timedelta(hours=1)
        assert out.started["office"] - out.due["plain"] < timedelta(seconds=5)
        assert out.due["office"] == add_business_time(out.calendars["budapest_office"], out.started["office"], timedelta(hours=4))
        assert out.due["morning"] == next_local_time("Europe/Budapest", "09:30", out.started["morning"])
        local = datetime.combine(arrival - timedelta(days=1), datetime.min.time().replace(hour=10))
        assert out.due["before_arrival"].astimezone(BUDAPEST).replace(tzinfo=None) == local
        assert out.steps[-1] == ("missing", "skipped", "data.nothing is not set")


class TestEvents:
    async def test_wait_for_gets_an_event_that_arrived_while_the_run_was_busy(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        _save(engine, "await_reply", [
            {"id": "pause", "type": "wait", "duration": "PT1H"},
            {"id": "answer", "type": "wait_for", "event": "reply", "timeout": "P2D", "as": "answer"},
            {"id": "check", "type": "if", "condition": "events.answer.received and events.answer.data.text == 'yes'",
             "then": "thanks", "else": "nothing"},
            {"id": "thanks", "type": "exit", "reason": "answered"},
            {"id": "nothing", "type": "exit", "reason": "silent"},
        ])

        async def drive(handle: WorkflowHandle) -> None:
            await ts_env.sleep(timedelta(minutes=10))  # inside "pause"
            await handle.signal("event", RunEvent(kind="reply", data={"text": "yes"}))

        out = await _run(ts_env, engine, edge_settings, "await_reply", _contact(engine), drive=drive)
        assert out.result.reason == "answered"
        answer = next(s for s in out.steps if s[0] == "answer")
        assert answer[1:] == ("done", "reply received")
        # The buffered reply ended the wait_for at once, not after its two-day timeout.
        assert out.started["answer"] - out.due["pause"] < timedelta(seconds=5)
        assert out.started["check"] - out.started["answer"] < timedelta(seconds=5)

    async def test_wait_for_times_out(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        _save(engine, "await_ticket", [
            {"id": "resolved", "type": "wait_for", "event": "ticket.resolved", "timeout": "P1D"},
            {"id": "check", "type": "if", "condition": "events['ticket.resolved'].received",
             "then": "ok", "else": "late"},
            {"id": "ok", "type": "exit", "reason": "resolved"},
            {"id": "late", "type": "exit", "reason": "not resolved in a day"},
        ])
        out = await _run(ts_env, engine, edge_settings, "await_ticket", _contact(engine))
        assert out.result.reason == "not resolved in a day"
        assert out.steps[0][1:] == ("done", "timed out")
        assert out.due["resolved"] == out.started["resolved"] + timedelta(days=1)

    async def test_wait_for_times_out_in_working_time(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        office = {"after": "PT8H", "business": True, "calendar": "budapest_office"}
        callback = {"after": "P1D", "business": True, "at": "10:00", "zone": "contact"}
        _save(engine, "await_in_office_hours", [
            {"id": "office", "type": "wait_for", "event": "reply", "timeout": office},
            {"id": "callback", "type": "wait_for", "event": "reply", "timeout": callback},
        ])
        contact_id = _contact(engine, time_zone="Europe/Moscow")
        out = await _run(ts_env, engine, edge_settings, "await_in_office_hours", contact_id, skip=timedelta(days=10))
        assert out.result.status == "completed"
        assert [(s, st, r) for s, st, r in out.steps] == [("office", "done", "timed out"), ("callback", "done", "timed out")]
        # Eight working hours on the Budapest office's calendar (lunch, nights, weekends, holidays).
        assert out.due["office"] == add_business_time(out.calendars["budapest_office"], out.started["office"],
                                                      timedelta(hours=8))
        # The next working day of the default calendar, at 10:00 in the contact's zone.
        expected = clock.due(Relative.model_validate(callback), out.started["callback"], zone_name="Europe/Moscow",
                             zones={"contact": "Europe/Moscow"}, calendar=out.calendars["default"])
        assert out.due["callback"] == expected
        local = expected.astimezone(ZoneInfo("Europe/Moscow"))
        assert (local.hour, local.minute, local.weekday() < 5) == (10, 0, True)
        assert out.started["callback"] - out.due["office"] < timedelta(seconds=5)

    async def test_goal_reached_by_an_event_converts_the_run(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        _save(engine, "goal_run", [
            {"id": "mail", **MAIL},
            {"id": "long", "type": "wait", "duration": "P10D"},
            {"id": "again", **MAIL},
        ], goal="events.purchase.received")

        async def drive(handle: WorkflowHandle) -> None:
            await ts_env.sleep(timedelta(hours=1))
            await handle.signal("event", RunEvent(kind="purchase", data={"order": "A1"}))

        out = await _run(ts_env, engine, edge_settings, "goal_run", _contact(engine), drive=drive)
        assert (out.result.status, out.result.reason) == ("converted", "goal reached")
        assert [(s, st, r) for s, st, r in out.steps][-1] == ("long", "done", "goal reached")
        assert len(outbox.store.list(limit=None)) == 1


class TestContactSteps:
    async def test_set_changes_an_attribute_and_the_lead_score_and_conditions_see_it(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        _save(engine, "scoring", [
            {"id": "tier", "type": "set", "target": "contact.attributes.tier", "value": "gold"},
            {"id": "score", "type": "set", "target": "lead.score", "expression": "lead.score + 60"},
            {"id": "check", "type": "if", "condition": "lead.score >= 50 and contact.attributes.tier == 'gold'",
             "then": "hot", "else": "cold"},
            {"id": "hot", "type": "exit", "reason": "hot"},
            {"id": "cold", "type": "exit", "reason": "cold"},
        ])
        contact_id = _contact(engine, attributes={"lead_score": 5})
        out = await _run(ts_env, engine, edge_settings, "scoring", contact_id)
        assert out.result.reason == "hot"
        with session_scope(engine) as session:
            assert contacts.get(session, contact_id).attributes == {"lead_score": 65, "tier": "gold"}

    async def test_start_enrolls_the_contact_in_another_sequence_once(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        _save(engine, "sales_track", [{"id": "hold", "type": "wait", "duration": "P1D"}])
        _save(engine, "nurture", [
            {"id": "to_sales", "type": "start", "definition": "sales_track", "data": {"from": "nurture"}},
            {"id": "again", "type": "start", "definition": "sales_track"},
            {"id": "nowhere", "type": "start", "definition": "no_such_sequence"},
        ])
        contact_id = _contact(engine)
        out = await _run(ts_env, engine, edge_settings, "nurture", contact_id)
        assert [(s, st) for s, st, _ in out.steps] == [
            ("to_sales", "done"), ("again", "done"), ("nowhere", "failed")]
        assert out.steps[1][2] is not None and out.steps[1][2].endswith("already running")
        assert out.steps[2][2] == "sequence 'no_such_sequence' does not exist"
        with session_scope(engine) as session:
            started = [r for r in runs.list_page(session, contact_id=contact_id) if r.definition_name == "sales_track"]
        assert len(started) == 1 and started[0].data == {"from": "nurture"}

    async def test_an_internal_send_reaches_the_users_own_address(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        with session_scope(engine) as session:
            rep, _ = users.create(session, name="Rep", email="rep@example.test", role="rep")
        _save(engine, "notify_rep", [{"id": "tell_rep", "type": "send", "channel": "internal",
                                      "template": "welcome", "to_user": "data.rep_id"}])
        contact_id = _contact(engine)
        # An address in the data is ignored: only the users table gives one.
        out = await _run(ts_env, engine, edge_settings, "notify_rep", contact_id,
                         data={"rep_id": str(rep.id), "rep_email": "evil@example.test"})
        assert out.steps == [("tell_rep", "sent", None)]
        assert [(c.channel, c.to) for c in outbox.store.list(limit=None)] == [("email", "rep@example.test")]
        with session_scope(engine) as session:
            [row] = ledger.list_page(session, run_id=out.run_id)
        assert (row.to_user_id, row.to_address, row.contact_id) == (rep.id, "rep@example.test", contact_id)

    async def test_an_internal_send_to_a_missing_user_is_a_skipped_step(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        _save(engine, "notify_nobody", [{"id": "tell_rep", "type": "send", "channel": "internal",
                                         "template": "welcome", "to_user": "data.rep_id"}])
        out = await _run(ts_env, engine, edge_settings, "notify_nobody", _contact(engine), data={"rep_id": 424242})
        assert out.steps == [("tell_rep", "skipped", "no_recipient: user 424242 does not exist")]
        assert outbox.store.list(limit=None) == []
        with session_scope(engine) as session:
            [row] = ledger.list_page(session, run_id=out.run_id)
        assert (row.state, row.reason, row.to_address) == ("skipped", "no_recipient: user 424242 does not exist", None)

    async def test_a_version_saved_before_to_user_never_sends_to_the_data_address(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        # Stored as such versions were (definitions.save does not run the validator).
        _save(engine, "notify_old", [{"id": "tell_rep", "type": "send", "channel": "internal", "template": "welcome"}])
        out = await _run(ts_env, engine, edge_settings, "notify_old", _contact(engine),
                         data={"rep_email": "rep@example.test"})
        assert out.steps == [("tell_rep", "skipped", LEGACY_ADDRESS)]
        assert outbox.store.list(limit=None) == []

    async def test_an_internal_send_without_a_user_id_in_the_data_is_skipped(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        _save(engine, "notify_unset", [{"id": "tell_rep", "type": "send", "channel": "internal",
                                        "template": "welcome", "to_user": "data.rep_id"}])
        out = await _run(ts_env, engine, edge_settings, "notify_unset", _contact(engine),
                         data={"rep_email": "rep@example.test"})
        assert out.steps == [("tell_rep", "skipped", "no_recipient: data.rep_id is not set")]
        assert outbox.store.list(limit=None) == []



