"""TicketWorkflow on the time-skipping server, sending through the real door to the loopback
outbox: the acknowledgement, the SLA clocks on the Budapest calendar (a weekend and a Hungarian
public holiday), the full ladder at its exact business minute, pause and resume with the exact
remaining budget, priority changes and calendar edits mid-flight, resolution, the survey and
reopening, and the complaint's hold on sales messages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.calendar import pin_holidays
from followthrough.models.tickets import (
    PriorityInput,
    ResolveInput,
    RespondInput,
    StatusInput,
    TicketStatus,
)
from followthrough.settings import Settings
from followthrough.store import calendars, ledger
from followthrough.store import tickets as store
from followthrough.store.db import as_utc, session_scope
from followthrough.tickets import service
from followthrough.tickets.service import InvalidTransition
from tests.conftest import start_time_skipping, terminate_open_runs
from tests.support.stack import running_worker
from tests.support.tasks import contact, emails_to, person
from tests.support.tickets import (
    open_ticket,
    publish_policy,
    support_team,
    ticket_events,
    ticket_row,
)

BUDAPEST = ZoneInfo("Europe/Budapest")


@dataclass
class Env:
    ts: WorkflowEnvironment
    engine: Engine
    settings: Settings
    outbox: OutboxHandle
    agent: int
    manager: int
    head: int
    customer: int


@pytest.fixture(scope="module")
async def ticket_ts() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this module's own. Its tests skip months ahead (to the next
    Friday holiday): on the shared server that fires the timers of every workflow earlier tests
    left open, whose workflow tasks nobody polls any more, and a server with work nobody polls
    for stops skipping time (the sleep then times out)."""
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture
async def env(ticket_ts: WorkflowEnvironment, engine: Engine, edge_settings: Settings,
              outbox: OutboxHandle) -> AsyncIterator[Env]:
    ts_env = ticket_ts
    settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
    manager = person(engine, "Marta", role="manager")
    agent = person(engine, "Adam", manager_id=manager)
    head = person(engine, "Helga", role="manager")
    support_team(engine, [agent], manager)
    publish_policy(engine, head)
    customer = contact(engine, email="anna@example.test", phone="+79990001122", locale="ru",
                       time_zone="Europe/Moscow")
    async with running_worker(ts_env.client, settings, engine):
        yield Env(ts_env, engine, settings, outbox, agent, manager, head, customer)
    await terminate_open_runs(engine, ts_env.client)


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BUDAPEST).astimezone(UTC)


def _friday_holiday_after(today: date) -> date:
    """The next Hungarian public holiday on a Friday whose Thursday and Monday are working days."""
    pinned = pin_holidays(["HU"], today.year, today.year + 3)["HU"]
    closed = set(pinned.closed)
    for holiday in sorted(closed):
        if holiday > today + timedelta(days=1) and holiday.weekday() == 4 \
                and holiday - timedelta(days=1) not in closed and holiday + timedelta(days=3) not in closed:
            return holiday
    raise AssertionError("no Friday holiday in the years pinned")


async def _until(env: Env, moment: datetime) -> None:
    now = await env.ts.get_current_time()
    assert moment > now, f"{moment} is already past ({now})"
    await env.ts.sleep(moment - now)


def _near(value: datetime | int | None, expected: datetime | int) -> bool:
    """Within two seconds: an action reaches the workflow a few milliseconds after the test's
    instant (the time-skipping server's clock runs on while it is handled)."""
    assert value is not None
    if isinstance(value, datetime) and isinstance(expected, datetime):
        return abs(as_utc(value) - expected) <= timedelta(seconds=2)  # type: ignore[operator]
    return abs(value - expected) <= 2  # type: ignore[operator]


def _on_time(event) -> bool:  # type: ignore[no-untyped-def]
    """Fired at its instant: the workflow task that carries out the timer runs within a second."""
    return 0 <= event.detail["lateness_ms"] < 1000


