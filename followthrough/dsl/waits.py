"""When a ``wait`` step ends: absolute due times from durations, calendars, local times and dates.

Pure: every function takes the context (``now``, the contact, the data, the calendars).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from followthrough.calendar import add_business_time, local_wall_time, next_local_time
from followthrough.dsl.durations import parse_duration, parse_signed_duration
from followthrough.dsl.schema import WaitStep


def due_time(step: WaitStep, now: datetime, contact: Mapping[str, Any], data: Mapping[str, Any],
             calendars: Mapping[str, Any]) -> tuple[datetime | None, str]:
    """(due time in UTC, a readable description); due None means the step is skipped and the
    description says why (a missing attribute, an unknown calendar)."""
    if step.duration is not None:
        return now + parse_duration(step.duration), f"for {step.duration}"
    if step.business is not None:
        calendar = calendars.get(step.business.calendar)
        if calendar is None:
            return None, f"unknown calendar '{step.business.calendar}'"
        due = add_business_time(calendar, now, parse_duration(step.business.duration))
        return due, f"{step.business.duration} of working time on '{step.business.calendar}'"
    zone = str(contact.get("time_zone") or "UTC")
    if step.until_local_time is not None:
        try:
            return next_local_time(zone, step.until_local_time, now), f"until {step.until_local_time} {zone}"
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
