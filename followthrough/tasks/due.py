"""A task's due time from what the rep said: an instant, or relative in a zone.

Pure: ``now`` is an argument. The API computes a task's due time here (at creation and on a
reschedule); the arithmetic is the shared clock's (``followthrough.clock.due``), the same that
sequences' waits and, later, SLA budgets use. This module only maps a task's words onto it: the
default zone is the owner's, ``contact`` names the contact's, and business time counts on the
owner's working calendar.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from followthrough import clock
from followthrough.calendar import Calendar, local_wall_time
from followthrough.dsl.durations import parse_duration
from followthrough.models.tasks import RelativeDue


def zone_of(spec: str, *, owner_zone: str, contact_zone: str | None) -> str:
    """``owner``, ``contact`` or an IANA name, as an IANA name; ValueError when unknown."""
    if spec == "contact" and contact_zone is None:
        raise ValueError("the task has no contact, so 'contact' names no zone")
    return clock.resolve_zone(spec, owner_zone, _zones(owner_zone, contact_zone))


def resolve_due(due: datetime | RelativeDue, now: datetime, *, owner_zone: str,
                contact_zone: str | None, calendar: Calendar) -> datetime:
    """The due instant in UTC. ``calendar`` is the owner's working calendar (``business``).
    Raises ValueError, with a message for the rep, when it cannot be computed or is past."""
    if isinstance(due, RelativeDue):
        name = zone_of(due.zone, owner_zone=owner_zone, contact_zone=contact_zone)  # the rep's words first
        after = parse_duration(due.after)
        if not due.business and due.at is None and after == timedelta(days=after.days) and after:
            # "In two days" said by a person is the same wall time then (23 or 25 hours across a
            # DST change), where a sequence's timer counts elapsed time.
            return _future(local_wall_time(now, "", name, after), now)
        spec: datetime | clock.Relative = clock.Relative(after=due.after, business=due.business,
                                                         at=due.at, zone=due.zone)
    else:
        spec = due
    return _future(clock.due(spec, now, zone_name=owner_zone, zones=_zones(owner_zone, contact_zone),
                             calendar=calendar), now)


def _future(due: datetime, now: datetime) -> datetime:
    if due <= now:
        raise ValueError(f"that is {due:%Y-%m-%d %H:%M} UTC, already past")
    return due


def _zones(owner_zone: str, contact_zone: str | None) -> dict[str, str]:
    return {"owner": owner_zone} | ({"contact": contact_zone} if contact_zone else {})
