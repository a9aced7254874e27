"""What a ticket does next, and how an action changes it: pure and workflow-safe.

The workflow (``workflows/ticket.py``) only carries out these decisions; the API's views and
tests ask the same functions. Statuses are closed (``TicketStatus``); an action a status does
not allow is refused with a reason naming the status (the Update's validator raises it).

The SLA clocks are the shared clock's ``SlaClock`` (followthrough/clock.py): paused while the
ticket waits on the customer or is on hold, resumed with exactly the business time left, stopped
by the answer they measure (first and next response) or by the resolution; a priority change or
an edited calendar recomputes them (the time used stays, the deadline moves).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from followthrough import ids
from followthrough.calendar import Calendar, PinnedHolidays, calendars_with
from followthrough.clock import SlaClock
from followthrough.dsl.durations import parse_signed_duration
from followthrough.models.tickets import (
    OPEN_STATUSES,
    PAUSED_STATUSES,
    TARGETS,
    TicketEntity,
    TicketEventIn,
    TicketStatus,
)
from followthrough.tickets.policy import Escalation, SlaPolicyDefinition, Targets

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


# -- the policy's clock parameters ----------------------------------------------------------

@dataclass(frozen=True)
class Pinned:
    """What a ticket's decisions read: its pinned policy, calendars and holiday dates."""

    policy: SlaPolicyDefinition
    #: The calendars as documents say (clocks read public holidays from ``holidays`` only).
    calendars: dict[str, Calendar]
    holidays: dict[str, PinnedHolidays]

    @classmethod
    def of(cls, policy: dict[str, Any], calendars: dict[str, dict[str, Any]],
           holidays: dict[str, PinnedHolidays]) -> Pinned:
        return cls(SlaPolicyDefinition.model_validate(policy), calendars_with(calendars), holidays)

    def targets(self, priority: str) -> Targets:
        return self.policy.priorities.get(priority) or self.policy.priorities[self.policy.default_priority]  # type: ignore[index]

    def calendar_name(self, priority: str) -> str:
        return self.targets(priority).calendar or self.policy.calendar

    def calendar(self, priority: str) -> Calendar:
        return self.calendars[self.calendar_name(priority)]

    def budget(self, priority: str, target: str) -> timedelta | None:
        value = getattr(self.targets(priority), target)
        return None if value is None else parse_signed_duration(value)


def calendar_names(policy: SlaPolicyDefinition) -> list[str]:
    """Every calendar the policy's clocks may count on."""
    return sorted({policy.calendar, *(t.calendar for t in policy.priorities.values() if t.calendar)})


# -- changes ----------------------------------------------------------------------------------

Events = list[TicketEventIn]


def _event(entity: TicketEntity, kind: str, key: str, at: datetime, **detail: Any) -> TicketEventIn:
    return TicketEventIn(kind=kind, key=f"ticket-{entity.ticket_id}:{key}", at=at, detail=detail)


def _start_clock(entity: TicketEntity, pinned: Pinned, target: str, now: datetime) -> TicketEntity:
    budget = pinned.budget(entity.priority, target)
    if budget is None or budget <= timedelta(0):
        return entity
    clock = SlaClock.start(budget, pinned.calendar(entity.priority), now, holidays=pinned.holidays)
    clocks = {**entity.clocks, target: clock}
    cycles = {**entity.cycles, target: entity.cycles.get(target, 0) + 1}
    return entity.model_copy(update={"clocks": clocks, "cycles": cycles,
                                     "tiers": {**entity.tiers, target: 0}})


def opened(entity: TicketEntity, pinned: Pinned, now: datetime) -> TicketEntity:
    """A new ticket: its first-response and resolution clocks start."""
    for target in ("first_response", "resolution"):
        entity = _start_clock(entity, pinned, target, now)
    return entity


def _each_clock(entity: TicketEntity, change: Any) -> TicketEntity:
    return entity.model_copy(update={"clocks": {t: change(t, c) for t, c in entity.clocks.items()}})


def _clock_event(entity: TicketEntity, kind: str, now: datetime, reason: str) -> TicketEventIn:
    left = {t: int(c.remaining(now).total_seconds()) for t, c in entity.clocks.items() if c.stopped_at is None}
    seq = len(next(iter(entity.clocks.values())).history) if entity.clocks else 0
    return _event(entity, "clock", f"clock-{kind}-{seq}-{int(now.timestamp())}", now, change=kind,
                  reason=reason, remaining_seconds=left)


