"""When a ``wait`` step or a ``wait_for`` timeout ends: absolute due times from durations,
calendars, local times and dates.

Pure: every function takes the context (``now``, the contact, the data, the calendars). The
forms a person would say (a duration, a local time of day, working time) are the clock's
(``followthrough.clock``), so a wait, a timeout and a task's due time count alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from followthrough import clock
from followthrough.calendar import Calendar, add_business_time, local_wall_time
from followthrough.clock import Relative
from followthrough.dsl.durations import parse_duration, parse_signed_duration
from followthrough.dsl.schema import WaitStep


def due_time(step: WaitStep, now: datetime, contact: Mapping[str, Any], data: Mapping[str, Any],
             calendars: Mapping[str, Any]) -> tuple[datetime | None, str]:
    """(due time in UTC, a readable description); due None means the step is skipped and the
    description says why (a missing attribute, an unknown calendar)."""
    zone = contact_zone(contact)
    if step.duration is not None:
        return clock.due(Relative(after=step.duration), now), f"for {step.duration}"
    if step.business is not None:
        # All of the duration is working time here (P1D is 24 working hours), as since the
        # form was made; the clock's ``{after, business: true}`` counts days as working days.
        calendar = calendars.get(step.business.calendar)
        if calendar is None:
            return None, f"unknown calendar '{step.business.calendar}'"
        due = add_business_time(calendar, now, parse_duration(step.business.duration))
        return due, f"{step.business.duration} of working time on '{step.business.calendar}'"
    if step.until_local_time is not None:
        try:
            return clock.due(Relative(at=step.until_local_time), now, zone_name=zone), f"until {step.until_local_time} {zone}"
        except ValueError as exc:
            return None, str(exc)
    spec = step.until_date
    if spec is None:  # the schema guarantees one of the four
        return None, "no wait given"
    raw = lookup(spec.attribute, contact, data)
    if raw is None:
        return None, f"{spec.attribute} is not set"
    value = parse_date(raw)
    if value is None:
        return None, f"{spec.attribute} is not a date or date-time: {str(raw)[:40]!r}"
    try:
        due = local_wall_time(value, spec.at, zone, parse_signed_duration(spec.offset))
    except (ValueError, OverflowError) as exc:
        return None, str(exc)
    return due, f"until {spec.attribute} {spec.offset} ({zone})"


def timeout_due(timeout: str | Relative, now: datetime, contact: Mapping[str, Any],
                calendars: Mapping[str, Calendar]) -> datetime:
    """When a ``wait_for`` gives up: a duration of elapsed time, or the clock's relative time
    with the contact's zone (``zone: contact``, and the default) and the run's pinned calendars
    (``default`` when it names none). Raises ValueError (a ClockError) when it cannot be known."""
    if isinstance(timeout, str):
        return clock.due(Relative(after=timeout), now)
    zone = contact_zone(contact)
    return clock.due(timeout, now, zone_name=zone, zones={"contact": zone},
                     calendar=calendars.get("default"), calendars=calendars)


def contact_zone(contact: Mapping[str, Any]) -> str:
    """The contact's IANA zone; UTC when it has none."""
    return str(contact.get("time_zone") or "UTC")


def lookup(path: str, contact: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
    """``contact.attributes.arrival_date`` or ``data.arrival_date``; None when any part is missing."""
    head, *rest = path.split(".")
    current: Any = {"contact": contact, "data": data}.get(head)
    for part in rest:
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def parse_date(value: Any) -> date | datetime | None:
    """A date (``2025-06-10``) or a date-time (ISO 8601, with or without an offset)."""
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def split_bucket(contact_id: object, step_id: str) -> int:
    """0..99, stable for a contact and a split step (the same variant on every run and replay)."""
    digest = hashlib.sha256(f"{contact_id}:{step_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100
