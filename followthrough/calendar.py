"""Business calendars, working time and local times of day (pure: ``now`` is always an argument).

A calendar is data: an IANA zone, weekly working periods (several per day, so a lunch break is a
gap), a country whose public holidays close the office (via ``holidays``), and extra closed or
open dates. Transferred working days (a Saturday worked in exchange for a bridge day off, as in
Hungary and Russia) come from ``holidays``' ``weekend_workdays``; such a day uses the periods of the
calendar's first working weekday (Monday for an office week), since the package does not say which
weekday it stands in for.

A run pins the holiday dates it may need (``PinnedHolidays``, computed at enrollment by
``pin_holidays``): a calendar carrying pinned dates never asks the ``holidays`` package, so a
decision made in a workflow gives the same answer on every replay, whatever package version the
worker has installed, and needs no sandbox escape.

All arithmetic on elapsed time is done in UTC: subtracting two aware datetimes that share a
``ZoneInfo`` compares wall clocks and is off by an hour across a DST change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from holidays.registry import EntityLoader
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
LocalTime = Annotated[str, Field(pattern=TIME_PATTERN)]
#: One working period, ``["09:00", "13:00"]``. A list of exactly two rather than a tuple: the
#: data is the same, but a tuple's JSON Schema (``prefixItems``) is not valid in OpenAPI 3.1.
Period = Annotated[list[LocalTime], Field(min_length=2, max_length=2)]
#: Bound on the search for working time: a calendar open once a year is still found.
_HORIZON_DAYS = 800


def parse_time(value: str) -> time:
    """``"09:30"`` -> ``time(9, 30)``; raises ValueError on anything else."""
    hours, _, minutes = value.partition(":")
    if len(value) != 5 or not (hours.isdigit() and minutes.isdigit()):
        raise ValueError(f"'{value}' is not a time of day as HH:MM, e.g. 09:30")
    return time(int(hours), int(minutes))


def _time_of_day(value: object) -> object:
    if isinstance(value, str):
        # Policies stored before times were HH:MM say "21:00:00"; whole minutes still read.
        return parse_time(value[:5] if len(value) == 8 and value.endswith(":00") else value)
    return value


#: A local time of day as ``"HH:MM"`` (no seconds, no offset: the zone is the contact's), in the
#: data and in the JSON Schema alike; ``format: time`` would demand an offset.
TimeOfDay = Annotated[
    time,
    BeforeValidator(_time_of_day),
    PlainSerializer(lambda value: value.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": TIME_PATTERN, "examples": ["21:00"]}),
]


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not an IANA time zone name, e.g. Europe/Budapest") from None


class PinnedHolidays(BaseModel):
    """One country's public holidays (``closed``) and transferred working days (``open``) for
    the years ``first_year``..``last_year``; a year outside them has neither."""

    model_config = ConfigDict(frozen=True)

    first_year: int
    last_year: int
    closed: list[date] = Field(default_factory=list)
    open: list[date] = Field(default_factory=list)


def pin_holidays(countries: Iterable[str], first_year: int, last_year: int) -> dict[str, PinnedHolidays]:
    """Read the ``holidays`` package once, for a run to carry (not for workflow code)."""
    pinned = {}
    for country in sorted(set(countries)):
        years = range(first_year, last_year + 1)
        pinned[country] = PinnedHolidays(
            first_year=first_year, last_year=last_year,
            closed=sorted(d for y in years for d in _holidays(country, y)),
            open=sorted(d for y in years for d in _weekend_workdays(country, y)),
        )
    return pinned


class Calendar(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    #: Set by ``with_holidays``: the run's pinned dates for ``country``, used instead of the
    #: package (a run that pinned nothing for the country sees no public holidays).
    _pinned: PinnedHolidays | None = PrivateAttr(default=None)
    _pinning: bool = PrivateAttr(default=False)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    time_zone: str = "UTC"
    #: e.g. {"mon": [["09:00", "13:00"], ["14:00", "18:00"]]}; a missing day is closed.
    week: dict[Weekday, list[Period]] = Field(default_factory=dict)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2
    closed_dates: list[date] = Field(default_factory=list)
    open_dates: list[date] = Field(default_factory=list)  # extra working days (first weekday's hours)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and value not in _supported_countries():
            raise ValueError(f"'{value}' has no public-holiday data in the holidays package")
        return value

    @model_validator(mode="after")
    def _periods(self) -> Calendar:
        for day, periods in self.week.items():
            ends = [(parse_time(a), parse_time(b)) for a, b in periods]
            for (start, end), nxt in zip(ends, [*ends[1:], None], strict=True):
                if start >= end:
                    raise ValueError(f"{day}: a period must end after it starts ({start:%H:%M})")
                if nxt is not None and nxt[0] < end:
                    raise ValueError(f"{day}: periods must be in order and must not overlap")
        return self

    def with_holidays(self, pinned: dict[str, PinnedHolidays]) -> Calendar:
        """This calendar reading only ``pinned`` dates for its country."""
        copy = self.model_copy()
        copy._pinning = True
        copy._pinned = pinned.get(self.country) if self.country else None
        return copy

    def _country_days(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        """(public holidays, transferred working days) of the calendar's country."""
        if not self.country:
            return frozenset(), frozenset()
        if self._pinning:
            pinned = self._pinned
            if pinned is None or not pinned.first_year <= year <= pinned.last_year:
                return frozenset(), frozenset()
            return frozenset(pinned.closed), frozenset(pinned.open)
        return frozenset(_holidays(self.country, year)), _weekend_workdays(self.country, year)

    def periods_on(self, day: date) -> list[tuple[time, time]]:
        """The working periods of one local date (empty when the office is closed)."""
        closed, opened = self._country_days(day.year)
        if day in self.open_dates or day in opened:
            return self._first_working_weekday()
        if day in self.closed_dates or day in closed:
            return []
        return [(parse_time(a), parse_time(b)) for a, b in self.week.get(WEEKDAYS[day.weekday()], [])]

    def _first_working_weekday(self) -> list[tuple[time, time]]:
        for name in WEEKDAYS:
            if self.week.get(name):
                return [(parse_time(a), parse_time(b)) for a, b in self.week[name]]
        return []


