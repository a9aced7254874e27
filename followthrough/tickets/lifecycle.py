"""What a ticket does next, and how an action changes it: pure and workflow-safe.

The workflow (``workflows/ticket.py``) only carries out these decisions; the API's views and
tests ask the same functions. Statuses are closed (``TicketStatus``); an action a status does
not allow is refused with a reason naming the status (the Update's validator raises it).

The SLA clocks and the ladder's instants are ``followthrough.tickets.sla`` (on the shared
clock's ``SlaClock``): this module says *when* they pause, resume, stop and are recomputed (the
status changes, responses, the customer's messages), and records each change as an event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from followthrough.calendar import Calendar, PinnedHolidays, calendars_with
from followthrough.dsl.durations import parse_signed_duration
from followthrough.models.tickets import (
    OPEN_STATUSES,
    PAUSED_STATUSES,
    TicketEntity,
    TicketEventIn,
    TicketStatus,
)
from followthrough.tickets import sla
from followthrough.tickets.policy import SlaPolicyDefinition
from followthrough.tickets.sla import Due, SlaState

Action = Literal["respond", "note", "assign", "priority", "status", "resolve", "reopen", "survey"]

#: The statuses each action is allowed from.
ALLOWED: dict[str, frozenset[TicketStatus]] = {
    "respond": frozenset(OPEN_STATUSES | {TicketStatus.RESOLVED}),
    "note": frozenset(set(TicketStatus)),
    "assign": frozenset(OPEN_STATUSES),
    "priority": frozenset(OPEN_STATUSES),
    "status": frozenset(OPEN_STATUSES),
    "resolve": frozenset(OPEN_STATUSES),
    "reopen": frozenset({TicketStatus.RESOLVED}),
    "survey": frozenset({TicketStatus.RESOLVED}),
}
#: The statuses the ``status`` action may set (resolve and reopen have their own actions).
SETTABLE = frozenset({TicketStatus.OPEN, TicketStatus.WAITING_ON_CUSTOMER, TicketStatus.ON_HOLD})


def refusal(entity: TicketEntity, action: Action, **details: Any) -> str | None:
    """Why ``action`` is not allowed now (None: it is)."""
    status = entity.status
    if status not in ALLOWED[action]:
        return f"ticket {entity.ticket_id} is {status.value}; {action} is not allowed"
    if action == "status":
        wanted = TicketStatus(details["status"])
        if wanted not in SETTABLE:
            return f"ticket {entity.ticket_id} is {status.value}; status {wanted.value} is set by its own action"
        if wanted == status:
            return f"ticket {entity.ticket_id} is {status.value} already"
    if action == "priority":
        if details["priority"] == entity.priority:
            return f"ticket {entity.ticket_id} is {status.value} with priority {entity.priority} already"
        if details["priority"] not in details.get("known", (details["priority"],)):
            return f"ticket {entity.ticket_id} is {status.value}; the policy has no priority '{details['priority']}'"
    if action == "survey" and (not entity.survey_sent or entity.score is not None):
        return f"ticket {entity.ticket_id} is {status.value}; no survey awaits an answer"
    return None


# -- what a ticket's decisions read ---------------------------------------------------------

@dataclass(frozen=True)
class Pinned:
    """What a ticket's decisions read: its pinned policy, calendars and holiday dates."""

    policy: SlaPolicyDefinition
    #: The calendars as their documents say (clocks read public holidays from ``holidays`` only).
    calendars: dict[str, Calendar]
    holidays: dict[str, PinnedHolidays]

    @classmethod
    def of(cls, policy: dict[str, Any], calendars: dict[str, dict[str, Any]],
           holidays: dict[str, PinnedHolidays]) -> Pinned:
        """The parsed policy and calendars, one shared copy per content: thousands of open
        tickets pin the same few versions, and each parsed copy costs ~34 KiB of the worker's
        memory (issue 13: 10,000 open tickets). Shared safely: it is frozen, never mutated."""
        key = json.dumps([policy, calendars, {c: h.model_dump(mode="json") for c, h in holidays.items()}],
                         sort_keys=True, default=str)
        return _pinned(key)


@lru_cache(maxsize=64)
def _pinned(key: str) -> Pinned:
    policy, calendars, holidays = json.loads(key)
    return Pinned(SlaPolicyDefinition.model_validate(policy), calendars_with(calendars),
                  {c: PinnedHolidays.model_validate(h) for c, h in holidays.items()})