class TestClockAndLadder:
    async def test_the_ladder_fires_at_the_exact_business_minute_across_a_holiday_and_a_weekend(
            self, env: Env) -> None:
        holiday = _friday_holiday_after((await env.ts.get_current_time()).date())
        thursday, monday = holiday - timedelta(days=1), holiday + timedelta(days=3)
        opened_at = _local(thursday, 15)
        await _until(env, opened_at)
        ticket = await open_ticket(env.engine, env.ts.client, env.settings, opened_at, env.customer,
                                   subject="Жалоба на заказ", text="Пишу жалобу: посылка пришла пустой.")
        await env.ts.sleep(timedelta(seconds=5))
        row = ticket_row(env.engine, ticket.id or 0)
        # Classified by the word form «жалобу», routed to the team, assigned in it.
        assert (row.category, row.priority, row.assignee_id) == ("complaint", "high", env.agent)
        # 2 working hours from Thursday 15:00: 17:00; 8 of them: Thursday 2 h, the holiday and
        # the weekend closed, Monday 09-12 and 13-16.
        assert as_utc(row.first_response_due_at) == _local(thursday, 17)
        assert as_utc(row.resolution_due_at) == _local(monday, 16)
        [ack] = emails_to(env.outbox, "anna@example.test")
        assert ack.subject == f"Мы получили ваше обращение #{ticket.id}"
        # The promised first response in the customer's zone (Moscow: Budapest + 2 h in winter).
        moscow = _local(thursday, 17).astimezone(ZoneInfo("Europe/Moscow"))
        assert f"{moscow:%H:%M}" in ack.text and "Москва" in ack.text, ack.text

        # At-risk warning at 75 % of the first response (16:30), to the assignee.
        await _until(env, _local(thursday, 16, 31))
        [warning] = ticket_events(env.engine, ticket.id or 0, "warning")
        assert warning.detail["told"] == [env.agent] and _on_time(warning)
        assert as_utc(datetime.fromisoformat(warning.detail["due_at"])) == _local(thursday, 16, 30)
        [risk] = emails_to(env.outbox, "adam@example.test")
        assert risk.subject == f"At risk: #{ticket.id} has 30 min left"
        assert "Пишу жалобу: посылка пришла пустой." in risk.text

        # The first response breached at 17:00 (no rung told for it: tier 0).
        await _until(env, _local(thursday, 17, 1))
        [breach] = ticket_events(env.engine, ticket.id or 0, "breach")
        assert (breach.detail["target"], breach.detail["tier"], breach.detail["told"]) == ("first_response", 0, [])
        assert _on_time(breach)

        # Half the resolution budget (4 h): Thursday 2 h, Monday 09:00-11:00 -> the manager.
        await _until(env, _local(monday, 10, 59))
        assert emails_to(env.outbox, "marta@example.test") == []
        await _until(env, _local(monday, 11, 1))
        [manager_mail] = emails_to(env.outbox, "marta@example.test")
        assert manager_mail.subject == f"Escalation (tier 1): #{ticket.id} Жалоба на заказ"
        assert "Time left: 240 min" in manager_mail.text

        # The whole budget at Monday 16:00: the head of support (tier 2), then the breach names them.
        await _until(env, _local(monday, 16, 1))
        [head_mail] = emails_to(env.outbox, "helga@example.test")
        assert head_mail.subject == f"Escalation (tier 2): #{ticket.id} Жалоба на заказ"
        escalations = ticket_events(env.engine, ticket.id or 0, "escalation")
        assert [(e.detail["tier"], e.detail["told"]) for e in escalations] == [(1, [env.manager]), (2, [env.head])]
        assert all(_on_time(e) for e in escalations)
        breaches = ticket_events(env.engine, ticket.id or 0, "breach")
        assert [(b.detail["target"], b.detail["tier"], b.detail["told"]) for b in breaches] == [
            ("first_response", 0, []), ("resolution", 2, [env.head])]


class TestAcknowledgement:
    async def test_the_acknowledgement_goes_at_once_even_in_quiet_hours(self, env: Env) -> None:
        from datetime import time as clock_time

        from followthrough.policy.contact_policy import PolicyConfig, QuietHours
        from followthrough.store.policy import put_config

        now = await env.ts.get_current_time()
        moscow = now.astimezone(ZoneInfo("Europe/Moscow"))
        # Quiet for SMS from an hour before to an hour after the customer's current time.
        quiet = QuietHours(start=clock_time((moscow.hour - 1) % 24), end=clock_time((moscow.hour + 2) % 24),
                           channels=["sms"], on_holidays=False)
        with session_scope(env.engine) as session:
            put_config(session, PolicyConfig(quiet_hours=quiet))
        ticket = await open_ticket(env.engine, env.ts.client, env.settings, now, env.customer, channel="sms",
                                   subject="", text="Жалоба: нет посылки")
        await env.ts.sleep(timedelta(seconds=10))
        with session_scope(env.engine) as session:
            [row] = ledger.list_page(session, run_id=f"ticket-{ticket.id}")
        assert (row.state, row.decision, row.category) == ("sent", "send", "transactional")  # not deferred
        [ack] = env.outbox.store.list(channel="sms", to="+79990001122", limit=None)
        assert ack.text.startswith(f"Мы получили ваше обращение #{ticket.id}. Ответим до ")


