"""Recurrence: the next occurrence of an RFC 5545 RRULE in a zone (workflow-safe, pure).

python-dateutil does the rule arithmetic. The rule runs on wall time in the zone (DTSTART with
its TZID, as a calendar application keeps "every Monday at 09:00"), so DST changes keep the local
time; the answers are UTC. Rules are bounded: at most one occurrence an hour, at least one within
ten years, COUNT and UNTIL respected.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dateutil.rrule import HOURLY, rrule, rrulestr

from followthrough.calendar import zone

#: Rules longer than this are refused (a task's "every weekday" is ~40 characters).
MAX_RULE_LENGTH = 500
#: A rule must occur at least once within this many years of its start.
_RULE_PROBE_YEARS = 10


def check_rrule(rule: str) -> str:
    """``rule`` when it is one RFC 5545 RRULE (``FREQ=WEEKLY;BYDAY=MO,WE``, an ``RRULE:`` prefix
    allowed) that occurs at most once an hour and at all; raises ValueError saying why not."""
    _parse_rule(rule, datetime(2025, 1, 1, 9, tzinfo=UTC))
    return rule


def next_occurrence(rule: str, start: datetime, after: datetime, zone_name: str) -> datetime | None:
    """The first occurrence of ``rule`` later than ``after``, in UTC; None when COUNT or UNTIL
    have ended it. Occurrences keep ``start``'s wall time in ``zone_name`` across DST changes
    (every Monday at 09:00 stays 09:00); a wall time that a spring-forward skips maps past the gap.
    ``start`` is the first occurrence (RFC 5545 DTSTART)."""
    local = _aware(start).astimezone(zone(zone_name))
    parsed = _parse_rule(rule, local)
    found = parsed.after(_aware(after))
    return None if found is None else found.astimezone(UTC)


def _parse_rule(rule: str, start: datetime) -> rrule:
    text = rule.strip()
    if len(text) > MAX_RULE_LENGTH:
        raise ValueError(f"a rule is at most {MAX_RULE_LENGTH} characters")
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or any(c in text for c in "\r\n:") or "DTSTART" in text.upper():
        raise ValueError("give one RRULE such as FREQ=WEEKLY;BYDAY=MO (no DTSTART, one line)")
    text = _until_in_aware(text, start)
    try:
        parsed = rrulestr(text, dtstart=start)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"'{rule[:80]}' is not an RFC 5545 RRULE: {exc}") from None
    if not isinstance(parsed, rrule):  # pragma: no cover - one RRULE line gives one rrule
        raise ValueError("give one RRULE")
    freq: int = parsed._freq  # dateutil keeps the parts private; they are the rule as written
    # Several minutes or seconds in a rule mean several occurrences within one hour.
    if freq > HOURLY or len(parsed._byminute or ()) > 1 or len(parsed._bysecond or ()) > 1:
        raise ValueError("a rule may occur at most once an hour (FREQ=HOURLY or rarer, one minute)")
    probe = parsed.replace(count=None, until=start + timedelta(days=366 * _RULE_PROBE_YEARS))
    if probe.after(start, inc=True) is None:
        raise ValueError(f"'{rule[:80]}' never occurs within {_RULE_PROBE_YEARS} years")
    return parsed


def _until_in_aware(text: str, start: datetime) -> str:
    """RFC 5545 wants UNTIL in UTC when DTSTART has a zone; a floating UNTIL (no ``Z``) is read
    as a wall time in the rule's zone rather than refused."""
    parts = text.split(";")
    for index, part in enumerate(parts):
        name, _, value = part.partition("=")
        if name.strip().upper() == "UNTIL" and value and not value.upper().endswith("Z"):
            try:
                stamp = value if "T" in value.upper() else value + "T235959"
                floating = datetime.strptime(stamp + "+0000", "%Y%m%dT%H%M%S%z")
            except ValueError:
                raise ValueError(f"UNTIL={value} is not a date or date-time such as 20251231T235959Z") from None
            instant = floating.replace(tzinfo=start.tzinfo).astimezone(UTC)
            parts[index] = f"UNTIL={instant:%Y%m%dT%H%M%SZ}"
    return ";".join(parts)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return value.astimezone(UTC)
