"""What an SLA policy would do with a ticket, without writing anything: the same pure decisions
the ticket workflow takes (``classify``, ``route``, ``sla.start`` and ``sla.plan``), on the stored
calendars and the holidays a ticket would pin."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, select

from followthrough.calendar import Calendar, PinnedHolidays, calendars_with, zone
from followthrough.clock import ClockError
from followthrough.enrollment import holidays_for
from followthrough.errors import ErrorList, ValidationFailed
from followthrough.store import calendars as calendar_store
from followthrough.store.tables import Team
from followthrough.tickets import service, sla
from followthrough.tickets.classify import classify
from followthrough.tickets.policy import PRIORITIES, SlaPolicyDefinition
from followthrough.tickets.route import route

CHANNELS = ("email", "sms", "api", "voice")


def sla_calendars(session: Session, policy: SlaPolicyDefinition,
                  now: datetime) -> tuple[dict[str, Calendar], dict[str, PinnedHolidays]]:
    """The calendars ``policy``'s clocks may count on (stored ones, then the built-ins) and
    their countries' public holidays as a ticket opened at ``now`` pins them."""
    names = {policy.calendar, *(t.calendar for t in policy.priorities.values() if t.calendar)}
    documents, _missing = calendar_store.resolve(session, names)
    return calendars_with(documents), holidays_for(documents, now.year)


def _local(instant: datetime | None, zone_name: str) -> dict[str, str] | None:
    if instant is None:
        return None
    return {"at": instant.astimezone(UTC).isoformat(), "local": instant.astimezone(zone(zone_name)).isoformat(),
            "zone": zone_name}


def _checked(contact: Mapping[str, Any], ticket: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """(the contact's zone, the ticket's given priority and category); every bad field a 422."""
    problems = ErrorList()
    zone_name = str(contact.get("time_zone") or "UTC")
    try:
        zone(zone_name)
    except ValueError as exc:
        problems.add("/contact/time_zone", str(exc))
    if ticket.get("channel", "email") not in CHANNELS:
        problems.add("/ticket/channel", f"use one of: {', '.join(CHANNELS)}")
    priority, category = ticket.get("priority"), ticket.get("category")
    if priority is not None and priority not in PRIORITIES:
        problems.add("/ticket/priority", f"use one of: {', '.join(PRIORITIES)}")
    if category is not None and not isinstance(category, str):
        problems.add("/ticket/category", "a category is a string")
    if problems:
        raise ValidationFailed("The ticket cannot be previewed.", errors=problems.items)
    return zone_name, priority, category


def preview(session: Session, policy: SlaPolicyDefinition, *, contact: dict[str, Any], ticket: dict[str, Any],
            now: datetime) -> dict[str, Any]:
    """The classification (rules matched, the words that matched), the priority and category
    (given ones win over classification), the team and whom its rotation would pick, the promised first response and resolution
    (UTC and local in the contact's zone) and the planned ladder of a ticket opened at ``now``.

    ``contact`` as expressions see it (``locale``, ``time_zone``, ``attributes``); ``ticket``:
    ``subject``, ``text``, ``channel`` (default ``email``), optional ``priority`` and ``category``."""
    zone_name, given_priority, given_category = _checked(contact, ticket)
    subject, text = str(ticket.get("subject") or ""), str(ticket.get("text") or "")
    channel = str(ticket.get("channel") or "email")
    found = classify(policy, subject=subject, text=text, channel=channel, contact=contact)
    priority = given_priority or found.priority
    category = given_category or found.category
    routing = route(policy, contact=contact, ticket={"subject": subject, "text": text, "channel": channel,
                                                     "category": category, "priority": priority})
    team = session.exec(select(Team).where(Team.name == routing.team)).first()
    assignee, skipped = service.peek_assignee(session, team.id, now) if team is not None and team.id else (None, [])
    calendars, holidays = sla_calendars(session, policy, now)
    try:
        state = sla.start(policy, priority, calendars=calendars, holidays=holidays, at=now)
    except ClockError as exc:
        raise ValidationFailed(f"The SLA clocks cannot start: {exc}") from None
    targets = sla.targets(policy, priority)
    return {
        "classification": {
            "category": found.category, "priority": found.priority, "matched": found.matched,
            "words": found.words, "errors": found.errors,
            "category_rule": found.category_rule, "priority_rule": found.priority_rule,
        },
        "category": category,
        "priority": priority,
        "team": routing.team,
        "routing_rule": routing.rule,
        "routing_errors": routing.errors,
        #: Whom the team's rotation would pick now (None: no such team, or nobody eligible).
        "assignee_id": assignee,
        "skipped": [{"user_id": user, "reason": reason} for user, reason in skipped],
        "hold": category in policy.hold_categories,
        "calendar": sla.calendar_name(policy, priority),
        "targets": {"first_response": targets.first_response, "next_response": targets.next_response,
                    "resolution": targets.resolution},
        "first_response": _local(state.deadline("first_response", now), zone_name),
        "resolution": _local(state.deadline("resolution", now), zone_name),
        "ladder": [
            {"key": due.key, "kind": due.kind, "target": due.target, "tier": due.tier,
             "notify": due.notify, "urgent": due.urgent, **(_local(due.at, zone_name) or {})}
            for due in sla.plan(state, policy, (), now)
        ],
    }
