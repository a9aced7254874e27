"""The one clock: due times, grace periods, business-time budgets and recurrence.

Pure and workflow-safe: every function takes the time it reasons about (``now``, ``at``) as an
argument, and the calendars it counts on (``calendar.py``: working periods, lunch breaks, public
holidays pinned into a run). Tasks, leads, tickets and the definition language all ask this
module, so "in two working days at 15:00", "8 working hours" and "80 % of the SLA" mean one thing
everywhere. Results are UTC datetimes; elapsed time is always computed in UTC (see calendar.py).

- ``due(spec, now, ...)``: an RFC 3339 instant, or a ``Relative`` time as a person says it.
- ``grace_end(due, grace, calendar)``: the end of a grace period, elapsed or working time.
- ``SlaClock``: a business-time budget that pauses, resumes, stops and is recomputed when its
  calendar or budget changes, with the history of every change (docs/clock.md).
- ``next_occurrence(rule, start, after, zone)``: the next time of an RFC 5545 RRULE
  (``recurrence.py``, re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from followthrough.calendar import (
    TIME_PATTERN,
    Calendar,
    PinnedHolidays,
    add_business_time,
    business_time_between,
    local_wall_time,
    next_local_time,
    zone,
)
from followthrough.dsl.durations import parse_signed_duration
from followthrough.recurrence import check_rrule, next_occurrence

__all__ = [
    "FORM_TAGS", "ClockChange", "ClockError", "DueSpec", "Relative", "SlaClock", "Threshold",
    "check_rrule", "due", "grace_end", "next_occurrence",
]

#: The people a zone may name instead of an IANA name: whoever the caller knows the zone of.
ZONE_ROLES = ("owner", "contact")
#: The tags the ``DueSpec`` and ``Timeout`` unions put into a validation error's location; error
#: paths drop them (``/due/after``, not ``/due/relative-time/after``).
FORM_TAGS = frozenset({"rfc3339-instant", "iso-duration", "relative-time"})
#: How far ``due`` looks for a working date, in days (as calendar.py's horizon).
_HORIZON_DAYS = 800


class ClockError(ValueError):
    """A time that cannot be computed with what the caller gave (an unknown zone role or
    calendar, a calendar with no working time)."""


def _duration(value: str) -> str:
    if parse_signed_duration(value) < timedelta(0):
        raise ValueError(f"'{value}' must not be negative")
    return value


#: An ISO 8601 duration, zero or longer, kept as written (``P2D``, ``PT8H``).
Duration = Annotated[str, AfterValidator(_duration)]


def _check_zone(value: str) -> str:
    if value not in ZONE_ROLES:
        try:
            zone(value)
        except ValueError:
            raise ValueError(f"'{value}' is neither {' nor '.join(ZONE_ROLES)} nor an IANA time "
                             "zone name such as Europe/Budapest") from None
    return value


class Relative(BaseModel):
    """A time as a person says it, in the words of the definition language's waits:
    ``{"after": "P2D", "business": true, "at": "15:00", "zone": "contact"}`` is "in two working
    days at 15:00 the contact's time".

    - ``after``: an ISO 8601 duration (``P2D``, ``PT8H``; no years or months). Without
      ``business`` it is elapsed time (as a timer counts it); with ``business`` its days are
      working days of the calendar and its hours, minutes and seconds are working time.
    - ``at``: then the time of day ``HH:MM`` in ``zone`` on the date reached, or on the next
      (working) date when that time has already passed.
    - ``zone``: ``owner``, ``contact`` or an IANA name; unset, the caller's default zone.
    - ``calendar``: the calendar business time counts on; unset, the caller's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: Duration = "PT0S"
    business: bool = False
    at: str | None = Field(default=None, pattern=TIME_PATTERN)
    zone: str | None = None
    calendar: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return value if value is None else _check_zone(value)

    @model_validator(mode="after")
    def _meaningful(self) -> Self:
        if self.calendar is not None and not self.business:
            raise ValueError("a calendar counts only with business: true")
        if self.at is None and parse_signed_duration(self.after) == timedelta(0):
            raise ValueError("give after (longer than zero), at, or both")
        return self


