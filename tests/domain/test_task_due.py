"""A task's due time: an instant, or relative as the rep said it, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from followthrough.calendar import BUILTIN_CALENDARS
from followthrough.models.tasks import RelativeDue
from followthrough.tasks.due import resolve_due

BUDAPEST = BUILTIN_CALENDARS["budapest_office"]


def _due(spec: RelativeDue | datetime, now: datetime, contact_zone: str | None = "Europe/Moscow") -> datetime:
    return resolve_due(spec, now, owner_zone="Europe/Budapest", contact_zone=contact_zone, calendar=BUDAPEST)


class TestResolveDue:
    @pytest.mark.parametrize(
        ("now", "spec", "expected"),
        [
            # An instant keeps its moment, in UTC.
            (datetime(2027, 1, 4, 9, tzinfo=UTC), datetime.fromisoformat("2027-01-05T15:00:00+03:00"),
             datetime(2027, 1, 5, 12, tzinfo=UTC)),
            # "In two days at 15:00 the client's time" (Moscow, UTC+3, no DST).
            (datetime(2027, 1, 4, 9, tzinfo=UTC), RelativeDue(after="P2D", at="15:00", zone="contact"),
             datetime(2027, 1, 6, 12, tzinfo=UTC)),
            # Two working days from Friday at 15:00 the owner's time: Tuesday (CET, UTC+1).
            (datetime(2027, 1, 8, 9, tzinfo=UTC), RelativeDue(after="P2D", business=True, at="15:00"),
             datetime(2027, 1, 12, 14, tzinfo=UTC)),
            # Hours of working time on the owner's calendar: Friday 16:00 CET + 3 h -> Monday 11:00.
            (datetime(2027, 1, 8, 15, tzinfo=UTC), RelativeDue(after="PT3H", business=True),
             datetime(2027, 1, 11, 10, tzinfo=UTC)),
            # An IANA zone of its own.
            (datetime(2027, 1, 4, 9, tzinfo=UTC), RelativeDue(after="P1D", at="09:00", zone="America/New_York"),
             datetime(2027, 1, 5, 14, tzinfo=UTC)),
        ],
        ids=["instant", "contact-zone", "business-days", "business-hours", "iana-zone"],
    )
    def test_forms(self, now: datetime, spec: RelativeDue | datetime, expected: datetime) -> None:
        assert _due(spec, now) == expected


class TestAcrossTheMarchChange:
    """Europe/Budapest moves from CET (UTC+1) to CEST (UTC+2) on 28 March 2027 at 02:00."""

    SATURDAY = datetime(2027, 3, 27, 9, tzinfo=UTC)  # 10:00 CET

    def test_tomorrow_at_nine_is_nine_on_the_wall_clock(self) -> None:
        assert _due(RelativeDue(after="P1D", at="09:00"), self.SATURDAY) == datetime(2027, 3, 28, 7, tzinfo=UTC)

    def test_in_one_day_is_the_same_wall_time_23_hours_later(self) -> None:
        assert _due(RelativeDue(after="P1D"), self.SATURDAY) == datetime(2027, 3, 28, 8, tzinfo=UTC)

    def test_one_working_day_skips_the_weekend_and_easter_monday(self) -> None:
        friday = datetime(2027, 3, 26, 9, tzinfo=UTC)  # Easter Monday (29 March) is a holiday in HU
        assert _due(RelativeDue(after="P1D", business=True, at="15:00"), friday) == datetime(
            2027, 3, 30, 13, tzinfo=UTC)

    def test_the_contact_in_moscow_has_no_change(self) -> None:
        assert _due(RelativeDue(after="P1D", at="15:00", zone="contact"), self.SATURDAY) == datetime(
            2027, 3, 28, 12, tzinfo=UTC)


class TestRefused:
    @pytest.mark.parametrize(
        ("spec", "contact_zone", "message"),
        [
            (datetime(2027, 1, 5, 15), "Europe/Moscow", "needs an offset"),  # noqa: DTZ001 - naive on purpose
            (RelativeDue(after="P1D", zone="contact"), None, "the task has no contact"),
            (RelativeDue(after="P1D", zone="Mars/Base"), None, "is not an IANA time zone name"),
            (RelativeDue(after="soon"), None, "is not an ISO-8601 duration"),
            (datetime(2027, 1, 3, 9, tzinfo=UTC), None, "already past"),
        ],
        ids=["naive", "no-contact", "bad-zone", "bad-duration", "past"],
    )
    def test_readable_reason(self, spec: RelativeDue | datetime, contact_zone: str | None, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            _due(spec, datetime(2027, 1, 4, 9, tzinfo=UTC), contact_zone)
