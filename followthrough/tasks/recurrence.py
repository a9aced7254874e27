"""A recurring task's next occurrence: an RFC 5545 RRULE read on the owner's wall clock, counted
from the series' first due time (so ``COUNT`` and ``UNTIL`` end the series). Pure."""

from __future__ import annotations

from datetime import UTC, datetime

from dateutil.rrule import rrulestr

from followthrough.calendar import zone


def next_due(rule: str, series_start: datetime, after: datetime, time_zone: str) -> datetime | None:
    """The first occurrence strictly after ``after`` (UTC), or None when the series has ended.
    "Every Monday at 09:00" stays 09:00 local across DST changes."""
    tz = zone(time_zone)
    start = series_start.astimezone(tz).replace(tzinfo=None)
    local_after = after.astimezone(tz).replace(tzinfo=None)
    occurrence = rrulestr(rule, dtstart=start).after(local_after)
    if occurrence is None:
        return None
    return occurrence.replace(tzinfo=tz).astimezone(UTC)


def check_rule(rule: str) -> None:
    """Raise ValueError when ``rule`` is not an RRULE this module can read (e.g. ``UNTIL`` in UTC:
    the rule runs on the owner's wall clock, so its ``UNTIL`` is a local time too, without Z)."""
    wall_clock = datetime.fromisoformat("2000-01-01T00:00")  # naive: a wall-clock time
    try:
        rrulestr(rule, dtstart=wall_clock)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an RFC 5545 RRULE on the owner's wall clock: {exc}") from None
