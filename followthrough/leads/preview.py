"""What a lead policy would do to a lead, nothing written: its score with every contribution,
its stage, the owner it would get (and why), and the planned first-touch SLA times on that
owner's calendar. The definitions' preview endpoint routes ``lead_policy`` documents here.

The lead workflow decides with the same functions (``scoring.evaluate``, ``assign.assign``,
``first_touch.plan``), so the preview and the run agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from followthrough.calendar import Calendar, PinnedHolidays, pin_holidays
from followthrough.clock import ClockError
from followthrough.leads.assign import assign_contact
from followthrough.leads.first_touch import plan
from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.leads.scoring import evaluate
from followthrough.store import calendars, users

#: What happens next, per stage.
NEXT = {"qualified": "assign", "nurturing": "nurture", "disqualified": "disqualify"}


def preview(session: Session, policy: LeadPolicyDefinition, *, contact: dict[str, Any],
            lead: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The policy's answer for ``contact`` (as expressions see it; ``owner_id`` is the sticky
    owner) and ``lead`` (``source``, ``attributes``, ``score``, ``stage`` and, optionally,
    ``engagement``: ``[{"event": "reply", "at": "2026-04-01T10:00:00Z"}, ...]``) at ``now``."""
    now = now.astimezone(UTC)
    score = evaluate(policy, contact=contact, lead=lead, engagement=engagement_of(lead), now=now)
    answer: dict[str, Any] = {
        "now": now.isoformat(), "stage": score.stage, "next": NEXT[score.stage],
        "score": score.explanation(), "owner_id": None, "nurture": None, "assignment": None, "sla": None, "problems": [],
    }
    if score.stage == "nurturing":
        answer["nurture"] = {"sequence": policy.nurture.sequence}
    if score.stage != "qualified":
        return answer
    scored = {**lead, "score": score.score, "stage": score.stage}
    owner = assign_contact(session, policy, contact=contact, lead=scored, now=now, preview=True)
    answer["assignment"] = owner.explanation()
    if owner.problem:
        answer["problems"].append(owner.problem)
    start = now
    if owner.owner_id is None and owner.wait_until is not None:
        # Nobody is at work now: who the rotation would give it to when the first rep starts.
        start = owner.wait_until
        owner = assign_contact(session, policy, contact=contact, lead=scored, now=start, preview=True)
        answer["assignment"]["then"] = owner.explanation()
    answer["owner_id"] = owner.owner_id
    if owner.owner_id is None:
        return answer
    try:
        calendar, holidays = first_touch_calendar(session, policy, owner.owner_id, start)
        answer["sla"] = plan(policy.sla, start, calendar, holidays).explanation()
    except (ClockError, ValueError) as exc:
        answer["problems"].append(f"the first-touch SLA cannot be planned: {exc}")
    return answer


def first_touch_calendar(session: Session, policy: LeadPolicyDefinition, owner_id: int,
                         at: datetime) -> tuple[Calendar | None, dict[str, PinnedHolidays] | None]:
    """The calendar the owner's first-touch SLA counts on, with its holidays pinned from
    ``at``'s year: the policy's ``sla.calendar`` when it names one (in its own zone), else the
    owner's working calendar (their own, else their team's, in their zone); (None, None): the
    owner is always at work. Raises ClockError for a named calendar that does not exist."""
    named = policy.sla.calendar
    if named is None:
        person = users.recipient(session, owner_id, at)
        return (person.calendar, person.holidays) if person is not None else (None, None)
    documents, missing = calendars.resolve(session, [named])
    if missing:
        raise ClockError(f"calendar '{named}' does not exist")
    calendar = Calendar.model_validate({**documents[named], "name": named})
    pinned = pin_holidays([calendar.country] if calendar.country else [], at.year, at.year + 1)
    return calendar, pinned


def engagement_of(lead: Mapping[str, Any]) -> list[tuple[str, datetime]]:
    """``lead["engagement"]`` as scoring takes it: (event, aware UTC time), oldest first."""
    found: list[tuple[str, datetime]] = []
    items: Sequence[Any] = lead.get("engagement") or []
    for item in items:
        event, at = (item["event"], item["at"]) if isinstance(item, Mapping) else item
        when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at).replace("Z", "+00:00"))
        if when.tzinfo is None:
            raise ValueError(f"engagement time '{at}' needs an offset (RFC 3339)")
        found.append((str(event), when.astimezone(UTC)))
    return sorted(found, key=lambda pair: pair[1])
