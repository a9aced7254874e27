"""One Temporal Schedule per active user (``brief-<user_id>``) starting the daily brief at
FT_BRIEF_TIME in the user's own zone (the Schedule's ``time_zone_name``: Temporal follows the
zone's DST changes). Kept in step with the users table: created or updated when a user changes,
and all of them at the worker's start-up (idempotent). The brief itself decides whether the
day is a working day for the user and whether they are away.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import Engine
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from followthrough.logging import get_logger
from followthrough.models.brief import BriefInput
from followthrough.settings import Settings
from followthrough.store import users
from followthrough.store.db import read_scope

log = get_logger("brief")

#: The workflow the Schedules start (``workflows.brief.BriefWorkflow``), named, not imported:
#: the core does not depend on workflows/.
BRIEF_WORKFLOW = "BriefWorkflow"
#: A brief missed while Temporal or the workers were down is still sent within this window.
CATCHUP = timedelta(hours=2)
#: Schedules synced at once at start-up (each is one or two RPCs to Temporal).
SYNC_CONCURRENCY = 16
#: Ends a brief run that waits for the user's working time (workflows/brief.py waits less).
BRIEF_TIMEOUT = timedelta(hours=12)


class ScheduleChange(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    NONE = "none"


def schedule_id(user_id: int) -> str:
    return f"brief-{user_id}"


def brief_schedule(settings: Settings, user_id: int, time_zone: str) -> Schedule:
    """Every day at FT_BRIEF_TIME, local time in ``time_zone``."""
    at = settings.brief_time
    return Schedule(
        action=ScheduleActionStartWorkflow(
            BRIEF_WORKFLOW, BriefInput(user_id=user_id), id=schedule_id(user_id),
            task_queue=settings.task_queue, execution_timeout=BRIEF_TIMEOUT,
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(at.hour)], minute=[ScheduleRange(at.minute)],
                                            second=[ScheduleRange(at.second)], comment="daily brief")],
            time_zone_name=time_zone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP),
    )


async def sync_user(client: Client, settings: Settings, user_id: int, time_zone: str,
                    active: bool) -> ScheduleChange:
    """Make the user's Schedule match them: created or updated while active, deleted when not."""
    handle = client.get_schedule_handle(schedule_id(user_id))
    if not active:
        try:
            await handle.delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return ScheduleChange.NONE
        return ScheduleChange.DELETED
    wanted = brief_schedule(settings, user_id, time_zone)
    try:
        await client.create_schedule(schedule_id(user_id), wanted)
        return ScheduleChange.CREATED
    except ScheduleAlreadyRunningError:
        pass

    def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=wanted)

    await handle.update(replace)
    return ScheduleChange.UPDATED


async def sync_all(client: Client, settings: Settings, engine: Engine) -> dict[str, int]:
    """Every user's Schedule, at start-up; returns how many of each change."""

    def read() -> list[tuple[int, str, bool]]:
        with read_scope(engine) as session:
            return [(u.id, u.time_zone, u.active) for u in users.every(session) if u.id is not None]

    slots = asyncio.Semaphore(SYNC_CONCURRENCY)

    async def one(user_id: int, time_zone: str, active: bool) -> ScheduleChange:
        async with slots:
            return await sync_user(client, settings, user_id, time_zone, active)

    changes = await asyncio.gather(*(one(*user) for user in await asyncio.to_thread(read)))
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.value] = counts.get(change.value, 0) + 1
    log.info("brief schedules in step", **counts)
    return counts
