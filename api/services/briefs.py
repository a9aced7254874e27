"""Keeping a user's daily-brief Schedule in step when the user changes (API side)."""

from __future__ import annotations

from api.temporal import TemporalGateway
from followthrough.brief_schedule import ScheduleChange, sync_user
from followthrough.logging import get_logger
from followthrough.settings import Settings
from followthrough.store.tables import User

log = get_logger("brief")


async def keep_brief_in_step(temporal: TemporalGateway, settings: Settings, user: User) -> ScheduleChange | None:
    """Create, update or delete the user's Schedule. Best effort: a change to a user must not
    fail because Temporal is down; the worker's next start syncs every Schedule."""
    if user.id is None:
        return None
    try:
        return await sync_user(await temporal.client(), settings, user.id, user.time_zone, user.active)
    except Exception as exc:
        log.warning("brief schedule not synced", user_id=user.id, error=str(exc))
        return None
