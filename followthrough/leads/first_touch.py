"""The first-touch SLA of a lead, planned: when the owner's ``call`` task is due and when each
rung of the ladder fires, from the moment the lead is assigned.

Pure and workflow-safe: the start, the owner's calendar and its pinned holidays are arguments;
the arithmetic is the one clock's (``followthrough.clock.SlaClock``). Business time counts on the
owner's working calendar (or the policy's ``sla.calendar``); an owner with no calendar is always
at work (as the people policy says), so their business time is elapsed time, and so is a policy
with ``business: false``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from followthrough.calendar import Calendar, PinnedHolidays
from followthrough.clock import ClockError, SlaClock
from followthrough.dsl.durations import parse_duration
from followthrough.leads.policy import FirstTouch, LadderTier


@dataclass(frozen=True)
class PlannedTier:
    """One rung of the ladder and the instant it fires."""

    index: int
    tier: LadderTier
    at: datetime


@dataclass(frozen=True)
class FirstTouchPlan:
    starts_at: datetime
    #: ``sla.within`` as the policy says it, and as a duration.
    within: str
    budget: timedelta
    #: The calendar business time counts on (None: elapsed time).
    calendar: str | None
    due_at: datetime
    tiers: list[PlannedTier] = field(default_factory=list)
    #: The running clock (None: elapsed time), for a workflow to keep and pause or stop.
    clock: SlaClock | None = None

    def explanation(self) -> dict[str, Any]:
        return {"starts_at": self.starts_at.isoformat(), "within": self.within,
                "calendar": self.calendar, "business": self.calendar is not None,
                "due_at": self.due_at.isoformat(),
                "ladder": [{"tier": t.index, "at": t.at.isoformat(),
                            "threshold": t.tier.at.model_dump(exclude_none=True),
                            "notify": list(t.tier.notify), "action": t.tier.action} for t in self.tiers]}


def plan(sla: FirstTouch, start: datetime, calendar: Calendar | None,
         holidays: dict[str, PinnedHolidays] | None = None) -> FirstTouchPlan:
    """The plan of an SLA that starts at ``start`` (the assignment) on ``calendar``. Raises
    ``followthrough.clock.ClockError`` for a calendar without working time."""
    start = start.astimezone(UTC)
    budget = parse_duration(sla.within)
    if not sla.business or calendar is None:
        return FirstTouchPlan(start, sla.within, budget, None, start + budget,
                              [PlannedTier(i, tier, start + tier.at.elapsed(budget))
                               for i, tier in enumerate(sla.ladder)])
    clock = SlaClock.start(budget, calendar, start, holidays=holidays)
    return FirstTouchPlan(start, sla.within, budget, calendar.name, _reached(clock, budget, start),
                          [PlannedTier(i, tier, _reached(clock, tier.at.elapsed(budget), start))
                           for i, tier in enumerate(sla.ladder)], clock)


def _reached(clock: SlaClock, elapsed: timedelta, now: datetime) -> datetime:
    at = clock.when_elapsed(elapsed, now)
    if at is None:  # only a stopped clock has no time left to reach; this one has just started
        raise ClockError("the first-touch clock is stopped")
    return at
