"""A recurring task's next occurrence: an RFC 5545 RRULE read on the owner's wall clock, counted
from the series' first due time (so ``COUNT`` and ``UNTIL`` end the series). The arithmetic and
the bounds are the shared ``followthrough.recurrence``'s; pure."""

from __future__ import annotations

from datetime import datetime

from followthrough.recurrence import check_rrule, next_occurrence


def next_due(rule: str, series_start: datetime, after: datetime, time_zone: str) -> datetime | None:
    """The first occurrence strictly after ``after`` (UTC), or None when the series has ended.
    "Every Monday at 09:00" stays 09:00 local across DST changes."""
    return next_occurrence(rule, series_start, after, time_zone)


def check_rule(rule: str) -> None:
    """Raise ValueError when ``rule`` is not an RRULE a task may repeat by (one line, at most
    once an hour, occurring at all; ``UNTIL`` in UTC or as a wall time of the owner's)."""
    check_rrule(rule)
