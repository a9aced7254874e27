"""Business calendars: exact working-time arithmetic, lunch breaks, holidays, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter, ValidationError

from followthrough.calendar import (
    BUILTIN_CALENDARS,
    TIME_PATTERN,
    Calendar,
    TimeOfDay,
    add_business_time,
    calendars_with,
    local_wall_time,
    next_local_time,
    pin_holidays,
)

BUD = ZoneInfo("Europe/Budapest")
WEEK = {d: [("09:00", "13:00"), ("14:00", "18:00")] for d in ("mon", "tue", "wed", "thu", "fri")}
HU_LUNCH = Calendar(name="hu", time_zone="Europe/Budapest", country="HU", week=WEEK)


def bud(*args: int) -> datetime:
    return datetime(*args, tzinfo=BUD)


class TestAddBusinessTime:
    @pytest.mark.parametrize(("start", "hours", "expected"), [
        (bud(2024, 6, 7, 16), 4, bud(2024, 6, 10, 11)),  # Friday 16:00 -> Monday 11:00
        (bud(2024, 6, 10, 12), 2, bud(2024, 6, 10, 15)),  # the lunch hour does not count
        (bud(2024, 6, 10, 13, 30), 1, bud(2024, 6, 10, 15)),  # starting inside lunch
        (bud(2024, 6, 10, 7), 1, bud(2024, 6, 10, 10)),  # before opening
        (bud(2024, 6, 10, 16), 2, bud(2024, 6, 10, 18)),  # ends exactly at closing
        (bud(2024, 5, 17, 16), 4, bud(2024, 5, 21, 11)),  # Pentecost Monday (HU) is skipped
        (bud(2024, 8, 2, 17), 2, bud(2024, 8, 3, 10)),  # Sat 3 Aug 2024: a transferred working day
    ])
    def test_exact_due_times(self, start: datetime, hours: int, expected: datetime) -> None:
        assert add_business_time(HU_LUNCH, start, timedelta(hours=hours)) == expected.astimezone(UTC)

    def test_extra_closed_dates(self) -> None:
        closed = HU_LUNCH.model_copy(update={"closed_dates": [date(2024, 6, 10)]})
        assert add_business_time(closed, bud(2024, 6, 7, 16), timedelta(hours=4)) == bud(2024, 6, 11, 11)

    def test_russian_new_year_holidays(self) -> None:
        moscow = BUILTIN_CALENDARS["moscow_office"]
        start = datetime(2023, 12, 29, 17, tzinfo=ZoneInfo("Europe/Moscow"))  # Friday 17:00
        due = add_business_time(moscow, start, timedelta(hours=2))
        assert due == datetime(2024, 1, 9, 10, tzinfo=ZoneInfo("Europe/Moscow")).astimezone(UTC)

    def test_across_the_dst_change_counts_real_hours(self) -> None:
        always = Calendar(name="always", time_zone="Europe/Budapest",
                          week={d: [("00:00", "23:59")] for d in ("sat", "sun")})
        # 31 Mar 2024 02:00 -> 03:00: 01:00 + 2 h of elapsed time is 04:00 local.
        assert add_business_time(always, bud(2024, 3, 31, 1), timedelta(hours=2)) == bud(2024, 3, 31, 4)

    def test_a_calendar_without_working_time_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="no working time"):
            add_business_time(Calendar(name="never"), datetime(2024, 1, 1, tzinfo=UTC), timedelta(hours=1))

    @pytest.mark.parametrize("week", [{"mon": [("10:00", "09:00")]}, {"mon": [("09:00", "12:00"), ("11:00", "13:00")]}])
    def test_bad_periods_are_rejected(self, week: dict) -> None:
        with pytest.raises(ValueError):
            Calendar(name="bad", week=week)


class TestNextLocalTime:
    @pytest.mark.parametrize(("now", "expected"), [
        (bud(2024, 6, 10, 8), bud(2024, 6, 10, 9, 30)),
        (bud(2024, 6, 10, 9, 30), bud(2024, 6, 11, 9, 30)),  # strictly after now
        (bud(2024, 3, 30, 12), bud(2024, 3, 31, 9, 30)),  # across spring-forward: still 09:30 local
        (bud(2024, 10, 26, 12), bud(2024, 10, 27, 9, 30)),  # across fall-back
    ])
    def test_next_occurrence(self, now: datetime, expected: datetime) -> None:
        assert next_local_time("Europe/Budapest", "09:30", now) == expected.astimezone(UTC)

    def test_a_time_in_the_spring_forward_gap_lands_after_the_gap(self) -> None:
        due = next_local_time("Europe/Budapest", "02:30", bud(2024, 3, 30, 12))
        assert due == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)  # 03:30 CEST

    def test_unknown_zone(self) -> None:
        with pytest.raises(ValueError, match="IANA"):
            next_local_time("Mars/Olympus", "09:30", datetime(2024, 1, 1, tzinfo=UTC))


class TestLocalWallTime:
    def test_a_date_one_day_before_at_ten_keeps_ten_across_dst(self) -> None:
        due = local_wall_time(date(2024, 3, 31), "10:00", "Europe/Budapest", timedelta(days=-1))
        assert due == bud(2024, 3, 30, 10).astimezone(UTC)
        due = local_wall_time(date(2024, 4, 1), "10:00", "Europe/Budapest", timedelta(days=-1))
        assert due == bud(2024, 3, 31, 10).astimezone(UTC)

    def test_a_datetime_keeps_its_time(self) -> None:
        value = datetime(2024, 6, 10, 15, tzinfo=UTC)
        assert local_wall_time(value, "09:00", "Europe/Budapest", timedelta(hours=-2)) == datetime(2024, 6, 10, 13, tzinfo=UTC)


class TestCalendarsWith:
    def test_documents_add_and_override(self) -> None:
        found = calendars_with({"default": {"time_zone": "Europe/Moscow"}, "shop": {"week": {"sat": [["10:00", "14:00"]]}}})
        assert found["default"].time_zone == "Europe/Moscow" and found["shop"].name == "shop"
        assert set(BUILTIN_CALENDARS) <= set(found)


class TestPinnedHolidays:
    PINNED = pin_holidays(["HU"], 2024, 2024)

    @pytest.mark.parametrize(("start", "hours", "expected"), [
        (bud(2024, 5, 17, 16), 4, bud(2024, 5, 21, 11)),  # Pentecost Monday (HU) is skipped
        (bud(2024, 8, 2, 17), 2, bud(2024, 8, 3, 10)),  # Sat 3 Aug 2024: a transferred working day
        (bud(2024, 10, 22, 17), 2, bud(2024, 10, 24, 10)),  # 23 October, a weekday holiday
    ])
    def test_a_business_wait_across_a_holiday_has_the_same_due_time_as_the_package(
        self, start: datetime, hours: int, expected: datetime
    ) -> None:
        pinned = HU_LUNCH.with_holidays(self.PINNED)
        assert add_business_time(pinned, start, timedelta(hours=hours)) == expected.astimezone(UTC)
        assert add_business_time(HU_LUNCH, start, timedelta(hours=hours)) == expected.astimezone(UTC)

    def test_the_pinned_dates_are_the_only_holidays_a_pinned_calendar_knows(self) -> None:
        pinned = self.PINNED["HU"]
        assert (pinned.first_year, pinned.last_year) == (2024, 2024)
        assert date(2024, 10, 23) in pinned.closed and pinned.open == [date(2024, 8, 3), date(2024, 12, 7), date(2024, 12, 14)]
        invented = {"HU": pinned.model_copy(update={"closed": [date(2024, 6, 10)], "open": []})}
        # Friday 16:00 + 4 h: Monday 10 June is closed by the pinned dates alone.
        assert add_business_time(HU_LUNCH.with_holidays(invented), bud(2024, 6, 7, 16),
                                 timedelta(hours=4)) == bud(2024, 6, 11, 11).astimezone(UTC)
        # A year outside the pinned ones has no public holidays: 23 October 2025 is worked.
        assert add_business_time(HU_LUNCH.with_holidays(self.PINNED), bud(2025, 10, 22, 17),
                                 timedelta(hours=2)) == bud(2025, 10, 23, 10).astimezone(UTC)

    def test_calendars_with_pinned_holidays_read_only_those(self) -> None:
        found = calendars_with({"shop": {"country": "RU", "week": {"mon": [["10:00", "14:00"]]}}}, {})
        # RU pinned nothing: 1 January 2024 (a Monday, a Russian holiday) is worked.
        due = add_business_time(found["shop"], datetime(2024, 1, 1, 9, tzinfo=UTC), timedelta(hours=1))
        assert due == datetime(2024, 1, 1, 11, tzinfo=UTC)


class TestTimeOfDay:
    """Quiet hours and other local times of day: "HH:MM" in the data and in the JSON Schema."""

    ADAPTER = TypeAdapter(TimeOfDay)

    @pytest.mark.parametrize(("given", "expected"), [
        ("21:00", time(21, 0)), ("09:05", time(9, 5)),
        ("21:00:00", time(21, 0)),  # as policies were stored before
    ])
    def test_reads(self, given: str, expected: time) -> None:
        assert self.ADAPTER.validate_python(given) == expected

    @pytest.mark.parametrize("given", ["21:00:30", "21:00+02:00", "21:00:00Z", "24:00", "9:00", ""])
    def test_refuses_seconds_offsets_and_nonsense(self, given: str) -> None:
        with pytest.raises(ValidationError):
            self.ADAPTER.validate_python(given)

    def test_writes_hh_mm_as_its_schema_says(self) -> None:
        assert self.ADAPTER.dump_python(time(21, 0), mode="json") == "21:00"
        assert self.ADAPTER.json_schema() == {
            "type": "string", "pattern": TIME_PATTERN, "examples": ["21:00"]}


class TestCalendarSchema:
    def test_periods_are_pairs_without_tuple_items(self) -> None:
        """OpenAPI 3.1 tools refuse ``prefixItems``/array ``items``; a period is a list of two."""
        week = Calendar.model_json_schema()["properties"]["week"]
        assert week["additionalProperties"] == {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string", "pattern": TIME_PATTERN},
                      "minItems": 2, "maxItems": 2},
        }

    def test_a_period_of_three_times_is_refused(self) -> None:
        with pytest.raises(ValidationError):
            Calendar(name="x", week={"mon": [["09:00", "12:00", "13:00"]]})  # type: ignore[list-item]


class TestCountry:
    def test_every_country_the_package_lists_is_accepted_and_nothing_else(self) -> None:
        """The registry's codes, read without importing every country module, are exactly what
        ``holidays.list_supported_countries()`` lists (aliases such as UK included)."""
        import holidays

        from followthrough.calendar import _supported_countries

        assert _supported_countries() == frozenset(holidays.list_supported_countries())
        assert Calendar(name="x", country="UK").country == "UK"
        with pytest.raises(ValidationError, match="no public-holiday data"):
            Calendar(name="x", country="XX")


class TestNextLocalTimeOnADay:
    @pytest.mark.parametrize(("day", "expected"), [
        (date(2024, 6, 12), bud(2024, 6, 12, 9, 30)),  # a later day: its own 09:30
        (date(2024, 6, 10), bud(2024, 6, 11, 9, 30)),  # today's has passed: tomorrow's
        (date(2024, 6, 1), bud(2024, 6, 11, 9, 30)),  # a day in the past counts from today
    ])
    def test_from_a_given_day(self, day: date, expected: datetime) -> None:
        assert next_local_time("Europe/Budapest", "09:30", bud(2024, 6, 10, 12), day) == expected.astimezone(UTC)
