"""TaskWorkflow on the time-skipping server, sending through the real door to the loopback
aiosmtpd: the reminder at due - lead time with its invitation, the actions, overdue and the
manager's digest."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.calendar import Calendar
from followthrough.models.tasks import (
    CancelInput,
    CompleteInput,
    ReassignInput,
    RescheduleInput,
    SnoozeInput,
    TaskResult,
)
from followthrough.settings import Settings
from followthrough.store import calendars, ledger, tasks, timeline, users
from followthrough.store.db import as_utc, session_scope
from followthrough.store.tables import Task, User
from followthrough.tasks import service
from followthrough.tasks.service import InvalidTransition
from tests.conftest import terminate_open_runs
from tests.support.stack import running_worker
from tests.support.tasks import contact, emails_to, invitation, new_task, next_quarter, person

DOMAIN = "followthrough.example.test"


@dataclass
class Env:
    ts: WorkflowEnvironment
    engine: Engine
    settings: Settings
    outbox: OutboxHandle


@pytest.fixture
async def env(ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings,
              outbox: OutboxHandle) -> AsyncIterator[Env]:
    settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
    async with running_worker(ts_env.client, settings, engine):
        yield Env(ts_env, engine, settings, outbox)
    await terminate_open_runs(engine, ts_env.client)


def _row(engine: Engine, task_id: int):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return tasks.get(session, task_id)


class TestReminder:
    async def test_reminder_reaches_the_owner_at_due_minus_lead_time_with_an_invitation(self, env: Env) -> None:
        rep = person(env.engine, "Peter")
        anna = contact(env.engine, owner_id=rep)
        with session_scope(env.engine) as session:
            for summary in ("first call", "quote sent", "asked for a discount", "replied: next week"):
                timeline.record(session, contact_id=anna, kind="note", summary=summary)
        now = await env.ts.get_current_time()
        due = next_quarter(now) + timedelta(hours=2)
        task = await new_task(env.engine, env.ts.client, env.settings, now, due, contact_id=anna,
                              note="Ask about delivery")
        assert task.owner_id == rep  # the contact's owner

        await env.ts.sleep(due - timedelta(minutes=16) - now)
        assert emails_to(env.outbox, "peter@example.test") == []
        await env.ts.sleep(timedelta(minutes=2))

        [email] = emails_to(env.outbox, "peter@example.test")
        budapest, moscow = due.astimezone(_zone("Europe/Budapest")), due.astimezone(_zone("Europe/Moscow"))
        assert email.subject == f"Reminder: Call back about the quote at {budapest:%H:%M}"
        assert f"Due: {moscow:%H:%M} in Moscow, {budapest:%H:%M} for you" in email.text
        assert "Contact: Анна Иванова, +79990001122" in email.text
        assert "Note: Ask about delivery" in email.text
        # The last three timeline entries, newest first.
        assert [line.split(": ", 1)[1] for line in email.text.splitlines() if line.startswith("- ")] == [
            "replied: next week", "asked for a discount", "quote sent"]
        content_type, calendar = invitation(email)
        assert content_type.startswith("text/calendar") and 'method="REQUEST"' in content_type
        [event] = calendar.walk("VEVENT")
        assert str(calendar["METHOD"]) == "REQUEST"
        assert str(event["UID"]) == f"task-{task.id}@{DOMAIN}"
        assert int(event["SEQUENCE"]) == 0
        assert event.decoded("DTSTART") == due
        assert str(event["ATTENDEE"]) == "mailto:peter@example.test"
        with session_scope(env.engine) as session:
            [row] = ledger.list_page(session, run_id=f"task-{task.id}")
        assert (row.key, row.state, row.to_user_id) == (f"task-{task.id}:remind:1", "sent", rep)
        # Decided on the run's clock at the timer (after reading the task: well under a second).
        lateness = as_utc(row.decided_at) - (due - timedelta(minutes=15))  # type: ignore[operator]
        assert timedelta(0) <= lateness < timedelta(seconds=2)


class TestReminderLinks:
    async def test_the_reminders_done_link_completes_the_task_through_its_workflow(self, env: Env) -> None:
        import re

        import httpx

        from api.app import create_app

        rep = person(env.engine, "Hanna", locale="hu")
        now = await env.ts.get_current_time()
        due = next_quarter(now) + timedelta(hours=1)
        task = await new_task(env.engine, env.ts.client, env.settings, now, due, owner_id=rep)
        await env.ts.sleep(due - now - timedelta(minutes=10))
        [email] = emails_to(env.outbox, "hanna@example.test")
        links = dict(re.findall(r"^(Kész|Elhalasztás egy órával|A feladat megnyitása): (\S+)$", email.text, re.M))
        assert set(links) == {"Kész", "Elhalasztás egy órával", "A feladat megnyitása"}, email.text
        base = env.settings.public_base_url
        assert all(url.startswith(f"{base}/a/") for url in links.values())

        app = create_app(env.settings, engine=env.engine, temporal_client=env.ts.client)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as web:
            opened = await web.get(links["A feladat megnyitása"].removeprefix(base))
            assert opened.status_code == 200 and "Call back about the quote" in opened.text
            done = await web.post(links["Kész"].removeprefix(base))
            assert done.status_code == 200, done.text
            again = await web.post(links["Elhalasztás egy órával"].removeprefix(base))
            assert again.status_code == 409  # the task is done: its workflow refuses a snooze
        result = await env.ts.client.get_workflow_handle(task.workflow_id, result_type=TaskResult).result()
        assert (result.state, result.outcome) == ("done", "done")
        row = _row(env.engine, task.id)
        assert (row.state, row.outcome, row.note) == ("done", "done", "via link")


class TestActions:
    async def test_reschedule_raises_the_sequence_and_cancel_withdraws_the_invitation(self, env: Env) -> None:
        rep = person(env.engine, "Rita")
        now = await env.ts.get_current_time()
        due = next_quarter(now) + timedelta(hours=1)
        task = await new_task(env.engine, env.ts.client, env.settings, now, due, owner_id=rep)
        await env.ts.sleep(due - now - timedelta(minutes=10))
        [first] = emails_to(env.outbox, "rita@example.test")
        assert int(invitation(first)[1].walk("VEVENT")[0]["SEQUENCE"]) == 0

        later = due + timedelta(days=1)
        view = await service.act(env.engine, env.ts.client, task, "reschedule", RescheduleInput(due_at=later))
        assert (view.state, view.sequence, view.due_at) == ("open", 1, later)
        row = _row(env.engine, task.id)
        assert (row.ics_sequence, as_utc(row.due_at)) == (1, later)
        await env.ts.sleep(later - due)
        second = emails_to(env.outbox, "rita@example.test")[1]
        event = invitation(second)[1].walk("VEVENT")[0]
        assert (int(event["SEQUENCE"]), event.decoded("DTSTART")) == (1, later)
        assert str(event["UID"]) == f"task-{task.id}@{DOMAIN}"

        view = await service.act(env.engine, env.ts.client, task, "cancel", CancelInput())
        assert view.state == "cancelled"
        result = await env.ts.client.get_workflow_handle(task.workflow_id, result_type=TaskResult).result()
        assert result.state == "cancelled"
        cancel = emails_to(env.outbox, "rita@example.test")[2]
        content_type, calendar = invitation(cancel)
        assert 'method="CANCEL"' in content_type and str(calendar["METHOD"]) == "CANCEL"
        event = calendar.walk("VEVENT")[0]
        assert (str(event["UID"]), int(event["SEQUENCE"]), str(event["STATUS"])) == (
            f"task-{task.id}@{DOMAIN}", 2, "CANCELLED")
        assert len(emails_to(env.outbox, "rita@example.test")) == 3
        assert _row(env.engine, task.id).state == "cancelled"

    async def test_snooze_sends_the_reminder_again_when_it_ends(self, env: Env) -> None:
        rep = person(env.engine, "Sam")
        now = await env.ts.get_current_time()
        due = next_quarter(now) + timedelta(hours=1)
        task = await new_task(env.engine, env.ts.client, env.settings, now, due, owner_id=rep)
        await env.ts.sleep(due - now - timedelta(minutes=10))
        assert len(emails_to(env.outbox, "sam@example.test")) == 1
        view = await service.act(env.engine, env.ts.client, task, "snooze", SnoozeInput(duration=timedelta(hours=1)))
        assert view.state == "snoozed"
        assert _row(env.engine, task.id).state == "snoozed"
        await env.ts.sleep(timedelta(minutes=59))
        assert len(emails_to(env.outbox, "sam@example.test")) == 1
        await env.ts.sleep(timedelta(minutes=2))
        assert len(emails_to(env.outbox, "sam@example.test")) == 2
        assert _row(env.engine, task.id).state == "open"
        view = await service.act(env.engine, env.ts.client, task, "complete",
                                 CompleteInput(outcome="reached", note="will order"))
        assert (view.state, view.outcome) == ("done", "reached")
        row = _row(env.engine, task.id)
        assert (row.state, row.outcome, row.note, row.closed_at is not None) == ("done", "reached", "will order", True)

    async def test_reassign_moves_the_reminder_to_the_new_owner(self, env: Env) -> None:
        first, second = person(env.engine, "Fay"), person(env.engine, "Gus", locale="hu")
        now = await env.ts.get_current_time()
        due = next_quarter(now) + timedelta(hours=1)
        task = await new_task(env.engine, env.ts.client, env.settings, now, due, owner_id=first)
        view = await service.act(env.engine, env.ts.client, task, "reassign", ReassignInput(owner_id=second))
        assert view.owner_id == second and _row(env.engine, task.id).owner_id == second
        await env.ts.sleep(due - now)
        assert emails_to(env.outbox, "fay@example.test") == []
        [email] = emails_to(env.outbox, "gus@example.test")
        assert email.subject.startswith("Emlékeztető: ")  # the new owner's language

    async def test_an_action_the_state_forbids_is_refused_and_changes_nothing(self, env: Env) -> None:
        rep = person(env.engine, "Ida")
        now = await env.ts.get_current_time()
        task = await new_task(env.engine, env.ts.client, env.settings, now, now + timedelta(days=1), owner_id=rep)
        with pytest.raises(InvalidTransition) as same_owner:  # refused by the update's validator
            await service.act(env.engine, env.ts.client, task, "reassign", ReassignInput(owner_id=rep))
        assert same_owner.value.message == f"task {task.id} is already owned by user {rep}"
        with pytest.raises(InvalidTransition):
            await service.act(env.engine, env.ts.client, task, "reschedule", RescheduleInput(due_at=now))
        await service.act(env.engine, env.ts.client, task, "complete", CompleteInput())
        with pytest.raises(InvalidTransition) as again:
            await service.act(env.engine, env.ts.client, task, "cancel", CancelInput())
        assert again.value.message == f"task {task.id} is done; cancel is not allowed"
        assert again.value.status_code == 409
        assert _row(env.engine, task.id).state == "done"


class TestOverdue:
    async def test_one_re_reminder_per_task_and_one_digest_to_the_manager(self, env: Env) -> None:
        boss = person(env.engine, "Boss", role="manager")
        rep = person(env.engine, "Olga", manager_id=boss)
        anna = contact(env.engine, owner_id=rep)
        now = await env.ts.get_current_time()
        due = next_quarter(now) + timedelta(hours=1)  # on a quarter hour: both in one digest window
        late = [await new_task(env.engine, env.ts.client, env.settings, now, due + timedelta(minutes=m),
                               title=f"Task {m}", contact_id=anna) for m in (0, 10)]
        done = await new_task(env.engine, env.ts.client, env.settings, now, due, title="Done in time",
                              contact_id=anna)
        await env.ts.sleep(due - now)
        await service.act(env.engine, env.ts.client, done, "complete", CompleteInput(outcome="called"))

        await env.ts.sleep(timedelta(minutes=41))  # past due + grace (30 min) of both
        assert [_row(env.engine, t.id).state for t in late] == ["overdue", "overdue"]
        olga = [e.subject for e in emails_to(env.outbox, "olga@example.test")]
        assert sorted(olga) == sorted(["Reminder: Task 0 at " + _hm(due), "Reminder: Task 10 at " + _hm(due, 10),
                                       "Reminder: Done in time at " + _hm(due), "Overdue: Task 0", "Overdue: Task 10"])
        assert emails_to(env.outbox, "boss@example.test") == []

        await env.ts.sleep(timedelta(hours=2))  # past due + 2 h of both, and the window's end
        [digest] = emails_to(env.outbox, "boss@example.test")
        assert digest.subject == "2 overdue tasks of Olga"
        assert [line.split(" (")[0] for line in digest.text.splitlines() if line.startswith("- ")] == [
            "- Task 0", "- Task 10"]
        assert len(emails_to(env.outbox, "olga@example.test")) == 5  # no more re-reminders
        with session_scope(env.engine) as session:
            rows = ledger.list_page(session, run_id=f"digest-{boss}-{rep}")
        assert [r.state for r in rows] == ["sent"]


def _zone(name: str):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _hm(moment, minutes: int = 0) -> str:  # type: ignore[no-untyped-def]
    return f"{(moment + timedelta(minutes=minutes)).astimezone(_zone('Europe/Budapest')):%H:%M}"


class TestRecurrence:
    async def test_completing_a_weekly_task_creates_the_next_one(self, env: Env) -> None:
        rep = person(env.engine, "Ria")
        now = await env.ts.get_current_time()
        due = next_quarter(now) + timedelta(hours=1)
        first = await new_task(env.engine, env.ts.client, env.settings, now, due, owner_id=rep,
                               rrule="FREQ=WEEKLY;COUNT=2")
        await service.act(env.engine, env.ts.client, first, "complete", CompleteInput(outcome="called"))
        result = await env.ts.client.get_workflow_handle(first.workflow_id, result_type=TaskResult).result()
        assert result.next_task_id is not None
        second = _row(env.engine, result.next_task_id)
        # A week later on the owner's wall clock (Budapest), the same title and rule.
        local = as_utc(second.due_at).astimezone(_zone("Europe/Budapest"))  # type: ignore[union-attr]
        assert (local.date() - due.astimezone(_zone("Europe/Budapest")).date()).days == 7
        assert (local.hour, local.minute) == (due.astimezone(_zone("Europe/Budapest")).hour, due.minute)
        assert (second.previous_id, second.title, second.rrule, second.state) == (
            first.id, first.title, "FREQ=WEEKLY;COUNT=2", "open")
        # COUNT=2: completing the second ends the series.
        await service.act(env.engine, env.ts.client, second, "complete", CompleteInput())
        last = await env.ts.client.get_workflow_handle(second.workflow_id, result_type=TaskResult).result()
        assert last.next_task_id is None


def _office_owner(engine: Engine, name: str) -> int:
    """A rep in UTC whose calendar opens at 09:00 every day (17:00 close)."""
    calendar = f"nine_{uuid.uuid4().hex[:8]}"
    week = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    with session_scope(engine) as session:
        calendars.put(session, Calendar.model_validate({"name": calendar, "week": week}))
    rep = person(engine, name, time_zone="UTC")
    with session_scope(engine) as session:
        user = session.get(User, rep)
        user.calendar = calendar  # type: ignore[union-attr]
        session.add(user)
    return rep


class TestWorkingTime:
    async def test_a_due_time_the_rep_chose_outside_working_time_is_reminded_on_time(self, env: Env) -> None:
        rep = _office_owner(env.engine, "Early")
        anna = contact(env.engine, owner_id=rep)
        now = await env.ts.get_current_time()
        due = now.replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1)  # before 09:00
        await new_task(env.engine, env.ts.client, env.settings, now, due, contact_id=anna)

        await env.ts.sleep(due - timedelta(minutes=16) - now)
        assert emails_to(env.outbox, "early@example.test") == []
        await env.ts.sleep(timedelta(minutes=2))  # 07:46: the reminder went at 07:45
        [email] = emails_to(env.outbox, "early@example.test")
        assert email.subject == "Reminder: Call back about the quote at 08:00"

    async def test_a_reminder_before_working_time_for_a_due_time_in_it_waits_for_the_opening(
            self, env: Env) -> None:
        rep = _office_owner(env.engine, "Punctual")
        anna = contact(env.engine, owner_id=rep)
        now = await env.ts.get_current_time()
        due = now.replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=1)  # the opening
        task = await new_task(env.engine, env.ts.client, env.settings, now, due, contact_id=anna)

        await env.ts.sleep(due - timedelta(minutes=13) - now)  # 08:47: the 08:45 reminder waits
        assert emails_to(env.outbox, "punctual@example.test") == []
        await env.ts.sleep(timedelta(minutes=14))
        [email] = emails_to(env.outbox, "punctual@example.test")
        assert email.subject == "Reminder: Call back about the quote at 09:00"
        with session_scope(env.engine) as session:
            [row] = ledger.list_page(session, run_id=f"task-{task.id}")
        assert timedelta(0) <= as_utc(row.decided_at) - due < timedelta(seconds=2)  # type: ignore[operator]

    async def test_a_snoozed_reminder_landing_after_hours_waits_for_the_next_opening(self, env: Env) -> None:
        rep = _office_owner(env.engine, "Late")
        now = await env.ts.get_current_time()
        due = now.replace(hour=16, minute=30, second=0, microsecond=0) + timedelta(days=1)  # in working time
        task = await new_task(env.engine, env.ts.client, env.settings, now, due, owner_id=rep)
        await env.ts.sleep(due - timedelta(minutes=10) - now)  # 16:20: reminded at 16:15
        assert len(emails_to(env.outbox, "late@example.test")) == 1
        await service.act(env.engine, env.ts.client, task, "snooze", SnoozeInput(duration=timedelta(hours=1)))

        await env.ts.sleep(timedelta(hours=16, minutes=39))  # 08:59 next day: 17:20 was after hours
        assert len(emails_to(env.outbox, "late@example.test")) == 1
        await env.ts.sleep(timedelta(minutes=2))
        assert len(emails_to(env.outbox, "late@example.test")) == 2
        opening = due.replace(hour=9, minute=0) + timedelta(days=1)
        assert _reminded_at(env.engine, task.id) == [due - timedelta(minutes=15), opening]
        # The grace period counts from the reminder the rep got, not from the snooze's end.
        await env.ts.sleep(timedelta(minutes=27))  # 09:28
        assert len(emails_to(env.outbox, "late@example.test")) == 2
        await env.ts.sleep(timedelta(minutes=3))  # 09:31
        assert emails_to(env.outbox, "late@example.test")[2].subject == "Overdue: Call back about the quote"

    async def test_an_urgent_tasks_snoozed_reminder_goes_after_hours(self, env: Env) -> None:
        rep = _office_owner(env.engine, "Keen")
        now = await env.ts.get_current_time()
        due = now.replace(hour=16, minute=30, second=0, microsecond=0) + timedelta(days=1)
        task = await new_task(env.engine, env.ts.client, env.settings, now, due, owner_id=rep, priority="urgent")
        await env.ts.sleep(due - timedelta(minutes=10) - now)
        snoozed = await _snooze(env, task, timedelta(hours=1))  # at 16:20
        await env.ts.sleep(timedelta(hours=1, minutes=1))  # 17:21
        assert len(emails_to(env.outbox, "keen@example.test")) == 2
        first, second = _reminded_at(env.engine, task.id)
        assert first == due - timedelta(minutes=15) and second in snoozed  # when the snooze ended

    async def test_a_snoozed_reminder_of_a_due_time_chosen_after_hours_goes_when_the_snooze_ends(
            self, env: Env) -> None:
        rep = _office_owner(env.engine, "Owl")
        now = await env.ts.get_current_time()
        due = now.replace(hour=20, minute=0, second=0, microsecond=0) + timedelta(days=1)  # the rep chose 20:00
        task = await new_task(env.engine, env.ts.client, env.settings, now, due, owner_id=rep)
        await env.ts.sleep(due - timedelta(minutes=10) - now)  # reminded at 19:45
        snoozed = await _snooze(env, task, timedelta(minutes=30))  # at 19:50
        await env.ts.sleep(timedelta(minutes=31))  # 20:21
        assert len(emails_to(env.outbox, "owl@example.test")) == 2
        first, second = _reminded_at(env.engine, task.id)
        assert first == due - timedelta(minutes=15) and second in snoozed  # when the snooze ended

    async def test_a_reminder_during_an_absence_waits_for_its_end_unless_urgent(self, env: Env) -> None:
        rep = person(env.engine, "Away")  # no calendar: always at work, but for the absence
        now = await env.ts.get_current_time()
        due = next_quarter(now) + timedelta(hours=3)
        back = due + timedelta(hours=2)
        with session_scope(env.engine) as session:
            users.add_absence(session, rep, due - timedelta(hours=1), back, "dentist")
        normal = await new_task(env.engine, env.ts.client, env.settings, now, due, owner_id=rep, title="Normal")
        urgent = await new_task(env.engine, env.ts.client, env.settings, now, due, owner_id=rep, title="Urgent",
                                priority="urgent")
        await env.ts.sleep(back - timedelta(minutes=1) - now)
        subjects = lambda: [e.subject.split(" at ")[0] for e in emails_to(env.outbox, "away@example.test")]  # noqa: E731
        assert subjects() == ["Reminder: Urgent", "Overdue: Urgent"]  # urgent: through the absence
        await env.ts.sleep(timedelta(minutes=2))
        assert subjects() == ["Reminder: Urgent", "Overdue: Urgent", "Reminder: Normal"]
        await env.ts.sleep(timedelta(minutes=30))  # the grace period from the held reminder
        assert subjects()[3:] == ["Overdue: Normal"]
        assert _reminded_at(env.engine, urgent.id) == [due - timedelta(minutes=15)]
        assert _reminded_at(env.engine, normal.id) == [back]


@dataclass(frozen=True)
class Between:
    """[first, last], to the second: when something happens during a real-time operation."""

    first: datetime
    last: datetime

    def __contains__(self, value: datetime) -> bool:
        return self.first.replace(microsecond=0) <= value <= self.last


async def _snooze(env: Env, task: Task, duration: timedelta) -> Between:
    """Snooze the task; when its snooze ends. The update runs in real time on the test server
    (which does not skip time meanwhile), a few seconds on a loaded machine: the snooze counts
    from when the workflow took it, somewhere in between."""
    before = await env.ts.get_current_time()
    await service.act(env.engine, env.ts.client, task, "snooze", SnoozeInput(duration=duration))
    after = await env.ts.get_current_time()
    return Between(before + duration, after + duration)


def _reminded_at(engine: Engine, task_id: int | None) -> list:  # type: ignore[type-arg]
    """When each reminder of the task went, to the second, as the door decided it."""
    with session_scope(engine) as session:
        rows = ledger.list_page(session, run_id=f"task-{task_id}")
    return sorted(as_utc(r.decided_at).replace(microsecond=0) for r in rows if r.step_id == "remind")  # type: ignore[union-attr]
