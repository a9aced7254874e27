"""The daily brief's Schedule on the real dev server (the time-skipping server has none): one
per active user, in the user's zone at FT_BRIEF_TIME, kept in step idempotently; triggering it
runs the brief through the production worker to the loopback outbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import Engine
from temporalio.client import Client, ScheduleRange
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.brief_schedule import ScheduleChange, schedule_id, sync_all, sync_user
from followthrough.calendar import Calendar
from followthrough.settings import Settings
from followthrough.store import calendars, users
from followthrough.store.db import session_scope
from followthrough.store.tables import User
from tests.support.stack import running_worker
from tests.support.tasks import stored_task
from tests.support.waiting import eventually

EVERY_DAY = {"week": {d: [["00:00", "23:59"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}


@pytest.fixture
async def scheduled(dev_env: WorkflowEnvironment, edge_settings: Settings, engine: Engine) -> AsyncIterator[Settings]:
    """Settings on a queue of their own; deletes the Schedules the test made (the dev server is
    shared, and user ids repeat across tests)."""
    settings = edge_settings.model_copy(update={"task_queue": f"brief-{uuid.uuid4().hex[:12]}",
                                                "brief_time": time(7, 45)})
    await _delete(dev_env.client, range(1, 21))  # left by other tests creating users on this server
    yield settings
    with session_scope(engine) as session:
        await _delete(dev_env.client, [u.id for u in users.every(session) if u.id is not None])


async def _delete(client: Client, user_ids: Iterable[int]) -> None:
    for user_id in user_ids:
        try:
            await client.get_schedule_handle(schedule_id(user_id)).delete()
        except RPCError:
            pass


def _user(engine: Engine, time_zone: str, *, active: bool = True) -> int:
    with session_scope(engine) as session:
        user, _ = users.create(session, name="Kovács Rita", email=f"rita-{uuid.uuid4().hex[:6]}@example.test",
                               role="rep")
        user.time_zone, user.active, user.calendar = time_zone, active, "every_day"
        session.add(user)
        session.flush()
        assert user.id is not None
        return user.id


async def _spec(client: Client, user_id: int) -> tuple[str | None, list, list]:
    spec = (await client.get_schedule_handle(schedule_id(user_id)).describe()).schedule.spec
    calendar = spec.calendars[0]
    return spec.time_zone_name, list(calendar.hour), list(calendar.minute)


class TestSchedules:
    async def test_one_per_active_user_in_their_zone_and_in_step_idempotently(
        self, dev_env: WorkflowEnvironment, scheduled: Settings, engine: Engine,
    ) -> None:
        budapest, moscow = _user(engine, "Europe/Budapest"), _user(engine, "Europe/Moscow")
        away = _user(engine, "America/New_York", active=False)
        assert await sync_all(dev_env.client, scheduled, engine) == {"created": 2, "none": 1}
        assert await _spec(dev_env.client, budapest) == ("Europe/Budapest", [ScheduleRange(7)], [ScheduleRange(45)])
        assert (await _spec(dev_env.client, moscow))[0] == "Europe/Moscow"
        with pytest.raises(RPCError):
            await dev_env.client.get_schedule_handle(schedule_id(away)).describe()

        # At start-up again: nothing new, each one updated in place.
        assert await sync_all(dev_env.client, scheduled, engine) == {"updated": 2, "none": 1}
        # The user moves to New York; then is deactivated.
        assert await sync_user(dev_env.client, scheduled, budapest, "America/New_York", True) is ScheduleChange.UPDATED
        assert (await _spec(dev_env.client, budapest))[0] == "America/New_York"
        assert await sync_user(dev_env.client, scheduled, budapest, "America/New_York", False) is ScheduleChange.DELETED
        with pytest.raises(RPCError):
            await dev_env.client.get_schedule_handle(schedule_id(budapest)).describe()

    async def test_the_next_brief_is_at_the_local_time(
        self, dev_env: WorkflowEnvironment, scheduled: Settings, engine: Engine,
    ) -> None:
        user_id = _user(engine, "Europe/Moscow")
        await sync_user(dev_env.client, scheduled, user_id, "Europe/Moscow", True)
        info = (await dev_env.client.get_schedule_handle(schedule_id(user_id)).describe()).info
        upcoming = info.next_action_times[0].astimezone(UTC)
        # Moscow is UTC+3 all year: 07:45 there is 04:45 UTC.
        assert (upcoming.hour, upcoming.minute) == (4, 45)
        assert timedelta(0) < upcoming - datetime.now(UTC) <= timedelta(days=1)

    async def test_triggering_it_sends_the_brief(
        self, dev_env: WorkflowEnvironment, scheduled: Settings, engine: Engine, outbox: OutboxHandle,
    ) -> None:
        with session_scope(engine) as session:
            calendars.put(session, Calendar.model_validate({"name": "every_day", **EVERY_DAY}))
        user_id = _user(engine, "UTC")
        # Due within the day whatever the hour the test runs at: from now to local midnight.
        now = datetime.now(UTC)
        due = now + (datetime.combine(now.date() + timedelta(days=1), time(), UTC) - now) / 2
        stored_task(engine, user_id, "Call Anna Petrova", due)
        stored_task(engine, user_id, "Demo follow-up", now - timedelta(days=1))
        await sync_user(dev_env.client, scheduled, user_id, "UTC", True)
        with session_scope(engine) as session:
            address = session.get(User, user_id).email

        async with running_worker(dev_env.client, scheduled, engine):
            await dev_env.client.get_schedule_handle(schedule_id(user_id)).trigger()
            [mail] = await eventually(lambda: _async(outbox.store.list(channel="email", to=address)))

        assert mail.subject is not None and mail.subject.startswith("Your day, ")
        assert "Due today (1):" in mail.text and "Call Anna Petrova" in mail.text
        assert "Overdue (1):" in mail.text and "Demo follow-up" in mail.text


async def _async(value):  # type: ignore[no-untyped-def]
    return value