def calendar_names(policy: SlaPolicyDefinition) -> list[str]:
    """Every calendar the policy's clocks may count on."""
    return sorted({policy.calendar, *(t.calendar for t in policy.priorities.values() if t.calendar)})


# -- changes ----------------------------------------------------------------------------------

Events = list[TicketEventIn]


def _event(entity: TicketEntity, kind: str, key: str, at: datetime, **detail: Any) -> TicketEventIn:
    return TicketEventIn(kind=kind, key=f"ticket-{entity.ticket_id}:{key}", at=at, detail=detail)


def _sla(entity: TicketEntity) -> SlaState:
    if entity.sla is None:
        raise ValueError(f"ticket {entity.ticket_id} has no clocks yet")
    return entity.sla


def _clock_event(entity: TicketEntity, kind: str, now: datetime, reason: str) -> TicketEventIn:
    """A clock change with every clock's remaining budget (the record a recompute asks for)."""
    state = _sla(entity)
    return _event(entity, "clock", f"clock-{len(state.history)}", now, change=kind, reason=reason,
                  remaining_seconds=time_left(entity, now), deadlines={
                      t: (d.isoformat() if d else None) for t, d in deadlines(entity, now).items()})


def opened(entity: TicketEntity, pinned: Pinned, now: datetime) -> TicketEntity:
    """A new ticket: its first-response and resolution clocks start."""
    state = sla.start(pinned.policy, entity.priority, calendars=pinned.calendars, holidays=pinned.holidays, at=now)
    return entity.model_copy(update={"sla": state})


def set_status(entity: TicketEntity, status: TicketStatus, now: datetime, reason: str = "") -> tuple[TicketEntity, Events]:
    """Move to ``status``: clocks pause on entering a paused status and resume on leaving it."""
    before = entity.status
    entity = entity.model_copy(update={"status": status})
    events: Events = [_event(entity, "status", f"status-{int(now.timestamp() * 1000)}-{status.value}", now,
                             before=before.value, after=status.value, reason=reason)]
    state = entity.sla
    if state is None or status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        return entity, events
    if status in PAUSED_STATUSES and before not in PAUSED_STATUSES:
        entity = entity.model_copy(update={"sla": sla.pause(state, now, status.value)})
        events.append(_clock_event(entity, "pause", now, status.value))
    elif status not in PAUSED_STATUSES and before in PAUSED_STATUSES:
        entity = entity.model_copy(update={"sla": sla.resume(state, now, reason or status.value)})
        events.append(_clock_event(entity, "resume", now, reason or status.value))
    return entity, events


def responded(entity: TicketEntity, now: datetime, status: TicketStatus | None) -> tuple[TicketEntity, Events]:
    """An agent answered the customer: the first (or the running next) response clock stops."""
    state = _sla(entity)
    target: sla.Target = "first_response" if not state.responded else "next_response"
    clock = state.clocks.get(target)
    events: Events = []
    if clock is not None and clock.stopped_at is None:
        round_ = state.rounds.get(target, 1)
        events.append(_event(entity, "response", f"{target}-{round_}", now, target=target, round=round_,
                             business_seconds=int(clock.elapsed(now).total_seconds()),
                             breached=clock.elapsed(now) > clock.budget))
    entity = entity.model_copy(update={"sla": sla.respond(state, now)})
    wanted = status or (TicketStatus.OPEN if entity.status == TicketStatus.NEW else entity.status)
    if wanted != entity.status:
        entity, more = set_status(entity, wanted, now, "responded")
        events += more
    return entity, events


def customer_wrote(entity: TicketEntity, pinned: Pinned, now: datetime, key: str) -> tuple[TicketEntity, Events]:
    """The customer wrote: a paused ticket resumes (exact remaining budget), a resolved one
    reopens, and once answered a next-response round starts."""
    if key in entity.seen:
        return entity, []
    entity = entity.model_copy(update={"seen": [*entity.seen, key][-50:]})
    events: Events = []
    if entity.status == TicketStatus.RESOLVED:
        entity, events = reopened(entity, pinned, now, "the customer replied")
    elif entity.status in PAUSED_STATUSES:
        entity, events = set_status(entity, TicketStatus.OPEN, now, "the customer replied")
    return entity.model_copy(update={"sla": sla.customer_message(_sla(entity), pinned.policy, now)}), events