def set_status(entity: TicketEntity, status: TicketStatus, now: datetime, reason: str = "") -> tuple[TicketEntity, Events]:
    """Move to ``status``: clocks pause on entering a paused status and resume on leaving it."""
    before = entity.status
    entity = entity.model_copy(update={"status": status})
    events: Events = [_event(entity, "status", f"status-{int(now.timestamp() * 1000)}-{status.value}", now,
                             before=before.value, after=status.value, reason=reason)]
    if status in PAUSED_STATUSES and before not in PAUSED_STATUSES:
        entity = _each_clock(entity, lambda t, c: c.pause(now, status.value))
        events.append(_clock_event(entity, "pause", now, status.value))
    elif status not in PAUSED_STATUSES and before in PAUSED_STATUSES:
        entity = _each_clock(entity, lambda t, c: c.resume(now, reason or status.value))
        events.append(_clock_event(entity, "resume", now, reason or status.value))
    return entity, events


def responded(entity: TicketEntity, now: datetime, status: TicketStatus | None) -> tuple[TicketEntity, Events]:
    """An agent answered the customer: the first (or next) response clock stops."""
    events: Events = []
    clocks = dict(entity.clocks)
    for target in ("first_response", "next_response"):
        clock = clocks.get(target)
        if clock is not None and clock.stopped_at is None:
            clocks[target] = clock.stop(now, "responded")
            events.append(_event(entity, "response", f"{target}-{entity.cycles.get(target, 1)}", now,
                                 target=target, business_seconds=int(clock.elapsed(now).total_seconds()),
                                 breached=clock.elapsed(now) > clock.budget))
    entity = entity.model_copy(update={"clocks": clocks, "responded": True})
    wanted = status or (TicketStatus.OPEN if entity.status == TicketStatus.NEW else entity.status)
    if wanted != entity.status:
        entity, more = set_status(entity, wanted, now, "responded")
        events += more
    return entity, events


def customer_wrote(entity: TicketEntity, pinned: Pinned, now: datetime, key: str) -> tuple[TicketEntity, Events]:
    """The customer wrote: a paused ticket resumes (exact remaining budget), a resolved one
    reopens, and once answered the next-response clock starts."""
    if key in entity.seen:
        return entity, []
    entity = entity.model_copy(update={"seen": [*entity.seen, key][-50:]})
    events: Events = []
    if entity.status == TicketStatus.RESOLVED:
        entity, events = reopened(entity, pinned, now, "the customer replied")
    elif entity.status in PAUSED_STATUSES:
        entity, events = set_status(entity, TicketStatus.OPEN, now, "the customer replied")
    current = entity.clocks.get("next_response")
    if entity.responded and (current is None or current.stopped_at is not None):
        entity = _start_clock(entity, pinned, "next_response", now)
    return entity, events


def reopened(entity: TicketEntity, pinned: Pinned, now: datetime, reason: str) -> tuple[TicketEntity, Events]:
    """Back to ``open``: the resolution clock goes on from the business time it had used."""
    clock = entity.clocks.get("resolution")
    clocks = dict(entity.clocks)
    if clock is not None:
        clocks["resolution"] = clock.model_copy(update={"stopped_at": None, "changed_at": now}).resume(now, reason)
    entity = entity.model_copy(update={"clocks": clocks, "resolved_at": None, "survey_sent": False,
                                       "score": None, "status": TicketStatus.RESOLVED})
    entity, events = set_status(entity, TicketStatus.OPEN, now, reason)
    return entity, events


def resolved(entity: TicketEntity, now: datetime, note: str) -> tuple[TicketEntity, Events]:
    """Every clock stops; the survey and the close are planned from ``now``."""
    entity, events = set_status(entity, TicketStatus.RESOLVED, now, "resolved")
    entity = _each_clock(entity, lambda t, c: c.stop(now, "resolved"))
    entity = entity.model_copy(update={"resolved_at": now, "resolutions": entity.resolutions + 1})
    return entity, events


def reprioritised(entity: TicketEntity, pinned: Pinned, priority: str, now: datetime) -> tuple[TicketEntity, Events]:
    """A new priority: running clocks get its budgets and calendar; the time used stays."""
    entity = entity.model_copy(update={"priority": priority})
    calendar = pinned.calendar(priority)

    def change(target: str, clock: SlaClock) -> SlaClock:
        budget = pinned.budget(priority, target)
        if clock.stopped_at is not None or budget is None:
            return clock
        return clock.recompute(now, budget=budget, calendar=calendar, holidays=pinned.holidays,
                               reason=f"priority {priority}")

    entity = _each_clock(entity, change)
    return entity, [_clock_event(entity, "priority", now, f"priority {priority}")]


