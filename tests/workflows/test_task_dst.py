"""Tasks across DST changes, on a time-skipping server of their own moved to the days around
each change (the shared one starts at today's wall clock): a task due "in two days at 15:00"
said the day before a change, and a daily 09:00 series through it, in Europe/Budapest,
America/New_York and Europe/Moscow (no DST since 2011). The reminder's instant is read from the
ledger, where the door recorded it on the run's clock, and its wall time from the captured email.

The 2027 changes: Europe on Sunday 28 March and 31 October (01:00 UTC), the United States on
Sunday 14 March (07:00 UTC) and 7 November (06:00 UTC).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.models.tasks import CompleteInput, RelativeDue, TaskResult
from followthrough.settings import Settings
from followthrough.store import ledger
from followthrough.store.db import as_utc, session_scope
from followthrough.store.tables import Task
from followthrough.tasks import service
from tests.conftest import start_time_skipping
from tests.support.stack import running_worker
from tests.support.tasks import contact, emails_to, new_task, person

LEAD = timedelta(minutes=15)  # the default reminder lead time


@dataclass
class Env:
    ts: WorkflowEnvironment
    engine: Engine
    settings: Settings
    outbox: OutboxHandle


@pytest.fixture
async def env_at(engine: Engine, edge_settings: Settings,
                 outbox: OutboxHandle) -> AsyncIterator[Callable[[datetime], Awaitable[Env]]]:
    """Starts a time-skipping server of the test's own, skipped to the given instant, with a
    worker on it. Its own because time only moves forward, and these instants are months away."""
    async with AsyncExitStack() as stack:
        async def at(instant: datetime) -> Env:
            ts = await start_time_skipping()
            stack.push_async_callback(ts.shutdown)
            await ts.sleep(instant - await ts.get_current_time())
            settings = edge_settings.model_copy(update={"task_queue": f"dst-{uuid.uuid4().hex}"})
            await stack.enter_async_context(running_worker(ts.client, settings, engine))
            return Env(ts, engine, settings, outbox)

        yield at


def _local(zone: str, *fields: int) -> datetime:
    return datetime(*fields, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def _reminders(engine: Engine, task_id: int) -> list[datetime]:
    """When the door decided each reminder of the task (the run's clock), in UTC."""
    with session_scope(engine) as session:
        rows = ledger.list_page(session, run_id=f"task-{task_id}")
    return sorted(as_utc(r.decided_at) for r in rows if r.step_id == "remind")  # type: ignore[misc]


def _on_time(decided: datetime, planned: datetime) -> bool:
    return timedelta(0) <= decided - planned < timedelta(seconds=2)


async def _remind_and_check(env: Env, task_id: int, due: datetime, address: str, sent_before: int) -> str:
    """Skip to just before the reminder (nothing yet), then past it: one email more, decided at
    due - lead time exactly. Returns the new email's text (subject and body)."""
    now = await env.ts.get_current_time()
    await env.ts.sleep(due - LEAD - timedelta(minutes=1) - now)
    assert len(emails_to(env.outbox, address)) == sent_before
    await env.ts.sleep(timedelta(minutes=2))
    emails = emails_to(env.outbox, address)
    assert len(emails) == sent_before + 1
    [decided] = _reminders(env.engine, task_id)
    assert _on_time(decided, due - LEAD), (decided, due - LEAD)
    return f"{emails[-1].subject}\n{emails[-1].text}"


#: Said on Saturday at 10:00 the owner's time, the day before a change: "in two days at 15:00"
#: is Monday 15:00 on the owner's wall clock, whatever the offset was when it was said. Moscow's
#: wall clock is the contact's (the hour between the two moves with the owner's DST).
TWO_DAYS_AT_THREE = [
    pytest.param("Europe/Budapest", (2027, 3, 27), datetime(2027, 3, 29, 13, 0, tzinfo=UTC), "16:00",
                 id="budapest-spring-forward"),
    pytest.param("Europe/Budapest", (2027, 10, 30), datetime(2027, 11, 1, 14, 0, tzinfo=UTC), "17:00",
                 id="budapest-fall-back"),
    pytest.param("America/New_York", (2027, 3, 13), datetime(2027, 3, 15, 19, 0, tzinfo=UTC), "22:00",
                 id="new-york-spring-forward"),
    pytest.param("America/New_York", (2027, 11, 6), datetime(2027, 11, 8, 20, 0, tzinfo=UTC), "23:00",
                 id="new-york-fall-back"),
    pytest.param("Europe/Moscow", (2027, 3, 27), datetime(2027, 3, 29, 12, 0, tzinfo=UTC), "15:00",
                 id="moscow-across-europes-spring-forward"),
    pytest.param("Europe/Moscow", (2027, 10, 30), datetime(2027, 11, 1, 12, 0, tzinfo=UTC), "15:00",
                 id="moscow-across-europes-fall-back"),
]


class TestDueAcrossAChange:
    @pytest.mark.parametrize(("zone", "saturday", "due", "in_moscow"), TWO_DAYS_AT_THREE)
    async def test_two_days_ahead_at_15_00_owner_time_is_15_00_on_their_wall_clock_then(
        self, env_at: Callable[[datetime], Awaitable[Env]], zone: str, saturday: tuple[int, int, int],
        due: datetime, in_moscow: str,
    ) -> None:
        said = _local(zone, *saturday, 10, 0)
        env = await env_at(said.astimezone(UTC))
        rep = person(env.engine, "Dora", time_zone=zone)
        anna = contact(env.engine, owner_id=rep)  # in Moscow
        now = await env.ts.get_current_time()
        task = await new_task(env.engine, env.ts.client, env.settings, now,
                              RelativeDue(after="P2D", at="15:00", zone="owner"), contact_id=anna)
        assert as_utc(task.due_at) == due  # type: ignore[arg-type]
        assert due.astimezone(ZoneInfo(zone)).strftime("%a %H:%M") == "Mon 15:00"

        text = await _remind_and_check(env, task.id, due, "dora@example.test", sent_before=0)  # type: ignore[arg-type]
        assert text.startswith("Reminder: Call back about the quote at 15:00\n")
        assert f"Due: {in_moscow} in Moscow, 15:00 for you" in text


#: A daily series at 09:00 the owner's time from Saturday, the day before a change, to Monday.
DAILY_AT_NINE = [
    pytest.param("Europe/Budapest", (2027, 3, 27), ["08:00", "07:00", "07:00"], id="budapest-spring-forward"),
    pytest.param("Europe/Budapest", (2027, 10, 30), ["07:00", "08:00", "08:00"], id="budapest-fall-back"),
    pytest.param("America/New_York", (2027, 3, 13), ["14:00", "13:00", "13:00"], id="new-york-spring-forward"),
    pytest.param("America/New_York", (2027, 11, 6), ["13:00", "14:00", "14:00"], id="new-york-fall-back"),
    pytest.param("Europe/Moscow", (2027, 3, 27), ["06:00", "06:00", "06:00"], id="moscow-spring"),
]


class TestDailySeriesAcrossAChange:
    @pytest.mark.parametrize(("zone", "saturday", "utc_times"), DAILY_AT_NINE)
    async def test_every_occurrence_is_09_00_local_and_reminded_at_08_45_local(
        self, env_at: Callable[[datetime], Awaitable[Env]], zone: str, saturday: tuple[int, int, int],
        utc_times: list[str],
    ) -> None:
        first_due = _local(zone, *saturday, 9, 0)
        env = await env_at((first_due - timedelta(hours=20)).astimezone(UTC))  # Friday 13:00
        rep = person(env.engine, "Dan", time_zone=zone)
        now = await env.ts.get_current_time()
        task = await new_task(env.engine, env.ts.client, env.settings, now, first_due.astimezone(UTC),
                              owner_id=rep, rrule="FREQ=DAILY;COUNT=3")
        dues: list[datetime] = []
        task_id: int | None = task.id
        while task_id is not None:
            with session_scope(env.engine) as session:
                row = session.get(Task, task_id)
                assert row is not None
                due = as_utc(row.due_at)
            assert due is not None
            dues.append(due)
            text = await _remind_and_check(env, task_id, due, "dan@example.test", sent_before=len(dues) - 1)
            assert text.startswith("Reminder: Call back about the quote at 09:00\n")
            done = await service.act(env.engine, env.ts.client, row, "complete", CompleteInput(outcome="called"))
            assert done.state == "done"
            result = await env.ts.client.get_workflow_handle(row.workflow_id, result_type=TaskResult).result()
            task_id = result.next_task_id

        local = [d.astimezone(ZoneInfo(zone)) for d in dues]
        assert [f"{d:%a %H:%M}" for d in local] == ["Sat 09:00", "Sun 09:00", "Mon 09:00"]
        assert [f"{d:%H:%M}" for d in dues] == utc_times
        assert [(d.date() - local[0].date()).days for d in local] == [0, 1, 2]