class TestPeoplesWorkingTime:
    async def test_a_warning_outside_the_assignees_working_time_waits_for_their_next_working_minute(
            self, env: Env) -> None:
        from followthrough.store.tables import User

        with session_scope(env.engine) as session:
            calendars.put(session, calendars.parse("early_shift", {
                "time_zone": "Europe/Budapest", "week": {d: [["08:00", "16:00"]] for d in
                                                         ("mon", "tue", "wed", "thu", "fri")}}))
            agent = session.get(User, env.agent)
            agent.calendar = "early_shift"  # type: ignore[union-attr]
            session.add(agent)
        now = await env.ts.get_current_time()
        day = now.astimezone(BUDAPEST).date() + timedelta(days=1)
        while day.weekday() != 1 or day + timedelta(days=1) in set(pin_holidays(["HU"], day.year, day.year)["HU"].closed):
            day += timedelta(days=1)
        await _until(env, _local(day, 15))
        ticket = await open_ticket(env.engine, env.ts.client, env.settings, _local(day, 15), env.customer,
                                   subject="Жалоба", text="Жалоба на курьера")
        # The warning is due at 16:30 (75 % of 2 h): after the agent's shift, so it waits.
        await _until(env, _local(day, 16, 31))
        [warning] = ticket_events(env.engine, ticket.id or 0, "warning")
        assert _on_time(warning) and warning.detail["told"] == [env.agent]
        assert emails_to(env.outbox, "adam@example.test") == []
        await _until(env, _local(day + timedelta(days=1), 7, 59))
        assert emails_to(env.outbox, "adam@example.test") == []
        await _until(env, _local(day + timedelta(days=1), 8, 1))
        [risk] = emails_to(env.outbox, "adam@example.test")
        assert risk.subject.startswith(f"At risk: #{ticket.id}")


class TestPauseAndResume:
    async def test_waiting_on_the_customer_pauses_and_their_reply_resumes_with_the_exact_budget(
            self, env: Env) -> None:
        now = await env.ts.get_current_time()
        day = now.astimezone(BUDAPEST).date() + timedelta(days=1)
        while day.weekday() != 1:  # a Tuesday
            day += timedelta(days=1)
        await _until(env, _local(day, 10))
        ticket = await open_ticket(env.engine, env.ts.client, env.settings, _local(day, 10), env.customer,
                                   subject="Question", text="Where is my invoice?")
        await env.ts.sleep(timedelta(minutes=30))
        view = await service.act(env.engine, env.ts.client, ticket.id or 0, "status",
                                 StatusInput(status=TicketStatus.WAITING_ON_CUSTOMER))
        assert view.status == TicketStatus.WAITING_ON_CUSTOMER
        # normal: first response 8 working hours, 30 min used.
        assert _near(view.time_left["first_response"], 7 * 3600 + 30 * 60)
        assert view.deadlines["first_response"] is None  # paused
        await env.ts.sleep(timedelta(days=2))  # Thursday 10:30: paused all along
        await service.add_customer_message(env.engine, env.ts.client, ticket.id or 0, channel="email",
                                           text="Here is the order number.", message_key="<m1@example.test>")
        await env.ts.sleep(timedelta(seconds=2))
        row = ticket_row(env.engine, ticket.id or 0)
        assert row.status == "open"
        # Resumed Thursday 10:30 with 7 h 30 left: 10:30-12:00, 13:00-17:00, Friday 09:00-11:00.
        assert _near(row.first_response_due_at, _local(day + timedelta(days=3), 11))
        pause, resume = [e.detail for e in ticket_events(env.engine, ticket.id or 0, "clock")]
        assert (pause["change"], resume["change"]) == ("pause", "resume")
        # Exactly the budget left at the pause, to the second, after two days of waiting.
        assert resume["remaining_seconds"] == pause["remaining_seconds"]
        assert _near(pause["remaining_seconds"]["first_response"], 27000)

    async def test_a_status_the_ticket_has_is_refused_with_409_naming_it(self, env: Env) -> None:
        now = await env.ts.get_current_time()
        ticket = await open_ticket(env.engine, env.ts.client, env.settings, now, env.customer,
                                   subject="Question", text="Hello")
        await service.act(env.engine, env.ts.client, ticket.id or 0, "resolve", ResolveInput(note="done"))
        with pytest.raises(InvalidTransition, match="is resolved; priority is not allowed"):
            await service.act(env.engine, env.ts.client, ticket.id or 0, "priority", PriorityInput(priority="high"))
        await env.ts.sleep(timedelta(seconds=2))
        assert [c.subject for c in emails_to(env.outbox, "anna@example.test")] == [
            f"Мы получили ваше обращение #{ticket.id}", f"Ваше обращение #{ticket.id} решено"]