def recalendared(entity: TicketEntity, pinned: Pinned, name: str, now: datetime) -> tuple[TicketEntity, Events]:
    """The calendar ``name`` was edited: clocks on it count on the new one from ``now``."""
    calendar = pinned.calendars[name]

    def change(target: str, clock: SlaClock) -> SlaClock:
        if clock.stopped_at is not None or clock.calendar.name != name:
            return clock
        return clock.recompute(now, calendar=calendar, holidays=pinned.holidays, reason=f"calendar {name} edited")

    entity = _each_clock(entity, change)
    return entity, [_clock_event(entity, "calendar", now, f"calendar {name} edited")]


# -- what comes next ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Rung:
    """A warning or escalation due on a clock: its key, instant and place on the ladder."""

    key: str
    target: str
    at: datetime
    index: int
    escalation: Escalation | None  # None: the deadline itself (a breach)
    #: The tier: 0 for a warning, n for the n-th escalation of the target's ladder.
    tier: int

    @property
    def breach(self) -> bool:
        return self.escalation is None


@dataclass(frozen=True)
class Next:
    kind: Literal["rung", "survey", "close", "end", "wait"]
    at: datetime | None = None
    rung: Rung | None = None


def rungs(entity: TicketEntity, pinned: Pinned, now: datetime) -> list[Rung]:
    """Every warning, escalation and deadline still to come on the running clocks, soonest
    first (paused and stopped clocks have none)."""
    found: list[Rung] = []
    ladder = pinned.targets(entity.priority).ladder
    for target in TARGETS:
        clock = entity.clocks.get(target)
        if clock is None or not clock.running:
            continue
        cycle = entity.cycles.get(target, 1)
        tier = 0
        for index, escalation in enumerate(ladder):
            if escalation.target != target:
                continue
            tier = tier if escalation.warning else tier + 1
            key = ids.ticket_rung_key(target, cycle, index)
            at = clock.at_threshold(escalation.at, now)
            if key not in entity.fired and at is not None:
                found.append(Rung(key, target, at, index, escalation, 0 if escalation.warning else tier))
        key = ids.ticket_rung_key(target, cycle, "deadline")
        deadline = clock.deadline(now)
        if key not in entity.fired and deadline is not None:
            found.append(Rung(key, target, deadline, -1, None, entity.tiers.get(target, 0)))
    # A deadline and a rung at 100 % share an instant: the rung (who is told) goes first.
    return sorted(found, key=lambda r: (r.at, r.breach, r.index))


def plan(entity: TicketEntity, pinned: Pinned, now: datetime) -> Next:
    """The next thing the ticket's workflow does, and when."""
    if entity.status == TicketStatus.CLOSED:
        return Next("end")
    if entity.status == TicketStatus.RESOLVED and entity.resolved_at is not None:
        survey = pinned.policy.survey
        if survey.enabled and not entity.survey_sent:
            return Next("survey", entity.resolved_at + parse_signed_duration(survey.delay))
        return Next("close", entity.resolved_at + parse_signed_duration(survey.close_after))
    upcoming = rungs(entity, pinned, now)
    if not upcoming:
        return Next("wait")
    return Next("rung", upcoming[0].at, upcoming[0])


def fired(entity: TicketEntity, rung: Rung, told: list[int], now: datetime) -> tuple[TicketEntity, Events]:
    """Record a rung as done: a warning, an escalation, or the deadline's breach (with the
    highest tier told until then and who that was)."""
    tiers = dict(entity.tiers)
    if rung.escalation is not None and not rung.escalation.warning:
        tiers[rung.target] = max(tiers.get(rung.target, 0), rung.tier)
    entity = entity.model_copy(update={"fired": [*entity.fired, rung.key], "tiers": tiers})
    clock = entity.clocks[rung.target]
    if rung.escalation is None:
        kind = "breach"
    elif rung.escalation.warning:
        kind = "warning"
    else:
        kind = "breach" if rung.escalation.at.elapsed(clock.budget) >= clock.budget else "escalation"
    detail = {"target": rung.target, "tier": rung.tier, "told": told, "due_at": rung.at.isoformat(),
              "lateness_ms": int((now - rung.at).total_seconds() * 1000),
              "remaining_seconds": int(clock.remaining(now).total_seconds())}
    return entity, [_event(entity, kind, f"{kind}-{rung.key}", now, **detail)]


def time_left(entity: TicketEntity, now: datetime) -> dict[str, int]:
    return {t: int(c.remaining(now).total_seconds()) for t, c in entity.clocks.items() if c.stopped_at is None}


def deadlines(entity: TicketEntity, now: datetime) -> dict[str, datetime | None]:
    """Each clock's deadline (None: paused or stopped)."""
    return {t: (c.deadline(now) if c.running else None) for t, c in entity.clocks.items()}
