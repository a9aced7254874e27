"""ISO-8601 durations (workflow-safe)."""

from __future__ import annotations

from datetime import timedelta

import isodate


def parse_signed_duration(value: str) -> timedelta:
    """Parse an ISO-8601 duration that may be negative or zero (``-P1D``, ``PT0S``); years and
    months are refused because their length depends on the calendar date."""
    try:
        parsed = isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"'{value}' is not an ISO-8601 duration (e.g. P2D, PT30M)") from exc
    if not isinstance(parsed, timedelta):
        raise ValueError(f"'{value}': use days, hours, minutes or seconds, not years or months")
    return parsed


def parse_duration(value: str) -> timedelta:
    """Parse an ISO-8601 duration such as ``P2D`` or ``PT1H30M``; it must be longer than zero."""
    parsed = parse_signed_duration(value)
    if parsed <= timedelta(0):
        raise ValueError(f"'{value}' must be longer than zero")
    return parsed
