"""The one clock: due times, grace periods, SLA budgets and recurrence, exact to the microsecond,
across DST changes (Budapest, New York; Moscow has none), Hungarian public holidays, a
transferred working Saturday and lunch breaks. Properties are checked with hypothesis."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from followthrough.calendar import (
    BUILTIN_CALENDARS,
    Calendar,
    add_business_time,
    business_time_between,
    next_working_minute,
    pin_holidays,
)
from followthrough.clock import (
    ClockError,
    DueSpec,
    Relative,
    SlaClock,
    Threshold,
    check_rrule,
    due,
    grace_end,
    next_occurrence,
)

BUD, MSK, NYC = ZoneInfo("Europe/Budapest"), ZoneInfo("Europe/Moscow"), ZoneInfo("America/New_York")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
#: Budapest office hours with a lunch break, Hungarian holidays (Whit Monday 20 May 2024;
#: Saturday 3 Aug 2024 worked for the bridge day Monday 19 Aug).
BUDAPEST = Calendar(name="budapest", time_zone="Europe/Budapest", country="HU",
                    week={d: [("09:00", "12:00"), ("13:00", "17:00")] for d in WEEKDAYS})
MOSCOW = BUILTIN_CALENDARS["moscow_office"]
NEW_YORK = Calendar(name="new_york", time_zone="America/New_York", country="US",
                    week={d: [("09:00", "17:00")] for d in WEEKDAYS})
#: Open through the night, so DST changes fall inside working periods.
ROUND_THE_CLOCK = Calendar(name="always", time_zone="Europe/Budapest",
                           week={d: [("00:00", "23:59")] for d in (*WEEKDAYS, "sat", "sun")})
CALENDARS = {c.name: c for c in (BUDAPEST, MOSCOW, NEW_YORK, ROUND_THE_CLOCK)}


def at(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz).astimezone(UTC)


def relative(**fields: Any) -> Relative:
    return Relative.model_validate(fields)


class TestDue:
    @pytest.mark.parametrize(("spec", "now", "expected"), [
        # The example: two working days (Budapest) at 15:00 the contact's time (Moscow).
        ({"after": "P2D", "business": True, "at": "15:00", "zone": "contact"}, at(BUD, 2024, 6, 10, 16),
         at(MSK, 2024, 6, 12, 15)),
        # Working days keep the wall time: Monday 16:00 + 2 = Wednesday 16:00.
        ({"after": "P2D", "business": True}, at(BUD, 2024, 6, 10, 16), at(BUD, 2024, 6, 12, 16)),
        # Saturday + 1 working day is Monday, same time of day.
        ({"after": "P1D", "business": True}, at(BUD, 2024, 6, 8, 10), at(BUD, 2024, 6, 10, 10)),
        # Whit Monday (a Hungarian public holiday) is not a working day.
        ({"after": "P1D", "business": True, "at": "10:00"}, at(BUD, 2024, 5, 17, 11), at(BUD, 2024, 5, 21, 10)),
        # Saturday 3 August 2024 is a transferred working day in Hungary.
        ({"after": "P1D", "business": True, "at": "10:00"}, at(BUD, 2024, 8, 2, 11), at(BUD, 2024, 8, 3, 10)),
        # ... and Monday 19 August its bridge day off, before St Stephen's Day on Tuesday.
        ({"after": "P1D", "business": True, "at": "10:00"}, at(BUD, 2024, 8, 16, 11), at(BUD, 2024, 8, 21, 10)),
        # Working hours skip the lunch break.
        ({"after": "PT1H", "business": True}, at(BUD, 2024, 6, 10, 11, 30), at(BUD, 2024, 6, 10, 13, 30)),
        # One working day and two working hours: Tuesday 16:00 + 2 h past closing, Wednesday 10:00.
        ({"after": "P1DT2H", "business": True}, at(BUD, 2024, 6, 10, 16), at(BUD, 2024, 6, 12, 10)),
        # "At 15:00" said at 16:00 on a Friday: the next working day's 15:00.
        ({"business": True, "at": "15:00"}, at(BUD, 2024, 6, 7, 16), at(BUD, 2024, 6, 10, 15)),
        ({"at": "15:00"}, at(BUD, 2024, 6, 7, 16), at(BUD, 2024, 6, 8, 15)),
        # "Tomorrow at 15:00" said at 23:30 on the eve of spring-forward (24 h later is already Monday).
        ({"after": "P1D", "at": "15:00"}, at(BUD, 2024, 3, 30, 23, 30), at(BUD, 2024, 3, 31, 15)),
        # Without ``at`` a duration is elapsed time, as a timer counts it (23 h of wall time here).
        ({"after": "P1D"}, at(BUD, 2024, 3, 30, 12), at(BUD, 2024, 3, 31, 13)),
        # New York: 8 working hours over the November DST change, Friday 13:00 -> Monday 13:00.
        ({"after": "PT8H", "business": True, "calendar": "new_york"}, at(NYC, 2024, 11, 1, 13), at(NYC, 2024, 11, 4, 13)),
        # Moscow (no DST) across Budapest's autumn change: 09:00 Moscow stays 06:00 UTC.
        ({"after": "P1D", "business": True, "at": "09:00", "zone": "Europe/Moscow"}, at(BUD, 2024, 10, 25, 12),
         datetime(2024, 10, 28, 6, tzinfo=UTC)),
    ])
    def test_relative_due_times(self, spec: dict[str, Any], now: datetime, expected: datetime) -> None:
        found = due(relative(**spec), now, zone_name="Europe/Budapest", zones={"contact": "Europe/Moscow"},
                    calendar=BUDAPEST, calendars=CALENDARS)
        assert found == expected

    def test_an_instant_is_taken_as_it_is_in_utc(self) -> None:
        spec = TypeAdapter(DueSpec).validate_python("2024-06-10T15:00:00+03:00")
        assert due(spec, at(BUD, 2024, 6, 1, 9)) == datetime(2024, 6, 10, 12, tzinfo=UTC)

    def test_a_spec_is_an_instant_or_a_relative_time_with_clean_error_paths(self) -> None:
        adapter = TypeAdapter(DueSpec)
        assert adapter.validate_python({"after": "P2D", "business": True}) == Relative(after="P2D", business=True)
        with pytest.raises(ValidationError) as bad_instant:
            adapter.validate_python("2024-06-10T15:00:00")  # no offset
        assert bad_instant.value.errors()[0]["loc"] == ("rfc3339-instant",)
        with pytest.raises(ValidationError) as bad_relative:
            adapter.validate_python({"after": "P1M"})
        assert bad_relative.value.errors()[0]["loc"] == ("relative-time", "after")

    @pytest.mark.parametrize(("fields", "message"), [
        ({"after": "-PT1H"}, "must not be negative"),
        ({"after": "P1M"}, "not years or months"),
        ({"after": "soon"}, "not an ISO-8601 duration"),
        ({"at": "9:00"}, "pattern"),
        ({"at": "10:00", "zone": "Mars/Olympus"}, "IANA time zone"),
        ({"after": "PT1H", "calendar": "budapest"}, "only with business"),
        ({}, "give after"),
        ({"after": "PT0S"}, "give after"),
        ({"after": "PT1H", "buisness": True}, "Extra inputs"),
    ])
    def test_bad_relative_times(self, fields: dict[str, Any], message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            Relative.model_validate(fields)

    @pytest.mark.parametrize(("spec", "kwargs", "message"), [
        ({"at": "10:00", "zone": "owner"}, {"zones": {"contact": "Europe/Moscow"}}, "owner's time zone is not known"),
        ({"after": "PT1H", "business": True}, {}, "needs a calendar"),
        ({"after": "PT1H", "business": True, "calendar": "mars"}, {"calendars": CALENDARS}, "no calendar named 'mars'"),
        ({"after": "P1D", "business": True}, {"calendar": Calendar(name="never")}, "no working day"),
        ({"after": "PT1H", "business": True}, {"calendar": Calendar(name="never")}, "no working time"),
        ({"at": "10:00", "zone": "contact"}, {"zones": {"contact": "Mars/Olympus"}}, "not an IANA time zone"),
        ({"at": "10:00"}, {"zone_name": "Moon/Base"}, "not an IANA time zone"),
    ])
    def test_what_the_caller_did_not_give_is_a_clock_error(self, spec: dict[str, Any], kwargs: dict[str, Any],
                                                          message: str) -> None:
        with pytest.raises(ClockError, match=message):
            due(relative(**spec), at(BUD, 2024, 6, 10, 9), **kwargs)

    def test_a_naive_instant_is_refused(self) -> None:
        with pytest.raises(ClockError, match="offset"):
            due(datetime(2024, 6, 10, 15), at(BUD, 2024, 6, 10, 9))  # noqa: DTZ001 - the point


class TestWorkingMinutesAndGrace:
    @pytest.mark.parametrize(("when", "expected"), [
        (at(BUD, 2024, 6, 10, 10, 15), at(BUD, 2024, 6, 10, 10, 15)),  # working now
        (at(BUD, 2024, 6, 10, 12, 30), at(BUD, 2024, 6, 10, 13)),  # lunch
        (at(BUD, 2024, 6, 10, 17), at(BUD, 2024, 6, 11, 9)),  # closing time is closed
        (at(BUD, 2024, 6, 7, 19), at(BUD, 2024, 6, 10, 9)),  # Friday evening
        (at(BUD, 2024, 5, 17, 18), at(BUD, 2024, 5, 21, 9)),  # over Whit Monday
        (at(BUD, 2024, 8, 2, 18), at(BUD, 2024, 8, 3, 9)),  # a transferred working Saturday
    ])
    def test_next_working_minute(self, when: datetime, expected: datetime) -> None:
        assert next_working_minute(BUDAPEST, when) == expected

    def test_grace_in_elapsed_time(self) -> None:
        assert grace_end(at(BUD, 2024, 6, 10, 16, 55), timedelta(minutes=15)) == at(BUD, 2024, 6, 10, 17, 10)

    def test_grace_in_working_time_waits_for_the_next_working_day(self) -> None:
        assert grace_end(at(BUD, 2024, 6, 7, 16, 55), timedelta(minutes=15), BUDAPEST) == at(BUD, 2024, 6, 10, 9, 10)


def running_clock(budget_hours: float = 4, start: datetime | None = None, calendar: Calendar = BUDAPEST) -> SlaClock:
    return SlaClock.start(timedelta(hours=budget_hours), calendar, start or at(BUD, 2024, 6, 10, 16))


class TestSlaClock:
    def test_a_budget_across_a_weekend_and_a_public_holiday(self) -> None:
        # Friday 17 May 2024 16:00 Budapest, 4 working hours: Friday 1 h, Whit Monday closed,
        # Tuesday 9-12: due Tuesday 21 May at 12:00.
        clock = running_clock(4, at(BUD, 2024, 5, 17, 16))
        assert clock.deadline(at(BUD, 2024, 5, 17, 16)) == at(BUD, 2024, 5, 21, 12)
        assert clock.remaining(at(BUD, 2024, 5, 20, 12)) == timedelta(hours=3)
        assert clock.at_share(0.5, at(BUD, 2024, 5, 17, 16)) == at(BUD, 2024, 5, 21, 10)

    def test_pause_and_resume_carry_the_exact_remaining_budget(self) -> None:
        clock = running_clock(4)  # Monday 16:00
        paused = clock.pause(at(BUD, 2024, 6, 10, 16, 20, 30))
        assert paused.remaining(at(BUD, 2024, 6, 20)) == timedelta(hours=3, minutes=39, seconds=30)
        # While paused the deadline is projected as if resumed now.
        assert paused.deadline(at(BUD, 2024, 6, 11, 9)) == at(BUD, 2024, 6, 11, 13, 39, 30)
        resumed = paused.resume(at(BUD, 2024, 6, 12, 11))  # Wednesday 11:00: 1 h, lunch, 2 h 39 m 30 s
        assert resumed.deadline(at(BUD, 2024, 6, 12, 11)) == at(BUD, 2024, 6, 12, 15, 39, 30)
        assert [c.kind for c in resumed.history] == ["start", "pause", "resume"]
        assert resumed.history[1].elapsed == timedelta(minutes=20, seconds=30)

    def test_stop_keeps_the_elapsed_time_and_has_no_deadline(self) -> None:
        stopped = running_clock(4).stop(at(BUD, 2024, 6, 11, 10), reason="resolved")
        assert stopped.elapsed(at(BUD, 2024, 6, 30)) == timedelta(hours=2)
        assert stopped.deadline(at(BUD, 2024, 6, 30)) is None
        assert stopped.resume(at(BUD, 2024, 6, 12)) is stopped
        assert stopped.history[-1].reason == "resolved"

    def test_a_new_budget_keeps_the_elapsed_time(self) -> None:
        # A priority raised on Tuesday 10:00 (2 h used): 3 h in total now, so 1 h is left.
        clock = running_clock(8).recompute(at(BUD, 2024, 6, 11, 10), budget=timedelta(hours=3), reason="priority high")
        assert clock.elapsed(at(BUD, 2024, 6, 11, 10)) == timedelta(hours=2)
        assert clock.deadline(at(BUD, 2024, 6, 11, 10)) == at(BUD, 2024, 6, 11, 11)
        assert (clock.history[-1].kind, clock.history[-1].budget, clock.history[-1].reason) == (
            "budget", timedelta(hours=3), "priority high")

    def test_a_calendar_edit_counts_from_the_edit_on(self) -> None:
        # Monday 16:00 + 4 h; on Tuesday 10:00 (2 h used) the office opens until 19:00 without lunch.
        longer = BUDAPEST.model_copy(update={"week": {d: [("09:00", "19:00")] for d in WEEKDAYS}})
        clock = running_clock(4).recompute(at(BUD, 2024, 6, 11, 10), calendar=longer)
        assert clock.elapsed(at(BUD, 2024, 6, 11, 10)) == timedelta(hours=2)
        assert clock.deadline(at(BUD, 2024, 6, 11, 10)) == at(BUD, 2024, 6, 11, 12)
        assert clock.history[-1].kind == "calendar"

    def test_thresholds_by_share_and_by_time(self) -> None:
        clock = running_clock(4)  # Monday 16:00
        now = at(BUD, 2024, 6, 10, 16)
        assert clock.at_threshold(Threshold(share=0.25), now) == at(BUD, 2024, 6, 10, 17)
        assert clock.at_threshold(Threshold(after="PT2H"), now) == at(BUD, 2024, 6, 11, 10)
        assert clock.at_threshold(Threshold(share=1.5), now) == at(BUD, 2024, 6, 11, 15)  # past the deadline
        # A threshold already passed answers an instant not later than now.
        later = at(BUD, 2024, 6, 11, 11)
        assert clock.pause(later).at_share(0.25, later) <= later  # type: ignore[operator]

    @pytest.mark.parametrize("fields", [{}, {"share": 0.5, "after": "PT1H"}, {"share": -0.1}, {"after": "-PT1H"}])
    def test_bad_thresholds(self, fields: dict[str, Any]) -> None:
        with pytest.raises(ValidationError):
            Threshold.model_validate(fields)

    def test_time_does_not_go_back(self) -> None:
        clock = running_clock(4).pause(at(BUD, 2024, 6, 11, 10))
        with pytest.raises(ClockError, match="before the clock's last change"):
            clock.resume(at(BUD, 2024, 6, 11, 9))

    def test_a_calendar_without_working_time_has_no_deadline(self) -> None:
        with pytest.raises(ClockError, match="no working time"):
            SlaClock.start(timedelta(hours=1), Calendar(name="never"), at(BUD, 2024, 6, 10, 9))

    def test_a_budget_must_be_positive(self) -> None:
        with pytest.raises(ClockError):
            SlaClock.start(timedelta(0), BUDAPEST, at(BUD, 2024, 6, 10, 9))

    def test_it_round_trips_through_json_with_its_pinned_holidays(self) -> None:
        # Pinned dates without Whit Monday: the clock counts it as a working day, as the run decided.
        pinned = pin_holidays(["HU"], 2024, 2024)
        pinned["HU"] = pinned["HU"].model_copy(update={"closed": [d for d in pinned["HU"].closed if d != date(2024, 5, 20)]})
        clock = SlaClock.start(timedelta(hours=4), BUDAPEST, at(BUD, 2024, 5, 17, 16), holidays=pinned).pause(
            at(BUD, 2024, 5, 17, 16, 30))
        again = SlaClock.model_validate_json(clock.model_dump_json())
        assert again == clock
        resumed = again.resume(at(BUD, 2024, 5, 20, 9))
        assert resumed.deadline(at(BUD, 2024, 5, 20, 9)) == at(BUD, 2024, 5, 20, 13, 30)
        assert resumed.elapsed(at(BUD, 2024, 5, 20, 11)) == timedelta(hours=2, minutes=30)


# --- properties ----------------------------------------------------------------------------

#: Days around DST changes (EU 31 Mar / 27 Oct, US 10 Mar / 3 Nov 2024), Whit Monday in Hungary
#: and the transferred working Saturday: starts are drawn near them.
ANCHORS = [datetime(2024, 3, 31, tzinfo=UTC), datetime(2024, 10, 27, tzinfo=UTC), datetime(2024, 3, 10, tzinfo=UTC),
           datetime(2024, 11, 3, tzinfo=UTC), datetime(2024, 5, 20, tzinfo=UTC), datetime(2024, 8, 3, tzinfo=UTC)]
starts = st.builds(lambda anchor, minutes, micro: anchor + timedelta(minutes=minutes, microseconds=micro),
                   st.sampled_from(ANCHORS), st.integers(-4 * 1440, 4 * 1440), st.integers(0, 999_999))
calendars = st.sampled_from([BUDAPEST, MOSCOW, NEW_YORK, ROUND_THE_CLOCK])
budgets = st.integers(1, 60 * 40).map(lambda minutes: timedelta(minutes=minutes))
gaps = st.integers(0, 3 * 1440).map(lambda minutes: timedelta(minutes=minutes))
PROPERTY = settings(max_examples=80, deadline=None)


class TestClockProperties:
    @PROPERTY
    @given(calendars, starts, budgets)
    def test_business_time_between_inverts_adding_it(self, calendar: Calendar, start: datetime, budget: timedelta) -> None:
        assert business_time_between(calendar, start, add_business_time(calendar, start, budget)) == budget

    @PROPERTY
    @given(calendars, starts, budgets)
    def test_no_time_is_left_at_the_deadline_and_some_just_before(self, calendar: Calendar, start: datetime,
                                                                  budget: timedelta) -> None:
        clock = SlaClock.start(budget, calendar, start)
        deadline = clock.deadline(start)
        assert deadline is not None and deadline > start
        assert clock.remaining(deadline) == timedelta(0)
        assert clock.elapsed(deadline) == budget
        assert clock.remaining(deadline - timedelta(microseconds=1)) > timedelta(0)

    @PROPERTY
    @given(calendars, starts, budgets, budgets)
    def test_the_deadline_is_monotone_in_the_budget(self, calendar: Calendar, start: datetime, a: timedelta,
                                                    b: timedelta) -> None:
        small, large = sorted((a, b))
        assert SlaClock.start(small, calendar, start).deadline(start) <= SlaClock.start(large, calendar, start).deadline(start)  # type: ignore[operator]

    @PROPERTY
    @given(calendars, starts, budgets, st.lists(gaps, min_size=1, max_size=6))
    def test_pause_and_resume_never_change_the_total_budget(self, calendar: Calendar, start: datetime,
                                                            budget: timedelta, steps: list[timedelta]) -> None:
        clock, now = SlaClock.start(budget, calendar, start), start
        for step in steps:  # alternately pause and resume, ``step`` apart
            now += step
            before = clock.remaining(now)
            clock = clock.pause(now) if clock.running else clock.resume(now)
            assert clock.remaining(now) == before
        clock = clock.resume(now)
        deadline = clock.deadline(now)
        assert clock.budget == budget
        assert deadline is not None and clock.elapsed(deadline) == max(budget, clock.elapsed(now))
        # Time paused does not count: the elapsed time is the working time of the running stretches.
        running = [(c.at, n.at) for c, n in zip(clock.history, clock.history[1:], strict=False)
                   if c.kind in ("start", "resume")]
        worked = sum((business_time_between(calendar, a, b) for a, b in running), timedelta(0))
        assert clock.elapsed(now) == worked

    @PROPERTY
    @given(calendars, calendars, starts, budgets, budgets, gaps)
    def test_a_recompute_keeps_the_elapsed_time(self, old: Calendar, new: Calendar, start: datetime,
                                                budget: timedelta, new_budget: timedelta, gap: timedelta) -> None:
        when = start + gap
        clock = SlaClock.start(budget, old, start)
        used = clock.elapsed(when)
        moved = clock.recompute(when, budget=new_budget, calendar=new)
        assert moved.elapsed(when) == used
        expected = (add_business_time(new, when, new_budget - used) if new_budget > used else when)
        assert moved.deadline(when) == expected
        assert moved.history[-1].elapsed == used


class TestRecurrence:
    @pytest.mark.parametrize(("rule", "tz", "start", "after", "expected"), [
        # Every Monday 09:00 Budapest across spring-forward: still 09:00 local (07:00 UTC, not 08:00).
        ("FREQ=WEEKLY;BYDAY=MO", BUD, (2024, 3, 25, 9), (2024, 3, 25, 9), (2024, 4, 1, 9)),
        ("RRULE:FREQ=WEEKLY;BYDAY=MO", BUD, (2024, 10, 21, 9), (2024, 10, 22), (2024, 10, 28, 9)),
        ("FREQ=DAILY", NYC, (2024, 3, 9, 8, 30), (2024, 3, 9, 9), (2024, 3, 10, 8, 30)),
        ("FREQ=DAILY", MSK, (2024, 10, 26, 9), (2024, 10, 26, 10), (2024, 10, 27, 9)),
        # Every weekday: Friday -> Monday.
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", BUD, (2024, 6, 7, 15), (2024, 6, 7, 15), (2024, 6, 10, 15)),
        # 02:30 does not exist on 31 March in Budapest: the instant after the gap (03:30 CEST).
        ("FREQ=DAILY", BUD, (2024, 3, 30, 2, 30), (2024, 3, 30, 3), (2024, 3, 31, 3, 30)),
        # Monthly on the last working day of the month.
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", BUD, (2024, 5, 31, 10), (2024, 5, 31, 11), (2024, 6, 28, 10)),
    ])
    def test_next_occurrence_keeps_the_wall_time(self, rule: str, tz: ZoneInfo, start: tuple[int, ...],
                                                 after: tuple[int, ...], expected: tuple[int, ...]) -> None:
        assert next_occurrence(rule, at(tz, *start), at(tz, *after), str(tz)) == at(tz, *expected)

    @pytest.mark.parametrize(("rule", "after", "expected"), [
        ("FREQ=DAILY;COUNT=3", (2024, 6, 11, 9), (2024, 6, 12, 9)),
        ("FREQ=DAILY;COUNT=3", (2024, 6, 12, 9), None),
        ("FREQ=DAILY;UNTIL=20240612T070000Z", (2024, 6, 11, 9), (2024, 6, 12, 9)),
        ("FREQ=DAILY;UNTIL=20240612T065959Z", (2024, 6, 11, 9), None),
        ("FREQ=DAILY;UNTIL=20240612", (2024, 6, 11, 9), (2024, 6, 12, 9)),  # a floating date: the whole local day
        ("FREQ=DAILY;UNTIL=20240612", (2024, 6, 12, 9), None),
    ])
    def test_count_and_until_end_it(self, rule: str, after: tuple[int, ...], expected: tuple[int, ...] | None) -> None:
        found = next_occurrence(rule, at(BUD, 2024, 6, 10, 9), at(BUD, *after), "Europe/Budapest")
        assert found == (at(BUD, *expected) if expected else None)

    @pytest.mark.parametrize(("rule", "message"), [
        ("FREQ=MINUTELY", "at most once an hour"),
        ("FREQ=SECONDLY;INTERVAL=3600", "at most once an hour"),
        ("FREQ=DAILY;BYHOUR=9;BYMINUTE=0,30", "at most once an hour"),
        ("FREQ=HOURLY;BYSECOND=0,30", "at most once an hour"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "never occurs"),
        ("FREQ=FORTNIGHTLY", "not an RFC 5545 RRULE"),
        ("DTSTART:20240101T090000Z\nRRULE:FREQ=DAILY", "one line"),
        ("FREQ=DAILY;UNTIL=tomorrow", "UNTIL=tomorrow"),
        ("FREQ=DAILY;" + "BYHOUR=9;" * 60, "at most 500"),
    ])
    def test_bad_rules_are_refused(self, rule: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            check_rrule(rule)

    @PROPERTY
    @given(st.sampled_from(["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,TH", "FREQ=HOURLY;INTERVAL=5", "FREQ=MONTHLY;BYMONTHDAY=15"]),
           st.sampled_from(["Europe/Budapest", "Europe/Moscow", "America/New_York"]), starts, gaps)
    def test_occurrences_move_forward_and_keep_the_wall_time(self, rule: str, tz_name: str, start: datetime,
                                                            gap: timedelta) -> None:
        tz = ZoneInfo(tz_name)
        start = start.replace(microsecond=0)
        found = next_occurrence(rule, start, start + gap, tz_name)
        assert found is not None and found > start + gap
        wall, first = found.astimezone(tz), start.astimezone(tz)
        if "HOURLY" not in rule and wall.replace(tzinfo=None) == wall.astimezone(UTC).astimezone(tz).replace(tzinfo=None):
            # A daily or rarer rule keeps the wall time, unless the first one fell in a DST gap.
            gap_hit = datetime.combine(wall.date(), first.time(), tz).astimezone(UTC).astimezone(tz).time() != first.time()
            assert wall.time() == first.time() or gap_hit
