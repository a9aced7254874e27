"""The recipient the people policy decides on, read from users, teams, calendars and absences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from followthrough.models.vocab import Channel
from followthrough.store import teams, users
from followthrough.store.db import session_scope

NOW = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)


class TestRecipient:
    def test_reads_profile_team_calendar_in_the_users_zone_and_current_absences(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            rep, _ = users.create(session, name="Rita", email="rita@example.test", role="rep", phone="+36301234567",
                                  locale="hu", time_zone="Asia/Bangkok", notify_channels=["sms", "email"])
            teams.put(session, "east", members_in=[(rep.id, 1)], manager_id=None,  # type: ignore[list-item]
                      calendar="budapest_office")
            users.add_absence(session, rep.id, NOW - timedelta(days=3), NOW - timedelta(days=1), "over")  # type: ignore[arg-type]
            users.add_absence(session, rep.id, NOW + timedelta(days=1), NOW + timedelta(days=2), "next")  # type: ignore[arg-type]
            found = users.recipient(session, rep.id, NOW)  # type: ignore[arg-type]
        assert found is not None
        assert (found.phone, found.locale, found.time_zone, found.channels) == (
            "+36301234567", "hu", "Asia/Bangkok", (Channel.SMS, Channel.EMAIL))
        # The team's calendar, read in the user's own zone, with Hungary's holidays pinned.
        assert found.calendar is not None
        assert (found.calendar.name, found.calendar.time_zone) == ("budapest_office", "Asia/Bangkok")
        assert found.holidays is not None and found.holidays["HU"].first_year == 2026
        assert [(a.starts_at, a.ends_at) for a in found.absences] == [(NOW + timedelta(days=1), NOW + timedelta(days=2))]

    def test_own_calendar_wins_and_no_calendar_means_none(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            rep, _ = users.create(session, name="Rita", email=None, role="rep", calendar="moscow_office")
            teams.put(session, "east", members_in=[(rep.id, 1)], manager_id=None, calendar="budapest_office")  # type: ignore[list-item]
            loner, _ = users.create(session, name="Lone", email=None, role="rep")
            own = users.recipient(session, rep.id, NOW)  # type: ignore[arg-type]
            none = users.recipient(session, loner.id, NOW)  # type: ignore[arg-type]
            missing = users.recipient(session, 424242, NOW)
        assert own is not None and own.calendar is not None and own.calendar.name == "moscow_office"
        assert none is not None and (none.calendar, none.holidays) == (None, None)
        assert missing is None


class TestRecipients:
    def test_many_at_once_are_each_as_read_alone(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            own, _ = users.create(session, name="Own", email=None, role="rep", calendar="moscow_office",
                                  time_zone="Europe/Moscow")
            member, _ = users.create(session, name="Member", email="m@example.test", role="rep", active=False,
                                     time_zone="Asia/Bangkok", notify_channels=["sms", "email"], phone="+36301234567")
            loner, _ = users.create(session, name="Lone", email=None, role="rep")
            teams.put(session, "east", members_in=[(own.id, 1), (member.id, 1)], manager_id=None,  # type: ignore[list-item]
                      calendar="budapest_office")
            for day in range(users.RECIPIENT_ABSENCES + 2):  # more than a recipient carries
                start = NOW + timedelta(days=2 * day)
                users.add_absence(session, member.id, start, start + timedelta(days=1), None)  # type: ignore[arg-type]
            users.add_absence(session, loner.id, NOW - timedelta(days=1), NOW + timedelta(hours=1), "sick")  # type: ignore[arg-type]
            ids = [own.id, member.id, loner.id, 424242]
            together = users.recipients(session, ids, NOW)  # type: ignore[arg-type]
            alone = {i: users.recipient(session, i, NOW) for i in ids}  # type: ignore[arg-type]
        assert set(together) == {own.id, member.id, loner.id}
        assert all(together[i] == alone[i] for i in together) and alone[424242] is None
        assert together[own.id].calendar is not None and together[own.id].calendar.name == "moscow_office"  # type: ignore[index,union-attr]
        assert together[member.id].calendar.name == "budapest_office"  # type: ignore[index,union-attr]
        assert len(together[member.id].absences) == users.RECIPIENT_ABSENCES  # type: ignore[index]
        assert together[loner.id].calendar is None  # type: ignore[index]
