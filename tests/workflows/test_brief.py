"""The daily brief workflow on the time-skipping server, with the production worker and the
loopback outbox: one message with today's tasks in time order and the overdue ones; nothing
to say, an absent user or a day off: no message."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.calendar import Calendar
from followthrough.models.brief import BriefInput, BriefResult
from followthrough.models.vocab import TaskState
from followthrough.settings import Settings
from followthrough.store import calendars, users
from followthrough.store.db import session_scope
from followthrough.store.tables import Absence, Delivery, Team, TeamMember, User
from tests.support.stack import running_worker
from tests.support.tasks import stored_task
from workflows.brief import BriefWorkflow

EVERY_DAY = {"week": {d: [["00:00", "23:59"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}


def morning_zone(now: datetime) -> str:
    """A fixed-offset zone where ``now`` is between 08:00 and 09:00, so "today" has room on
    both sides whatever the hour the test runs at."""
    offset = (8 - now.hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"


@dataclass
class Brief:
    client: Client
    settings: Settings
    engine: Engine
    outbox: OutboxHandle
    now: datetime

    def user(self, *, locale: str = "en", calendar: str | None = "every_day", active: bool = True) -> int:
        with session_scope(self.engine) as session:
            user, _ = users.create(session, name="Rita Kovács", email=f"rita-{uuid.uuid4().hex[:6]}@example.test",
                                   role="rep")
            user.locale, user.time_zone, user.calendar, user.active = locale, morning_zone(self.now), calendar, active
            session.add(user)
            session.flush()
            assert user.id is not None
            return user.id

    async def run(self, user_id: int) -> BriefResult:
        return await self.client.execute_workflow(
            BriefWorkflow.run, BriefInput(user_id=user_id), id=f"brief-test-{uuid.uuid4().hex[:8]}",
            task_queue=self.settings.task_queue, execution_timeout=timedelta(hours=12))

    def mail(self, user_id: int) -> list[tuple[str | None, str]]:
        with session_scope(self.engine) as session:
            address = session.get(User, user_id).email
        return [(c.subject, c.text) for c in self.outbox.store.list(channel="email", to=address)]


@pytest.fixture
async def brief(ts_env: WorkflowEnvironment, edge_settings: Settings, engine: Engine,
                outbox: OutboxHandle) -> AsyncIterator[Brief]:
    settings = edge_settings.model_copy(update={"task_queue": f"brief-{uuid.uuid4().hex[:12]}"})
    with session_scope(engine) as session:
        calendars.put(session, Calendar.model_validate({"name": "every_day", **EVERY_DAY}))
        calendars.put(session, Calendar.model_validate({"name": "never", "week": {}}))
    async with running_worker(ts_env.client, settings, engine):
        yield Brief(ts_env.client, settings, engine, outbox, await ts_env.get_current_time())


class TestTheBrief:
    async def test_one_message_with_todays_tasks_in_time_order_and_the_overdue_ones(self, brief: Brief) -> None:
        rep, other = brief.user(), brief.user()
        now = brief.now
        stored_task(brief.engine, rep, "Send the quote to Kovács Kft.", now + timedelta(hours=3))
        stored_task(brief.engine, rep, "Call Anna Petrova", now + timedelta(hours=1))
        stored_task(brief.engine, rep, "Demo follow-up", now - timedelta(days=1, hours=2))
        stored_task(brief.engine, rep, "Confirm the meeting", now - timedelta(hours=1), TaskState.OVERDUE)
        stored_task(brief.engine, rep, "Tomorrow's call", now + timedelta(hours=20))
        stored_task(brief.engine, rep, "Already done", now + timedelta(hours=2), TaskState.DONE)
        stored_task(brief.engine, other, "Someone else's call", now + timedelta(hours=2))

        result = await brief.run(rep)

        assert (result.sent, result.state) == (True, "sent")
        [(subject, text)] = brief.mail(rep)
        assert subject is not None and subject.startswith("Your day, ")
        lines = [line for line in text.splitlines() if line.strip()]
        local = lambda at: at.astimezone(_zone(brief, rep)).strftime("%H:%M")  # noqa: E731
        assert lines[:4] == ["Good morning, Rita!", "Due today (2):",
                             f"- {local(now + timedelta(hours=1))} Call Anna Petrova",
                             f"- {local(now + timedelta(hours=3))} Send the quote to Kovács Kft."]
        assert lines[4] == "Overdue (2):"
        assert [line.split(" ", 3)[-1] for line in lines[5:7]] == ["Demo follow-up", "Confirm the meeting"]
        assert "Tomorrow's call" not in text and "Already done" not in text and "Someone else" not in text
        assert brief.mail(other) == []

    async def test_new_leads_waiting_for_their_first_touch(self, brief: Brief) -> None:
        from followthrough.store import contacts
        from followthrough.store.tables import Lead

        rep = brief.user()
        now = brief.now
        with session_scope(brief.engine) as session:
            for name, stage, due in (("Anna Kovács", "assigned", now + timedelta(hours=2)),
                                     ("Boris Petrov", "assigned", now + timedelta(minutes=30)),
                                     ("Called Already", "contacted", now + timedelta(hours=1))):
                contact = contacts.create(session, {"name": name, "email": f"{name[:4].lower()}@example.test"})
                session.add(Lead(contact_id=contact.id or 0, stage=stage, owner_id=rep, source="webinar",
                                 sla_due_at=due, policy_name="default_leads", policy_version=1, workflow_id="x"))
        assert (await brief.run(rep)).sent is True
        [(_, text)] = brief.mail(rep)
        lines = [line for line in text.splitlines() if line.strip()]
        start = lines.index("New leads (2):")
        assert [line.split(" ", 3)[-1] for line in lines[start + 1:start + 3]] == [
            "Boris Petrov (webinar)", "Anna Kovács (webinar)"]
        assert "Called Already" not in text


    async def test_the_tickets_waiting_on_the_user_the_first_due_first(self, brief: Brief) -> None:
        from followthrough.store import contacts
        from followthrough.store import tickets as ticket_store

        rep = brief.user()
        now = brief.now
        with session_scope(brief.engine) as session:
            contact = contacts.create(session, {"name": "Anna", "email": "anna@example.test"}).id
            for subject, status, due in (("Refund", "open", now + timedelta(days=2)),
                                         ("Broken parcel", "new", now + timedelta(hours=2)),
                                         ("Waiting for photos", "waiting_on_customer", now + timedelta(hours=1))):
                ticket = ticket_store.create(session, {
                    "contact_id": contact, "channel": "email", "subject": subject, "priority": "high",
                    "assignee_id": rep, "policy_name": "support_sla", "policy_version": 1,
                    "first_response_due_at": due})
                ticket.status = status
                session.add(ticket)

        result = await brief.run(rep)

        assert result.sent
        [(_subject, text)] = brief.mail(rep)
        lines = [line for line in text.splitlines() if line.strip()]
        assert lines[1] == "Tickets waiting (2):"
        assert [line.split(" ", 3)[-1] for line in lines[2:4]] == ["#2 Broken parcel", "#1 Refund"]
        assert "Waiting for photos" not in text  # the customer has the ball

    async def test_in_the_users_language(self, brief: Brief) -> None:
        rep = brief.user(locale="ru")
        stored_task(brief.engine, rep, "Позвонить Анне", brief.now + timedelta(hours=1))
        assert (await brief.run(rep)).sent is True
        [(subject, text)] = brief.mail(rep)
        assert subject is not None and subject.startswith("Ваш день, ")
        assert "На сегодня (1):" in text and "Позвонить Анне" in text

    async def test_twice_in_a_day_is_one_message(self, brief: Brief) -> None:
        rep = brief.user()
        stored_task(brief.engine, rep, "Call Anna Petrova", brief.now + timedelta(hours=1))
        first, second = await brief.run(rep), await brief.run(rep)
        assert (first.state, second.state) == ("sent", "sent")
        assert len(brief.mail(rep)) == 1

    async def test_nothing_to_say_sends_nothing(self, brief: Brief) -> None:
        rep = brief.user()
        stored_task(brief.engine, rep, "Closed", brief.now + timedelta(hours=1), TaskState.CANCELLED)
        assert await brief.run(rep) == BriefResult(sent=False, reason="nothing_to_say")
        assert brief.mail(rep) == [] and _ledger(brief) == []

    async def test_an_absent_user_gets_none(self, brief: Brief) -> None:
        rep = brief.user()
        stored_task(brief.engine, rep, "Call Anna Petrova", brief.now + timedelta(hours=1))
        with session_scope(brief.engine) as session:
            session.add(Absence(user_id=rep, starts_at=brief.now - timedelta(days=1),
                                ends_at=brief.now + timedelta(days=2), reason="holiday"))
        assert await brief.run(rep) == BriefResult(sent=False, reason="absent")
        assert brief.mail(rep) == [] and _ledger(brief) == []

    async def test_a_day_off_gets_none(self, brief: Brief) -> None:
        rep = brief.user(calendar="never")
        stored_task(brief.engine, rep, "Call Anna Petrova", brief.now + timedelta(hours=1))
        assert await brief.run(rep) == BriefResult(sent=False, reason="day_off")
        assert brief.mail(rep) == []

    async def test_the_teams_calendar_when_the_user_has_none(self, brief: Brief) -> None:
        rep = brief.user(calendar=None)
        with session_scope(brief.engine) as session:
            team = Team(name=f"t{uuid.uuid4().hex[:8]}", calendar="never")
            session.add(team)
            session.flush()
            assert team.id is not None
            session.add(TeamMember(team_id=team.id, user_id=rep))
        stored_task(brief.engine, rep, "Call Anna Petrova", brief.now + timedelta(hours=1))
        assert await brief.run(rep) == BriefResult(sent=False, reason="day_off")

    async def test_without_any_calendar_every_day_is_a_brief_day(self, brief: Brief) -> None:
        rep = brief.user(calendar=None)
        stored_task(brief.engine, rep, "Call Anna Petrova", brief.now + timedelta(hours=1))
        assert (await brief.run(rep)).sent is True

    async def test_an_inactive_user_gets_none(self, brief: Brief) -> None:
        rep = brief.user(active=False)
        stored_task(brief.engine, rep, "Call Anna Petrova", brief.now + timedelta(hours=1))
        assert await brief.run(rep) == BriefResult(sent=False, reason="inactive")
        assert brief.mail(rep) == []


def _zone(brief: Brief, user_id: int):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    with session_scope(brief.engine) as session:
        return ZoneInfo(session.get(User, user_id).time_zone)


def _ledger(brief: Brief) -> list[str]:
    with session_scope(brief.engine) as session:
        return [d.key for d in session.exec(select(Delivery))]
