"""A ticket's SLA: its clocks, and when its ladder's rungs are due. Pure and workflow-safe.

The ticket workflow keeps one ``SlaState`` and changes it only through these functions (each
returns a new state, with the change in ``history``); the preview plans with the same ones.

- ``start``: at intake, the clocks of the priority's targets: ``first_response`` and
  ``resolution`` (``next_response`` starts later, see ``customer_message``), each an ``SlaClock``
  of business time on the targets' calendar (else the policy's), with the run's pinned holidays.
- ``pause`` / ``resume``: while the ticket is ``waiting_on_customer`` or ``on_hold`` every running
  clock stands still; it resumes with exactly the budget it had left.
- ``respond``: an agent's response stops the first-response clock (the first time) or the
  running next-response clock.
- ``customer_message``: once the first response was made, a customer's message starts a new
  round of the next-response clock (when the priority has that target and none is running).
- ``resolve`` stops every clock; ``reopen`` starts a new round of the resolution clock with the
  priority's full budget (the first round's breaches stay recorded under their own keys).
- ``change_priority``: running and paused clocks keep the business time they used and get the new
  priority's budgets (and calendar, when it names another); ``change_calendar``: clocks on an
  edited calendar count on the new one from the edit on (``SlaClock.recompute``).
- ``plan``: every rung of the ladder not fired yet, as ``Due`` items with the exact instant
  (``SlaClock.at_threshold``), plus each target's breach at its deadline. Paused and stopped
  clocks plan nothing. A rung's ``key`` is stable per (target, round, tier): the workflow
  records the keys it fired and passes them back, so nothing fires twice, not even after a
  priority change (a tier already told is not told again; the new ladder's later tiers follow
  their new thresholds).

Tiers: a target's escalations (rungs without ``warning``) are tiers 1, 2, ... in ladder order;
its warnings are numbered apart. A breach carries the highest tier told by the deadline (0: none).
A priority without targets in the policy uses the default priority's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from followthrough.calendar import Calendar, PinnedHolidays
from followthrough.clock import ClockError, SlaClock
from followthrough.dsl.durations import parse_signed_duration
from followthrough.tickets.policy import Escalation, SlaPolicyDefinition, Targets

Target = Literal["first_response", "next_response", "resolution"]
TARGETS: tuple[Target, ...] = ("first_response", "next_response", "resolution")
DueKind = Literal["warning", "escalation", "breach"]
ChangeKind = Literal["start", "pause", "resume", "respond", "customer_message", "resolve", "reopen",
                     "priority", "calendar"]
#: The ticket statuses during which the clocks stand still.
PAUSING_STATUSES: frozenset[str] = frozenset({"waiting_on_customer", "on_hold"})


class SlaChange(BaseModel):
    """One entry of a ticket's SLA history (each clock keeps its own, finer one)."""

    model_config = ConfigDict(frozen=True)

    kind: ChangeKind
    at: datetime
    detail: str = ""


class SlaState(BaseModel):
    """The clocks of one ticket. ``clocks`` holds each target's current round."""

    model_config = ConfigDict(frozen=True)

    priority: str
    clocks: dict[Target, SlaClock] = Field(default_factory=dict)
    rounds: dict[Target, int] = Field(default_factory=dict)
    responded: bool = False
    paused: bool = False
    history: list[SlaChange] = Field(default_factory=list)

    def deadline(self, target: Target, now: datetime) -> datetime | None:
        """When ``target``'s current round runs out (None: no such clock, or stopped)."""
        clock = self.clocks.get(target)
        return None if clock is None else clock.deadline(now)

    def _with(self, kind: ChangeKind, at: datetime, detail: str = "", **update: object) -> SlaState:
        entry = SlaChange(kind=kind, at=at, detail=detail)
        return self.model_copy(update={**update, "history": [*self.history, entry]})


class Due(BaseModel):
    """A rung of the ladder (or a breach) and the instant it is due."""

    model_config = ConfigDict(frozen=True)

    key: str
    kind: DueKind
    target: Target
    round: int
    #: Escalation: its tier; warning: its number among the target's warnings; breach: the
    #: highest tier told by the deadline (0: none).
    tier: int
    at: datetime
    notify: list[str | int] = Field(default_factory=list)
    #: The priority's notifications reach people outside their working time too.
    urgent: bool = False


def targets(policy: SlaPolicyDefinition, priority: str) -> Targets:
    """The targets of ``priority``; the default priority's when the policy has none for it."""
    found = policy.priorities.get(priority)  # type: ignore[call-overload]
    return found if found is not None else policy.priorities[policy.default_priority]


