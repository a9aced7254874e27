"""A task's due time from what the rep said: an instant, or relative in a zone.

Pure: ``now`` is an argument. The one place a task's due time is computed (the API at creation
and on a reschedule); the wait forms are the definition language's (ISO-8601 durations, working
time on a calendar, a local time of day).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from followthrough.calendar import Calendar, add_business_time, local_wall_time, parse_time, zone
from followthrough.dsl.durations import parse_duration
from followthrough.models.tasks import RelativeDue

#: Bound on counting working days: a calendar open once a year is still found.
_HORIZON_DAYS = 800


def zone_of(spec: str, *, owner_zone: str, contact_zone: str | None) -> str:
    """``owner``, ``contact`` or an IANA name, as an IANA name; ValueError when unknown."""
    if spec == "owner":
        return owner_zone
    if spec == "contact":
        if contact_zone is None:
            raise ValueError("the task has no contact, so 'contact' names no zone")
        return contact_zone
    zone(spec)  # raises with a readable message
    return spec


def resolve_due(due: datetime | RelativeDue, now: datetime, *, owner_zone: str,
                contact_zone: str | None, calendar: Calendar) -> datetime:
    """The due instant in UTC. ``calendar`` is the owner's working calendar (``business``).
    Raises ValueError, with a message for the rep, when it cannot be computed or is past."""
    if isinstance(due, datetime):
        if due.tzinfo is None:
            raise ValueError("give an offset or Z (RFC 3339), e.g. 2027-03-29T15:00:00+02:00")
        return _future(due.astimezone(UTC), now)
    name = zone_of(due.zone, owner_zone=owner_zone, contact_zone=contact_zone)
    tz = zone(name)
    duration = parse_duration(due.after)
    whole_days = duration.seconds == 0 and duration.microseconds == 0
    if due.business and not whole_days:
        # Hours of working time; a local time of day then picks the day reached.
        reached = add_business_time(calendar, now, duration)
    elif due.business:
        day = now.astimezone(tz).date()
        for _ in range(duration.days):
            day = _next_working_day(calendar, day)
        wall = now.astimezone(tz).replace(tzinfo=None)
        reached = datetime.combine(day, wall.time()).replace(tzinfo=tz).astimezone(UTC)
    else:
        # Wall-clock arithmetic: "in one day" is the same time tomorrow, across a DST change too.
        reached = local_wall_time(now, "00:00", name, duration)
    if due.at is not None:
        local_day = reached.astimezone(tz).date()
        reached = datetime.combine(local_day, parse_time(due.at)).replace(tzinfo=tz).astimezone(UTC)
    return _future(reached, now)


def _future(due: datetime, now: datetime) -> datetime:
    if due <= now:
        raise ValueError(f"that is {due:%Y-%m-%d %H:%M} UTC, already past")
    return due


def _next_working_day(calendar: Calendar, day: date) -> date:
    current = day
    for _ in range(_HORIZON_DAYS):
        current += timedelta(days=1)
        if calendar.periods_on(current):
            return current
    raise ValueError(f"calendar '{calendar.name}' has no working day within {_HORIZON_DAYS} days")