def _form(value: Any) -> str:
    if isinstance(value, dict | Relative):
        return "relative-time"
    return "rfc3339-instant"


#: A due time as tasks take it: an RFC 3339 instant (with an offset) or a ``Relative`` time.
DueSpec = Annotated[
    Annotated[AwareDatetime, Tag("rfc3339-instant")] | Annotated[Relative, Tag("relative-time")],
    Discriminator(_form),
]


def due(spec: datetime | Relative, now: datetime, *, zone_name: str = "UTC",
        zones: Mapping[str, str] | None = None, calendar: Calendar | None = None,
        calendars: Mapping[str, Calendar] | None = None) -> datetime:
    """The instant ``spec`` stands for, seen at ``now``, in UTC.

    ``zone_name`` is the zone of a spec that names none (tasks: the owner's; sequences: the
    contact's); ``zones`` maps the roles ``owner`` and ``contact`` to IANA names. Business time
    counts on ``calendars[spec.calendar]`` when the spec names one, else on ``calendar``.
    Raises ClockError when one of those is missing."""
    if isinstance(spec, datetime):
        if spec.tzinfo is None:
            raise ClockError("a due instant needs an offset (RFC 3339), e.g. 2025-06-10T15:00:00+02:00")
        return spec.astimezone(UTC)
    tz_name = resolve_zone(spec.zone, zone_name, zones or {})
    after = parse_signed_duration(spec.after)
    if not spec.business:
        if spec.at is None:
            return now.astimezone(UTC) + after
        # Days of a wall clock: "tomorrow at 15:00" said late on the eve of a DST change is
        # still tomorrow, which elapsed time (23 or 25 hours) could miss.
        day = local_wall_time(now, "", tz_name, after).astimezone(zone(tz_name)).date()
        return next_local_time(tz_name, spec.at, now, day)
    cal = _resolve_calendar(spec.calendar, calendar, calendars or {})
    try:
        point = _add_working_days(cal, now, after.days)
        point = add_business_time(cal, point, after - timedelta(days=after.days))
    except ValueError as exc:
        raise ClockError(str(exc)) from None
    if spec.at is None:
        return point
    day = _working_date(cal, point.astimezone(zone(cal.time_zone)).date())
    while (candidate := local_wall_time(day, spec.at, tz_name, timedelta(0))) <= now:
        day = _working_date(cal, day + timedelta(days=1))  # "at 15:00" said at 16:00: the next working day
    return candidate


def resolve_zone(named: str | None, default: str, zones: Mapping[str, str]) -> str:
    """The IANA zone ``named`` stands for: a role (``owner``, ``contact``) looked up in ``zones``,
    an IANA name as it is, nothing: ``default``. Raises ClockError for an unknown one."""
    found = default if named is None else zones.get(named) if named in ZONE_ROLES else named
    if not found:
        raise ClockError(f"the {named}'s time zone is not known here")
    try:
        zone(found)
    except ValueError as exc:
        raise ClockError(str(exc)) from None
    return found


def _resolve_calendar(named: str | None, default: Calendar | None,
                      calendars: Mapping[str, Calendar]) -> Calendar:
    found = default if named is None else calendars.get(named)
    if found is None:
        raise ClockError(f"no calendar named '{named}'" if named else "business time needs a calendar")
    return found


def _working_date(calendar: Calendar, day: date) -> date:
    """``day`` when the calendar works on it, else the next date it does."""
    for offset in range(_HORIZON_DAYS):
        if calendar.periods_on(day + timedelta(days=offset)):
            return day + timedelta(days=offset)
    raise ClockError(f"calendar '{calendar.name}' has no working day within {_HORIZON_DAYS} days")


def _add_working_days(calendar: Calendar, start: datetime, days: int) -> datetime:
    """The same wall time (in the calendar's zone) ``days`` working dates after ``start``'s
    date: Monday 16:00 plus two is Wednesday 16:00, Saturday 10:00 plus one is Monday 10:00."""
    if days == 0:
        return start.astimezone(UTC)
    tz = zone(calendar.time_zone)
    day = start.astimezone(tz).date()
    for _ in range(days):
        day = _working_date(calendar, day + timedelta(days=1))
    return local_wall_time(start, "", calendar.time_zone, timedelta(days=(day - start.astimezone(tz).date()).days))


