"""Users (admins, managers, reps): their role-bound API keys (stored hashed), their profile as a
recipient (channels, language, zone, calendar, manager, absences), and the ``UserRecipient`` the
people policy decides on."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from followthrough.calendar import Calendar, PinnedHolidays, pin_holidays
from followthrough.dsl.schema import MAX_USER_ID
from followthrough.errors import NotFound
from followthrough.models.vocab import Channel
from followthrough.policy.people_policy import AbsencePeriod, UserRecipient
from followthrough.store import calendars
from followthrough.store.db import as_utc
from followthrough.store.tables import Absence, Team, TeamMember, User, utcnow

#: Absences a recipient carries (the next ones to end): plenty for any decision made now.
RECIPIENT_ABSENCES = 20


def hash_key(api_key: str) -> str:
    # Keys are 32 random bytes: a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return "ft_" + secrets.token_urlsafe(32)


def create(session: Session, *, name: str, email: str | None, role: str,
           **profile: Any) -> tuple[User, str]:
    """Create a user; returns the user and its API key, which is shown once and never stored."""
    api_key = new_api_key()
    user = User(name=name, email=email, role=role, api_key_hash=hash_key(api_key), **profile)
    session.add(user)
    session.flush()
    return user, api_key


def by_api_key(session: Session, api_key: str) -> User | None:
    return session.exec(select(User).where(User.api_key_hash == hash_key(api_key))).first()


def get(session: Session, user_id: int) -> User:
    user = session.get(User, user_id) if 1 <= user_id <= MAX_USER_ID else None
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def list_page(session: Session, *, after: int | None, limit: int,
              ids: list[int] | None = None) -> list[User]:
    query = select(User).order_by(col(User.id))
    if after is not None:
        query = query.where(col(User.id) > after)
    if ids is not None:
        query = query.where(col(User.id).in_(ids))
    return list(session.exec(query.limit(limit)))


def update(session: Session, user: User, fields: dict[str, Any]) -> User:
    for name, value in fields.items():
        setattr(user, name, value)
    user.updated_at = utcnow()
    session.add(user)
    session.flush()
    return user


def teams_of(session: Session, user_id: int) -> list[Team]:
    query = (select(Team).join(TeamMember, col(TeamMember.team_id) == col(Team.id))
             .where(TeamMember.user_id == user_id).order_by(col(Team.id)))
    return list(session.exec(query))


# -- absences --------------------------------------------------------------------------


def add_absence(session: Session, user_id: int, starts_at: datetime, ends_at: datetime,
                reason: str | None) -> Absence:
    get(session, user_id)
    row = Absence(user_id=user_id, starts_at=starts_at, ends_at=ends_at, reason=reason)
    session.add(row)
    session.flush()
    return row


def absences(session: Session, user_id: int, *, after: int | None, limit: int) -> list[Absence]:
    query = select(Absence).where(Absence.user_id == user_id).order_by(col(Absence.id))
    if after is not None:
        query = query.where(col(Absence.id) > after)
    return list(session.exec(query.limit(limit)))


def delete_absence(session: Session, user_id: int, absence_id: int) -> None:
    row = session.get(Absence, absence_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"absence {absence_id} of user {user_id} does not exist")
    session.delete(row)
    session.flush()


# -- the recipient ---------------------------------------------------------------------


def working_calendar(session: Session, user: User) -> Calendar | None:
    """The user's calendar (their own, else their first team's that has one), read in the
    user's zone; None when neither names one that exists (the user is always at work)."""
    team_calendars = [team.calendar for team in teams_of(session, user.id) if team.calendar] if user.id else []
    return _calendar_of(session, user, team_calendars, {})


def _calendar_of(session: Session, user: User, team_calendars: list[str],
                 documents: dict[str, dict[str, Any] | None]) -> Calendar | None:
    """``working_calendar`` from the names it may come from; ``documents`` caches look-ups."""
    for name in ([user.calendar] if user.calendar else []) + team_calendars:
        if name not in documents:
            found, _ = calendars.resolve(session, [name])
            documents[name] = found.get(name)
        document = documents[name]
        if document is not None:
            return Calendar.model_validate({**document, "time_zone": user.time_zone, "name": name})
    return None


def recipient(session: Session, user_id: int, now: datetime | None = None) -> UserRecipient | None:
    """The user a message to ``user_id`` goes to, or None when there is no such user."""
    return recipients(session, [user_id], now).get(user_id)


def recipients(session: Session, user_ids: Iterable[int], now: datetime | None = None) -> dict[int, UserRecipient]:
    """``recipient`` for many users at once (a team choosing an owner): five queries, not five
    per user. Ids with no user are left out."""
    wanted = sorted({i for i in user_ids if 1 <= i <= MAX_USER_ID})  # else no id the database can hold
    if not wanted:
        return {}
    now = now or utcnow()
    found = list(session.exec(select(User).where(col(User.id).in_(wanted))))
    team_calendars: dict[int, list[str]] = {}
    memberships = (select(TeamMember.user_id, Team.calendar).join(Team, col(Team.id) == col(TeamMember.team_id))
                   .where(col(TeamMember.user_id).in_(wanted)).order_by(col(Team.id)))
    for user_id, name in session.exec(memberships):
        if name:
            team_calendars.setdefault(user_id, []).append(name)
    away: dict[int, list[AbsencePeriod]] = {}
    rows = session.exec(select(Absence).where(col(Absence.user_id).in_(wanted), col(Absence.ends_at) > now)
                        .order_by(col(Absence.starts_at)))
    for a in rows:
        away.setdefault(a.user_id, []).append(
            AbsencePeriod(starts_at=as_utc(a.starts_at), ends_at=as_utc(a.ends_at)))  # type: ignore[arg-type]
    documents: dict[str, dict[str, Any] | None] = {}
    pinned: dict[str | None, dict[str, PinnedHolidays]] = {}
    answer: dict[int, UserRecipient] = {}
    for user in found:
        if user.id is None:
            continue
        calendar = _calendar_of(session, user, team_calendars.get(user.id, []), documents)
        holidays = None
        if calendar is not None:  # pinned now, so a decision in a workflow never reads the package
            if calendar.country not in pinned:
                pinned[calendar.country] = pin_holidays([calendar.country] if calendar.country else [],
                                                        now.year, now.year + 1)
            holidays = pinned[calendar.country]
        answer[user.id] = UserRecipient(
            id=user.id, email=user.email, phone=user.phone, locale=user.locale, time_zone=user.time_zone,
            channels=tuple(Channel(c) for c in user.notify_channels or ()), active=user.active,
            calendar=calendar, holidays=holidays,
            absences=tuple(away.get(user.id, [])[:RECIPIENT_ABSENCES]),
        )
    return answer


def find_by_phone(session: Session, phone: str) -> User | None:
    """The user whose phone (E.164) sent an SMS: a rep answering a reminder. Inbound SMS is
    matched to users before contacts."""
    if not phone:
        return None
    return session.exec(select(User).where(User.phone == phone).order_by(col(User.id))).first()


def every(session: Session) -> list[User]:
    """Every user, oldest first (the daily brief keeps one Schedule per active user)."""
    return list(session.exec(select(User).order_by(col(User.id))))