class TestRecompute:
    async def test_a_priority_change_recomputes_the_clocks_with_the_time_used(self, env: Env) -> None:
        now = await env.ts.get_current_time()
        day = now.astimezone(BUDAPEST).date() + timedelta(days=1)
        while day.weekday() != 1:
            day += timedelta(days=1)
        await _until(env, _local(day, 9))
        ticket = await open_ticket(env.engine, env.ts.client, env.settings, _local(day, 9), env.customer,
                                   subject="Question", text="Where is my invoice?")
        await env.ts.sleep(timedelta(hours=1))
        view = await service.act(env.engine, env.ts.client, ticket.id or 0, "priority", PriorityInput(priority="high"))
        # high: 2 h first response, 1 h used -> 1 h left, due at 11:00; resolution 8 h - 1 h.
        assert _near(view.time_left["first_response"], 3600) and _near(view.time_left["resolution"], 7 * 3600)
        row = ticket_row(env.engine, ticket.id or 0)
        assert _near(row.first_response_due_at, _local(day, 11))
        [change] = [e for e in ticket_events(env.engine, ticket.id or 0, "clock") if e.detail["change"] == "priority"]
        assert change.detail["remaining_seconds"] == view.time_left  # recorded with the change

    async def test_a_calendar_edit_moves_the_running_deadlines(self, env: Env) -> None:
        with session_scope(env.engine) as session:
            calendars.put(session, calendars.parse("support_hours", {
                "time_zone": "Europe/Budapest", "week": {d: [["09:00", "17:00"]] for d in
                                                         ("mon", "tue", "wed", "thu", "fri")}}))
        publish_policy(env.engine, env.head, calendar="support_hours")
        now = await env.ts.get_current_time()
        day = now.astimezone(BUDAPEST).date() + timedelta(days=1)
        while day.weekday() != 1:
            day += timedelta(days=1)
        await _until(env, _local(day, 9))
        ticket = await open_ticket(env.engine, env.ts.client, env.settings, _local(day, 9), env.customer,
                                   subject="Question", text="Where is my invoice?")
        await env.ts.sleep(timedelta(hours=2))
        assert _near(ticket_row(env.engine, ticket.id or 0).first_response_due_at, _local(day, 17))
        edited = {"time_zone": "Europe/Budapest", "week": {d: [["09:00", "13:00"]] for d in
                                                           ("mon", "tue", "wed", "thu", "fri")}}
        with session_scope(env.engine) as session:
            calendars.put(session, calendars.parse("support_hours", edited))
        told = await service.calendar_edited(env.engine, env.ts.client, "support_hours", edited)
        assert told == [ticket.id]
        await env.ts.sleep(timedelta(seconds=2))
        # 2 h used of 8; 6 h left on 09-13 days from 11:00: 2 h today, 4 h on Wednesday.
        assert _near(ticket_row(env.engine, ticket.id or 0).first_response_due_at,
                     _local(day + timedelta(days=1), 13))