def grace_end(due_at: datetime, grace: timedelta, calendar: Calendar | None = None) -> datetime:
    """When a grace period after ``due_at`` ends: ``grace`` of elapsed time, or of working time
    on ``calendar`` (a task due at 17:55 with 15 working minutes on a 9-18 calendar is overdue
    at 09:10 the next working day)."""
    if calendar is None:
        return due_at.astimezone(UTC) + grace
    return add_business_time(calendar, due_at, grace)


Change = Literal["start", "pause", "resume", "stop", "budget", "calendar"]


class ClockChange(BaseModel):
    """One entry of an SLA clock's history: what changed, when, and the clock after it."""

    model_config = ConfigDict(frozen=True)

    kind: Change
    at: datetime
    elapsed: timedelta  # business time used when it happened
    budget: timedelta
    calendar: str
    deadline: datetime | None  # after the change (None: paused or stopped)
    reason: str = ""


class SlaClock(BaseModel):
    """A budget of business time on a calendar: a ticket's first response in 4 working hours,
    a lead's first touch in 30 working minutes.

    Immutable: every operation returns the new clock, so a workflow keeps it in its state (it
    serialises with pydantic) and a decision never mutates. Elapsed time is banked at every
    change (``pause``, ``recompute``) under the calendar in force until then, so a new calendar
    or budget never rewrites the past: the elapsed business time stays, the deadline moves.
    ``holidays`` are the pinned public holidays the calendar reads (a run's, so replays agree);
    None reads the ``holidays`` package (not for workflow code)."""

    model_config = ConfigDict(frozen=True)

    budget: timedelta
    calendar: Calendar
    holidays: dict[str, PinnedHolidays] | None = None
    started_at: datetime
    #: Business time used before ``running_since`` (or in total, when not running).
    banked: timedelta = timedelta(0)
    #: Start of the running stretch; None while paused or after the stop.
    running_since: datetime | None = None
    stopped_at: datetime | None = None
    #: The time of the latest change; operations may not go back before it.
    changed_at: datetime
    history: list[ClockChange] = Field(default_factory=list)

    @classmethod
    def start(cls, budget: timedelta, calendar: Calendar, at: datetime, *,
              holidays: dict[str, PinnedHolidays] | None = None) -> SlaClock:
        """A running clock with the whole ``budget`` ahead of it from ``at``."""
        if budget <= timedelta(0):
            raise ClockError("a budget must be longer than zero")
        at = _utc(at)
        clock = cls(budget=budget, calendar=calendar, holidays=holidays, started_at=at,
                    running_since=at, changed_at=at)
        return clock._record("start", at, "")

    @property
    def running(self) -> bool:
        return self.running_since is not None

    def _cal(self) -> Calendar:
        return self.calendar if self.holidays is None else self.calendar.with_holidays(self.holidays)

    def elapsed(self, now: datetime) -> timedelta:
        """Business time used up to ``now`` (the budget minus what is left, when not overrun)."""
        if self.running_since is None:
            return self.banked
        return self.banked + business_time_between(self._cal(), self.running_since, _utc(now))

    def remaining(self, now: datetime) -> timedelta:
        """Business time left at ``now``; zero once the deadline has passed."""
        return max(self.budget - self.elapsed(now), timedelta(0))

    def when_elapsed(self, elapsed: timedelta, now: datetime) -> datetime | None:
        """The instant the clock reaches ``elapsed`` business time. While paused: as if resumed
        at ``now``. An instant not later than ``now`` means it has been reached; None: stopped."""
        if self.stopped_at is not None:
            return None
        begin = self.running_since if self.running_since is not None else _utc(now)
        if elapsed <= self.banked:  # reached before this stretch began
            return begin
        try:
            return add_business_time(self._cal(), begin, elapsed - self.banked)
        except ValueError as exc:  # a calendar without working time
            raise ClockError(str(exc)) from None

    def deadline(self, now: datetime) -> datetime | None:
        """When the budget runs out (see ``when_elapsed``)."""
        return self.when_elapsed(self.budget, now)

    def at_share(self, share: float, now: datetime) -> datetime | None:
        """When ``share`` of the budget is used: ``at_share(0.8, now)`` for a warning at 80 %."""
        if share < 0:
            raise ClockError("a share of the budget is not negative")
        return self.when_elapsed(self.budget * share, now)

    def at_threshold(self, threshold: Threshold, now: datetime) -> datetime | None:
        """When a ladder's tier is due: a share of the budget, or business time used."""
        return self.when_elapsed(threshold.elapsed(self.budget), now)

    def pause(self, at: datetime, reason: str = "") -> SlaClock:
        """Stop counting at ``at`` (waiting on the customer); the remaining budget is kept
        exactly. Pausing a paused or stopped clock changes nothing."""
        if self.running_since is None:
            return self
        at = self._check(at)
        banked = self.elapsed(at)
        return self.model_copy(update={"banked": banked, "running_since": None,
                                       "changed_at": at})._record("pause", at, reason)

    def resume(self, at: datetime, reason: str = "") -> SlaClock:
        """Count again from ``at`` with exactly the budget left at the pause."""
        if self.running_since is not None or self.stopped_at is not None:
            return self
        at = self._check(at)
        return self.model_copy(update={"running_since": at, "changed_at": at})._record("resume", at, reason)

    def stop(self, at: datetime, reason: str = "") -> SlaClock:
        """Stop for good at ``at`` (resolved, first touch made); elapsed time is kept."""
        if self.stopped_at is not None:
            return self
        at = self._check(at)
        return self.model_copy(update={"banked": self.elapsed(at), "running_since": None, "stopped_at": at,
                                       "changed_at": at})._record("stop", at, reason)

    def recompute(self, at: datetime, *, budget: timedelta | None = None, calendar: Calendar | None = None,
                  holidays: dict[str, PinnedHolidays] | None = None, reason: str = "") -> SlaClock:
        """The clock under a new ``budget`` (a priority changed) and/or ``calendar`` (edited) from
        ``at`` on: the business time used so far stays, the deadline is computed anew. Give
        ``holidays`` with a calendar of another country (else the clock's pinned ones stay)."""
        if budget is not None and budget <= timedelta(0):
            raise ClockError("a budget must be longer than zero")
        at = self._check(at)
        banked = self.elapsed(at)
        update: dict[str, Any] = {"banked": banked, "changed_at": at}
        if self.running_since is not None:
            update["running_since"] = at
        if budget is not None:
            update["budget"] = budget
        if calendar is not None:
            update["calendar"] = calendar
            if holidays is not None:
                update["holidays"] = holidays
        clock = self.model_copy(update=update)
        kind: Change = "calendar" if calendar is not None else "budget"
        return clock._record(kind, at, reason)

    def _check(self, at: datetime) -> datetime:
        at = _utc(at)
        if at < self.changed_at:
            raise ClockError(f"{at.isoformat()} is before the clock's last change ({self.changed_at.isoformat()})")
        return at

    def _record(self, kind: Change, at: datetime, reason: str) -> SlaClock:
        entry = ClockChange(kind=kind, at=at, elapsed=self.elapsed(at), budget=self.budget,
                            calendar=self.calendar.name,
                            deadline=self.deadline(at) if self.running else None, reason=reason)
        return self.model_copy(update={"history": [*self.history, entry]})


class Threshold(BaseModel):
    """A point on an SLA clock for a warning or an escalation tier: ``{"share": 0.8}`` (of the
    budget; above 1 is past the deadline) or ``{"after": "PT2H"}`` (business time used)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    share: float | None = Field(default=None, ge=0, le=10)
    after: Duration | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.share is None) == (self.after is None):
            raise ValueError("a threshold is exactly one of share, after")
        return self

    def elapsed(self, budget: timedelta) -> timedelta:
        """The business time used when this threshold is reached, for ``budget``."""
        if self.after is not None:
            return parse_signed_duration(self.after)
        return budget * (self.share or 0.0)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ClockError("times must be timezone-aware")
    return value.astimezone(UTC)