@lru_cache(maxsize=1)
def _supported_countries() -> frozenset[str]:
    """The country codes ``holidays`` knows (aliases too), read from its registry:
    ``holidays.list_supported_countries()`` imports all of its ~300 country modules to list
    subdivisions too, which cost every process ~0.2 s at import (issue 9, worker start)."""
    return frozenset(EntityLoader.get_country_codes())


@lru_cache(maxsize=256)
def _country_holidays(country: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=year)


def _holidays(country: str, year: int) -> holidays.HolidayBase:
    return _country_holidays(country, year)


def _weekend_workdays(country: str, year: int) -> frozenset[date]:
    return frozenset(getattr(_country_holidays(country, year), "weekend_workdays", ()))


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """A local wall-clock time as UTC. A time inside a spring-forward gap maps past the gap."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def working_spans(calendar: Calendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The working periods of ``calendar`` from ``start`` on, in order, as UTC (begin, end) pairs;
    a period under way at ``start`` begins at ``start``. Ends after ``_HORIZON_DAYS`` days."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    tz = zone(calendar.time_zone)
    cursor = start.astimezone(UTC)
    day = cursor.astimezone(tz).date()
    for _ in range(_HORIZON_DAYS):
        for opens, closes in calendar.periods_on(day):
            begin, end = _local(day, opens, tz), _local(day, closes, tz)
            if end > cursor:
                yield max(begin, cursor), end
                cursor = end
        day += timedelta(days=1)


def add_business_time(calendar: Calendar, start: datetime, duration: timedelta) -> datetime:
    """``start`` plus ``duration`` of working time on ``calendar``, in UTC. Time outside the
    working periods (nights, lunch, weekends, holidays) does not count. A zero ``duration`` gives
    the first working instant at or after ``start`` (a period's end belongs to the next one)."""
    remaining = duration
    for begin, end in working_spans(calendar, start):
        if end - begin >= remaining:
            return begin + remaining
        remaining -= end - begin
    raise ValueError(f"calendar '{calendar.name}' has no working time within {_HORIZON_DAYS} days")


def business_time_between(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """The working time on ``calendar`` from ``start`` to ``end`` (zero when ``end`` is not
    later): the inverse of ``add_business_time``, exact to the microsecond."""
    total = timedelta(0)
    if end <= start:
        return total
    for begin, close in working_spans(calendar, start):
        if begin >= end:
            break
        total += min(close, end) - begin
    return total


def next_working_minute(calendar: Calendar, at: datetime) -> datetime:
    """The first instant at or after ``at`` inside a working period of ``calendar``, in UTC: ``at``
    itself during working time, else the next opening (a closing time counts as closed)."""
    return add_business_time(calendar, at, timedelta(0))


def next_local_time(time_zone: str, at: str, now: datetime, day: date | None = None) -> datetime:
    """The next occurrence (strictly after ``now``) of wall-clock ``at`` in ``time_zone``, in UTC,
    on ``day`` (default, or when earlier: ``now``'s local date) or the days after it. On a
    spring-forward day a time in the gap (02:30) means the first instant after the gap."""
    tz = zone(time_zone)
    wanted = parse_time(at)
    today = now.astimezone(tz).date()
    first = today if day is None else max(day, today)
    for offset in range(3):
        candidate = _local(first + timedelta(days=offset), wanted, tz)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: a time of day recurs within two days")  # pragma: no cover


def local_wall_time(value: datetime | date, at: str, time_zone: str, offset: timedelta) -> datetime:
    """``value`` (a date at local ``at``, or a datetime) shifted by ``offset`` in wall-clock terms
    in ``time_zone`` ("one day before, at 10:00" stays 10:00 across a DST change), in UTC."""
    tz = zone(time_zone)
    if isinstance(value, datetime):
        naive = (value if value.tzinfo is None else value.astimezone(tz)).replace(tzinfo=None)
    else:
        naive = datetime.combine(value, parse_time(at))
    return (naive + offset).replace(tzinfo=tz).astimezone(UTC)


_OFFICE = [("09:00", "17:00")]
BUILTIN_CALENDARS: dict[str, Calendar] = {
    "default": Calendar(
        name="default", time_zone="UTC", week={d: _OFFICE for d in WEEKDAYS[:5]},
    ),
    "budapest_office": Calendar(
        name="budapest_office", time_zone="Europe/Budapest", country="HU",
        week={d: [("09:00", "12:00"), ("13:00", "17:00")] for d in WEEKDAYS[:5]},
    ),
    "moscow_office": Calendar(
        name="moscow_office", time_zone="Europe/Moscow", country="RU",
        week={d: [("09:00", "18:00")] for d in WEEKDAYS[:5]},
    ),
}


def calendars_with(
    overrides: dict[str, dict] | None, holidays: dict[str, PinnedHolidays] | None = None
) -> dict[str, Calendar]:
    """The built-in calendars plus (and overridden by) calendars given as documents; with
    ``holidays`` (a run's pinned dates) they read public holidays from those only."""
    found = dict(BUILTIN_CALENDARS)
    for name, document in (overrides or {}).items():
        found[name] = Calendar.model_validate({"name": name, **document})
    if holidays is not None:
        found = {name: calendar.with_holidays(holidays) for name, calendar in found.items()}
    return found