def calendar_name(policy: SlaPolicyDefinition, priority: str) -> str:
    """The calendar ``priority``'s clocks count on."""
    return targets(policy, priority).calendar or policy.calendar


def budget(policy: SlaPolicyDefinition, priority: str, target: Target) -> timedelta | None:
    """``target``'s budget under ``priority`` (None: the priority has no such target)."""
    value = getattr(targets(policy, priority), target)
    return None if value is None else parse_signed_duration(value)


def _calendar(calendars: Mapping[str, Calendar], name: str) -> Calendar:
    found = calendars.get(name)
    if found is None:
        raise ClockError(f"no calendar named '{name}'")
    return found


def start(policy: SlaPolicyDefinition, priority: str, *, calendars: Mapping[str, Calendar],
          holidays: dict[str, PinnedHolidays] | None, at: datetime) -> SlaState:
    """The clocks of a ticket opened at ``at``: first response and resolution, running."""
    calendar = _calendar(calendars, calendar_name(policy, priority))
    clocks: dict[Target, SlaClock] = {}
    for target in ("first_response", "resolution"):
        amount = budget(policy, priority, target)
        if amount is not None:
            clocks[target] = SlaClock.start(amount, calendar, at, holidays=holidays)
    state = SlaState(priority=priority, clocks=clocks, rounds=dict.fromkeys(clocks, 1))
    return state._with("start", at, priority)


def _each(state: SlaState, change: str, at: datetime, reason: str) -> dict[Target, SlaClock]:
    return {target: getattr(clock, change)(at, reason) for target, clock in state.clocks.items()}


def pause(state: SlaState, at: datetime, reason: str = "") -> SlaState:
    """Every running clock stands still from ``at`` (the ticket waits on the customer, or is on
    hold); pausing a paused state changes nothing."""
    if state.paused:
        return state
    return state._with("pause", at, reason, clocks=_each(state, "pause", at, reason), paused=True)


def resume(state: SlaState, at: datetime, reason: str = "") -> SlaState:
    """The paused clocks count again from ``at`` with exactly the budget they had left."""
    if not state.paused:
        return state
    return state._with("resume", at, reason, clocks=_each(state, "resume", at, reason), paused=False)


def respond(state: SlaState, at: datetime) -> SlaState:
    """An agent responded: stops the first-response clock, else the running next-response one."""
    target: Target = "first_response" if not state.responded else "next_response"
    clocks = dict(state.clocks)
    if target in clocks:
        clocks[target] = clocks[target].stop(at, "responded")
    return state._with("respond", at, target, clocks=clocks, responded=True)


def customer_message(state: SlaState, policy: SlaPolicyDefinition, at: datetime) -> SlaState:
    """The customer wrote: after the first response, a new next-response round starts (when the
    priority has the target and none is running). Resuming paused clocks is the caller's
    decision (the status change), not this one's."""
    amount = budget(policy, state.priority, "next_response")
    current = state.clocks.get("next_response")
    running = current is not None and current.stopped_at is None
    if not state.responded or amount is None or running:
        return state
    basis = state.clocks["resolution"]  # every clock of a ticket counts on the same calendar
    clock = SlaClock.start(amount, basis.calendar, at, holidays=basis.holidays)
    if state.paused:
        clock = clock.pause(at, "paused")
    number = state.rounds.get("next_response", 0) + 1
    return state._with("customer_message", at, f"next_response round {number}",
                       clocks={**state.clocks, "next_response": clock},
                       rounds={**state.rounds, "next_response": number})


def resolve(state: SlaState, at: datetime) -> SlaState:
    """Resolved: every clock stops (the business time each used stays)."""
    return state._with("resolve", at, clocks=_each(state, "stop", at, "resolved"), paused=False)


def reopen(state: SlaState, policy: SlaPolicyDefinition, at: datetime) -> SlaState:
    """Reopened: a new round of the resolution clock, with the priority's full budget."""
    amount = budget(policy, state.priority, "resolution")
    basis = state.clocks["resolution"]
    if amount is None:
        return state
    number = state.rounds.get("resolution", 1) + 1
    clock = SlaClock.start(amount, basis.calendar, at, holidays=basis.holidays)
    return state._with("reopen", at, f"resolution round {number}", paused=False,
                       clocks={**state.clocks, "resolution": clock},
                       rounds={**state.rounds, "resolution": number})