def reopened(entity: TicketEntity, pinned: Pinned, now: datetime, reason: str) -> tuple[TicketEntity, Events]:
    """Back to ``open``: a new round of the resolution clock."""
    entity = entity.model_copy(update={"sla": sla.reopen(_sla(entity), pinned.policy, now), "resolved_at": None,
                                       "survey_sent": False, "score": None})
    entity, events = set_status(entity, TicketStatus.OPEN, now, reason)
    return entity, [*events, _clock_event(entity, "reopen", now, reason)]


def resolved(entity: TicketEntity, now: datetime, note: str) -> tuple[TicketEntity, Events]:
    """Every clock stops; the survey and the close are planned from ``now``."""
    entity, events = set_status(entity, TicketStatus.RESOLVED, now, "resolved")
    entity = entity.model_copy(update={"sla": sla.resolve(_sla(entity), now), "resolved_at": now,
                                       "resolutions": entity.resolutions + 1})
    return entity, events


def reprioritised(entity: TicketEntity, pinned: Pinned, priority: str, now: datetime) -> tuple[TicketEntity, Events]:
    """A new priority: the clocks get its budgets (and calendar); the time used stays."""
    state = sla.change_priority(_sla(entity), pinned.policy, priority, now, calendars=pinned.calendars)
    entity = entity.model_copy(update={"priority": priority, "sla": state})
    return entity, [_clock_event(entity, "priority", now, f"priority {priority}")]


def recalendared(entity: TicketEntity, pinned: Pinned, name: str, now: datetime) -> tuple[TicketEntity, Events]:
    """The calendar ``name`` was edited: clocks on it count on the new one from ``now``."""
    state = sla.change_calendar(_sla(entity), pinned.calendars[name], now, holidays=pinned.holidays)
    entity = entity.model_copy(update={"sla": state})
    return entity, [_clock_event(entity, "calendar", now, f"calendar {name} edited")]


# -- what comes next ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Next:
    kind: Literal["rung", "survey", "close", "end", "wait"]
    at: datetime | None = None
    due: Due | None = None


def plan(entity: TicketEntity, pinned: Pinned, now: datetime) -> Next:
    """The next thing the ticket's workflow does, and when."""
    if entity.status == TicketStatus.CLOSED:
        return Next("end")
    if entity.status == TicketStatus.RESOLVED and entity.resolved_at is not None:
        survey = pinned.policy.survey
        if survey.enabled and not entity.survey_sent:
            return Next("survey", entity.resolved_at + parse_signed_duration(survey.delay))
        return Next("close", entity.resolved_at + parse_signed_duration(survey.close_after))
    if entity.sla is None:
        return Next("wait")
    upcoming = sla.plan(entity.sla, pinned.policy, entity.fired, now)
    if not upcoming:
        return Next("wait")
    return Next("rung", upcoming[0].at, upcoming[0])


def fired(entity: TicketEntity, due: Due, told: list[int], now: datetime) -> tuple[TicketEntity, Events]:
    """Record a rung as done: a warning, an escalation (its tier and who was told), or a
    breach (the highest tier told by the deadline, and who that tier told)."""
    told_by_tier = dict(entity.told)
    if due.kind == "escalation":
        told_by_tier[f"{due.target}/{due.round}/{due.tier}"] = told
    elif due.kind == "breach":
        told = told_by_tier.get(f"{due.target}/{due.round}/{due.tier}", [])
    entity = entity.model_copy(update={"fired": [*entity.fired, due.key], "told": told_by_tier})
    clock = _sla(entity).clocks[due.target]
    detail = {"target": due.target, "round": due.round, "tier": due.tier, "told": told,
              "due_at": due.at.isoformat(), "lateness_ms": int((now - due.at).total_seconds() * 1000),
              "remaining_seconds": int(clock.remaining(now).total_seconds())}
    return entity, [_event(entity, due.kind, due.key, now, **detail)]


def time_left(entity: TicketEntity, now: datetime) -> dict[str, int]:
    """Business seconds left on each clock not stopped."""
    clocks = entity.sla.clocks if entity.sla is not None else {}
    return {t: round(c.remaining(now).total_seconds()) for t, c in clocks.items() if c.stopped_at is None}


def deadlines(entity: TicketEntity, now: datetime) -> dict[str, datetime | None]:
    """Each clock's deadline (None: paused or stopped)."""
    clocks = entity.sla.clocks if entity.sla is not None else {}
    return {t: (c.deadline(now) if c.running else None) for t, c in clocks.items()}
