"""The people policy: a message to a user goes on their own channels, in their working time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from followthrough.calendar import BUILTIN_CALENDARS, Calendar, next_working_minute, pin_holidays
from followthrough.models.vocab import Channel
from followthrough.policy.contact_policy import Decision, Verdict
from followthrough.policy.people_policy import (
    AbsencePeriod,
    UserRecipient,
    address_of,
    chosen_off_hours,
    decide_for_user,
    next_available,
)

REP = UserRecipient(id=7, email="rep@example.test")
BOTH = UserRecipient(id=7, email="rep@example.test", phone="+36301234567",
                     channels=(Channel.SMS, Channel.EMAIL))
#: The default office week (Mon-Fri 09:00-17:00) read in the user's zone, as the store sets it.
BUDAPEST_WEEK = BUILTIN_CALENDARS["default"].model_copy(update={"time_zone": "Europe/Budapest"})


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _rep(**fields: object) -> UserRecipient:
    return UserRecipient.model_validate({"id": 7, "email": "rep@example.test", "time_zone": "Europe/Budapest",
                                         "calendar": BUDAPEST_WEEK, "holidays": {}, **fields})


CHANNEL_CASES: list[tuple[str, UserRecipient | None, Channel | None, Decision, str | None]] = [
    ("a user with an email", REP, None, Decision(verdict=Verdict.SEND, channel=Channel.EMAIL),
     "rep@example.test"),
    ("no such user", None, None,
     Decision(verdict=Verdict.SKIP, reason="no_recipient: user 7 does not exist"), None),
    ("a user without an email", UserRecipient(id=7), None,
     Decision(verdict=Verdict.SKIP, tried=[(Channel.EMAIL, "no_address")],
              reason="no_recipient: user 7 has no address on their channels (email)"), None),
    ("the user's first channel: sms", BOTH, None, Decision(verdict=Verdict.SEND, channel=Channel.SMS),
     "+36301234567"),
    ("sms first but no phone: email", BOTH.model_copy(update={"phone": None}), None,
     Decision(verdict=Verdict.SEND, channel=Channel.EMAIL, tried=[(Channel.SMS, "no_address")]),
     "rep@example.test"),
    ("a channel asked for alone (a retry keeps its channel)", BOTH, Channel.EMAIL,
     Decision(verdict=Verdict.SEND, channel=Channel.EMAIL), "rep@example.test"),
    ("a deactivated user", BOTH.model_copy(update={"active": False}), None,
     Decision(verdict=Verdict.SKIP, reason="no_recipient: user 7 is not active"), None),
]


class TestChannels:
    @pytest.mark.parametrize(("user", "channel", "decision", "address"), [c[1:] for c in CHANNEL_CASES],
                             ids=[c[0] for c in CHANNEL_CASES])
    def test_decision_and_address(self, user: UserRecipient | None, channel: Channel | None,
                                  decision: Decision, address: str | None) -> None:
        assert decide_for_user(7, user, channel) == decision
        assert (address_of(user, decision.channel) if decision.channel else None) == address

    def test_a_failed_channel_falls_to_the_next(self) -> None:
        decision = decide_for_user(7, BOTH, exclude=[Channel.SMS])
        assert decision == Decision(verdict=Verdict.SEND, channel=Channel.EMAIL)

    def test_every_channel_failed_is_a_skip(self) -> None:
        decision = decide_for_user(7, BOTH, exclude=[Channel.SMS, Channel.EMAIL])
        assert decision.verdict == Verdict.SKIP


# (case, now, absences, expected "until" or None for SEND now)
WORKING_TIME_CASES: list[tuple[str, str, list[tuple[str, str]], str | None]] = [
    ("at work", "2026-03-25T10:00:00+01:00", [], None),
    ("the first minute of the day", "2026-03-25T09:00:00+01:00", [], None),
    ("17:00 is after work", "2026-03-25T17:00:00+01:00", [], "2026-03-26T09:00:00+01:00"),
    # Spring forward (2026-03-29): Friday after work waits for Monday 09:00 summer time.
    ("Friday evening before spring DST", "2026-03-27T17:30:00+01:00", [], "2026-03-30T09:00:00+02:00"),
    # Fall back (2026-10-25): Saturday waits for Monday 09:00 winter time.
    ("Saturday before fall DST", "2026-10-24T11:00:00+02:00", [], "2026-10-26T09:00:00+01:00"),
    ("during an absence that ends in working time", "2026-03-30T10:00:00+02:00",
     [("2026-03-30T00:00:00+02:00", "2026-04-01T14:00:00+02:00")], "2026-04-01T14:00:00+02:00"),
    ("during an absence that ends after work", "2026-03-30T10:00:00+02:00",
     [("2026-03-30T00:00:00+02:00", "2026-04-01T18:00:00+02:00")], "2026-04-02T09:00:00+02:00"),
    ("an absence ending at night, then another from 09:00", "2026-04-06T10:00:00+02:00",
     [("2026-04-06T00:00:00+02:00", "2026-04-06T20:00:00+02:00"),
      ("2026-04-07T09:00:00+02:00", "2026-04-08T12:00:00+02:00")], "2026-04-08T12:00:00+02:00"),
    ("an absence that is over", "2026-04-10T10:00:00+02:00",
     [("2026-04-06T00:00:00+02:00", "2026-04-08T00:00:00+02:00")], None),
]


class TestWorkingTime:
    @pytest.mark.parametrize(("now", "absences", "until"), [c[1:] for c in WORKING_TIME_CASES],
                             ids=[c[0] for c in WORKING_TIME_CASES])
    def test_defers_to_the_next_working_minute(self, now: str, absences: list[tuple[str, str]],
                                               until: str | None) -> None:
        user = _rep(absences=[AbsencePeriod(starts_at=_at(a), ends_at=_at(b)) for a, b in absences])
        decision = decide_for_user(7, user, now=_at(now))
        if until is None:
            assert decision == Decision(verdict=Verdict.SEND, channel=Channel.EMAIL)
        else:
            absent = any(_at(a) <= _at(now) < _at(b) for a, b in absences)
            assert decision == Decision(verdict=Verdict.DEFER, channel=Channel.EMAIL, until=_at(until),
                                        reason="absent" if absent else "outside_working_time")
            assert next_available(user, _at(until)) == _at(until)  # asking again then: it goes

    def test_urgent_goes_now(self) -> None:
        user = _rep(absences=[AbsencePeriod(starts_at=_at("2026-03-27T00:00:00Z"),
                                            ends_at=_at("2026-03-28T00:00:00Z"))])
        decision = decide_for_user(7, user, now=_at("2026-03-27T22:00:00+01:00"), urgent=True)
        assert decision == Decision(verdict=Verdict.SEND, channel=Channel.EMAIL)

    @pytest.mark.parametrize(("now", "due", "until"), [
        # Due 08:00, before the 09:00 opening: the rep chose it; the reminder goes at 07:45.
        ("2026-03-26T07:45:00+01:00", "2026-03-26T08:00:00+01:00", None),
        # Due 09:00, in working time: the 08:45 reminder waits for the opening.
        ("2026-03-26T08:45:00+01:00", "2026-03-26T09:00:00+01:00", "2026-03-26T09:00:00+01:00"),
        # Due on Saturday: chosen, it goes on Saturday.
        ("2026-03-28T10:45:00+01:00", "2026-03-28T11:00:00+01:00", None),
    ], ids=["due-before-opening", "due-at-opening", "due-on-saturday"])
    def test_a_due_time_chosen_outside_working_time_is_kept(self, now: str, due: str, until: str | None) -> None:
        decision = decide_for_user(7, _rep(), now=_at(now), chosen_at=_at(due))
        if until is None:
            assert decision == Decision(verdict=Verdict.SEND, channel=Channel.EMAIL)
        else:
            assert decision == Decision(verdict=Verdict.DEFER, channel=Channel.EMAIL, until=_at(until),
                                        reason="outside_working_time")
        assert chosen_off_hours(_rep(), _at(due)) is (until is None)

    def test_a_chosen_due_time_still_waits_out_an_absence(self) -> None:
        user = _rep(absences=[AbsencePeriod(starts_at=_at("2026-03-26T00:00:00+01:00"),
                                            ends_at=_at("2026-03-26T08:30:00+01:00"))])
        decision = decide_for_user(7, user, now=_at("2026-03-26T07:45:00+01:00"),
                                   chosen_at=_at("2026-03-26T08:00:00+01:00"))
        # The absence's end, not the 09:00 opening: the rep chose 08:00.
        assert decision == Decision(verdict=Verdict.DEFER, channel=Channel.EMAIL,
                                    until=_at("2026-03-26T08:30:00+01:00"), reason="absent")

    def test_no_calendar_is_always_at_work(self) -> None:
        decision = decide_for_user(7, REP, now=_at("2026-03-28T03:00:00+01:00"))
        assert decision == Decision(verdict=Verdict.SEND, channel=Channel.EMAIL)

    def test_pinned_holidays_close_the_day(self) -> None:
        # 2026-04-06 is Easter Monday in Hungary; the pinned dates say so, not the package.
        office = Calendar(name="office", time_zone="Europe/Budapest", country="HU",
                          week=BUDAPEST_WEEK.week)
        user = _rep(calendar=office, holidays=pin_holidays(["HU"], 2026, 2026))
        decision = decide_for_user(7, user, now=_at("2026-04-06T10:00:00+02:00"))
        assert decision.until == _at("2026-04-07T09:00:00+02:00")
        assert decide_for_user(7, _rep(calendar=office, holidays={}),
                               now=_at("2026-04-06T10:00:00+02:00")).verdict == Verdict.SEND

    def test_the_recipient_survives_a_round_trip_as_data(self) -> None:
        user = _rep(absences=[AbsencePeriod(starts_at=_at("2026-03-30T00:00:00Z"),
                                            ends_at=_at("2026-03-31T00:00:00Z"))])
        assert UserRecipient.model_validate_json(user.model_dump_json()) == user


class TestNextWorkingTime:
    def test_in_working_time_is_itself(self) -> None:
        at = _at("2026-03-30T09:00:00+02:00")
        assert next_working_minute(BUDAPEST_WEEK, at) == at

    def test_the_end_of_a_period_is_not_working_time(self) -> None:
        assert next_working_minute(BUDAPEST_WEEK, _at("2026-03-30T17:00:00+02:00")) == _at("2026-03-31T09:00:00+02:00")