def change_priority(state: SlaState, policy: SlaPolicyDefinition, priority: str, at: datetime, *,
                    calendars: Mapping[str, Calendar]) -> SlaState:
    """The clocks under ``priority`` from ``at`` on: the business time each used stays, the
    budgets (and the calendar, when the new targets name another) are the new priority's. A
    target the new priority lacks stops."""
    if priority == state.priority:
        return state
    reason = f"priority {state.priority} -> {priority}"
    name = calendar_name(policy, priority)
    clocks: dict[Target, SlaClock] = {}
    for target, clock in state.clocks.items():
        if clock.stopped_at is not None:
            clocks[target] = clock
            continue
        amount = budget(policy, priority, target)
        if amount is None:
            clocks[target] = clock.stop(at, reason)
            continue
        calendar = None if name == clock.calendar.name else _calendar(calendars, name)
        clocks[target] = clock.recompute(at, budget=amount, calendar=calendar, reason=reason)
    return state._with("priority", at, reason, clocks=clocks, priority=priority)


def change_calendar(state: SlaState, calendar: Calendar, at: datetime, *,
                    holidays: dict[str, PinnedHolidays] | None = None) -> SlaState:
    """A calendar was edited: the clocks on it count on the new version from ``at`` on (SLA
    clocks follow their calendar, unlike sequences, which keep the one they started with)."""
    clocks = {
        target: clock.recompute(at, calendar=calendar, holidays=holidays, reason="calendar edited")
        if clock.stopped_at is None and clock.calendar.name == calendar.name else clock
        for target, clock in state.clocks.items()
    }
    if clocks == state.clocks:
        return state
    return state._with("calendar", at, calendar.name, clocks=clocks)


def _rungs(ladder: list[Escalation], target: Target) -> list[tuple[DueKind, int, Escalation]]:
    """A target's rungs, numbered: escalations are tiers 1, 2, ...; warnings apart."""
    numbered: list[tuple[DueKind, int, Escalation]] = []
    counts = {"warning": 0, "escalation": 0}
    for rung in ladder:
        if rung.target != target:
            continue
        kind: DueKind = "warning" if rung.warning else "escalation"
        counts[kind] += 1
        numbered.append((kind, counts[kind], rung))
    return numbered


def due_key(target: Target, round_: int, kind: DueKind, tier: int) -> str:
    """The stable key of one rung of one clock round, e.g. ``resolution/1/escalation/2``."""
    return f"{target}/{round_}/breach" if kind == "breach" else f"{target}/{round_}/{kind}/{tier}"


def plan(state: SlaState, policy: SlaPolicyDefinition, fired: Collection[str], now: datetime) -> list[Due]:
    """Every rung (and breach) not in ``fired`` whose clock is running, by instant (a breach
    after the rungs of its instant), then key; an instant not later than ``now`` is due now."""
    found: list[Due] = []
    targets_ = targets(policy, state.priority)
    for target, clock in state.clocks.items():
        if not clock.running:
            continue
        round_ = state.rounds.get(target, 1)
        told = 0
        for kind, number, rung in _rungs(targets_.ladder, target):
            if kind == "escalation" and rung.at.elapsed(clock.budget) <= clock.budget:
                told = max(told, number)
            key = due_key(target, round_, kind, number)
            if key in fired:
                continue
            at = clock.at_threshold(rung.at, now)
            if at is not None:
                found.append(Due(key=key, kind=kind, target=target, round=round_, tier=number, at=at,
                                 notify=list(rung.notify), urgent=targets_.urgent))
        key = due_key(target, round_, "breach", 0)
        deadline = clock.deadline(now)
        if key not in fired and deadline is not None:
            found.append(Due(key=key, kind="breach", target=target, round=round_, tier=told, at=deadline,
                             urgent=targets_.urgent))
    # A breach comes after the rungs due at the same instant: it names the tier they told.
    return sorted(found, key=lambda due: (due.at, due.kind == "breach", due.key))


def due_now(state: SlaState, policy: SlaPolicyDefinition, fired: Collection[str], now: datetime) -> list[Due]:
    """What is due at ``now`` and not fired yet."""
    return [due for due in plan(state, policy, fired, now) if due.at <= now]


def next_wake(state: SlaState, policy: SlaPolicyDefinition, fired: Collection[str], now: datetime) -> datetime | None:
    """The instant of the next rung after ``now`` (None: nothing left to fire)."""
    return next((due.at for due in plan(state, policy, fired, now) if due.at > now), None)