class TestResolution:
    async def test_a_low_survey_score_by_sms_reopens_and_tells_the_manager(self, env: Env) -> None:
        now = await env.ts.get_current_time()
        ticket = await open_ticket(env.engine, env.ts.client, env.settings, now, env.customer, channel="sms",
                                   subject="", text="Жалоба: курьер нагрубил")
        await env.ts.sleep(timedelta(seconds=2))  # the acknowledgement first
        with session_scope(env.engine) as session:
            message, _ = store.add_message(session, ticket.id or 0, direction="out", body="Мы разберёмся.",
                                           channel="sms", author_id=env.agent)
        await service.act(env.engine, env.ts.client, ticket.id or 0, "respond",
                          RespondInput(message_id=message.id or 0, author_id=env.agent))
        await service.act(env.engine, env.ts.client, ticket.id or 0, "resolve", ResolveInput(note="Извинились."))
        await env.ts.sleep(timedelta(hours=1, minutes=1))
        texts = [c.text for c in reversed(env.outbox.store.list(channel="sms", to="+79990001122", limit=None))]
        assert texts[0].startswith(f"Мы получили ваше обращение #{ticket.id}.")
        assert texts[1:] == [f"Мы разберёмся. (#{ticket.id})",
                             f"Ваше обращение #{ticket.id} решено. Если что-то не так, просто ответьте.",
                             f"Как мы справились с обращением #{ticket.id}? Ответьте цифрой от 1 (плохо) до 5 (отлично)."]
        assert await service.survey_reply(env.engine, env.ts.client, contact_id=env.customer, text="2") == ticket.id
        await env.ts.sleep(timedelta(seconds=2))
        row = ticket_row(env.engine, ticket.id or 0)
        assert (row.status, row.csat, row.reopened) == ("open", None, 1)
        [survey] = [e for e in ticket_events(env.engine, ticket.id or 0, "survey") if "score" in e.detail]
        assert survey.detail == {"score": 2, "via": "sms"}
        [low] = emails_to(env.outbox, "marta@example.test")
        assert low.subject == f"Low score 2 on #{ticket.id}"
        # Not a survey answer any more: the ticket is open.
        assert await service.survey_reply(env.engine, env.ts.client, contact_id=env.customer, text="5") is None
        await env.ts.sleep(timedelta(seconds=2))

    async def test_a_customer_reply_after_resolution_reopens_and_silence_closes(self, env: Env) -> None:
        now = await env.ts.get_current_time()
        first = await open_ticket(env.engine, env.ts.client, env.settings, now, env.customer,
                                  subject="Question", text="Hello")
        second = await open_ticket(env.engine, env.ts.client, env.settings, now, env.customer,
                                   subject="Another", text="Hi")
        for ticket in (first, second):
            await service.act(env.engine, env.ts.client, ticket.id or 0, "resolve", ResolveInput(note="done"))
        await service.add_customer_message(env.engine, env.ts.client, first.id or 0, channel="email",
                                           text="Still broken.", message_key="<r1@example.test>")
        await env.ts.sleep(timedelta(seconds=2))
        assert ticket_row(env.engine, first.id or 0).status == "open"
        await env.ts.sleep(timedelta(days=7, minutes=1))
        assert ticket_row(env.engine, first.id or 0).status == "open"
        row = ticket_row(env.engine, second.id or 0)
        assert row.status == "closed" and _near(row.closed_at, as_utc(row.resolved_at) + timedelta(days=7))  # type: ignore[operator]


class TestComplaintHold:
    async def test_a_sales_message_waits_while_a_complaint_is_open_and_goes_when_it_is_resolved(
            self, env: Env) -> None:
        from followthrough.enrollment import enroll
        from followthrough.store import definitions, ledger

        now = await env.ts.get_current_time()
        ticket = await open_ticket(env.engine, env.ts.client, env.settings, now, env.customer,
                                   subject="Жалоба", text="Это жалоба на доставку.")
        await env.ts.sleep(timedelta(seconds=2))
        assert ticket_row(env.engine, ticket.id or 0).hold_id is not None
        name = "demo_offer"
        with session_scope(env.engine) as session:
            definitions.save(session, name, "sequence", {
                "name": name, "kind": "sequence", "category": "sales", "locales": ["en", "ru", "hu"],
                "steps": [{"id": "offer", "type": "send", "channel": "email", "template": "nurture_demo_offer"}],
            }, publish=True)

        async def client():  # type: ignore[no-untyped-def]
            return env.ts.client

        run, _ = await enroll(env.engine, client, env.settings, name, env.customer, {})
        await env.ts.sleep(timedelta(minutes=10))
        with session_scope(env.engine) as session:
            [held] = ledger.list_page(session, run_id=run.id)
        assert (held.state, held.reason) == ("deferred", f"hold:ticket {ticket.id} is open")
        assert [c.subject for c in emails_to(env.outbox, "anna@example.test")] == [
            f"Мы получили ваше обращение #{ticket.id}"]

        resolved_at = await env.ts.get_current_time()
        await service.act(env.engine, env.ts.client, ticket.id or 0, "resolve", ResolveInput(note="Вернули деньги."))
        await env.ts.sleep(timedelta(seconds=3))  # well before the hold's hourly re-check
        with session_scope(env.engine) as session:
            [sent] = ledger.list_page(session, run_id=run.id)
        assert sent.state == "sent"
        assert as_utc(sent.sent_at) - resolved_at < timedelta(minutes=1)  # type: ignore[operator]
        subjects = sorted(c.subject or "" for c in emails_to(env.outbox, "anna@example.test"))
        assert subjects == sorted([f"Мы получили ваше обращение #{ticket.id}", f"Ваше обращение #{ticket.id} решено",
                                   "Хотите увидеть, как это работает на ваших задачах?"])
