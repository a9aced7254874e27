"""Teams: a name, a manager, a working calendar and members with weights (round-robin shares).
Also the checks that a user's or a team's references (calendar, manager, members) exist."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, delete, func, select

from followthrough.errors import ErrorList, NotFound
from followthrough.store import calendars
from followthrough.store.tables import Team, TeamMember, User, utcnow


def get(session: Session, name: str) -> Team:
    team = session.exec(select(Team).where(Team.name == name)).first()
    if team is None:
        raise NotFound(f"team '{name}' does not exist")
    return team


def members(session: Session, team_id: int) -> list[TeamMember]:
    query = select(TeamMember).where(TeamMember.team_id == team_id).order_by(col(TeamMember.user_id))
    return list(session.exec(query))


def member_counts(session: Session) -> dict[str, int]:
    """Every team's name -> how many members it has (0 for an empty team)."""
    query = (select(Team.name, func.count(col(TeamMember.user_id)))
             .join(TeamMember, col(TeamMember.team_id) == col(Team.id), isouter=True).group_by(col(Team.name)))
    return {name: count for name, count in session.exec(query)}


def list_all(session: Session) -> list[Team]:
    return list(session.exec(select(Team).order_by(col(Team.name))))


def put(session: Session, name: str, *, members_in: list[tuple[int, int]], manager_id: int | None,
        calendar: str | None) -> tuple[Team, bool]:
    """Create or replace the team (its members are exactly ``members_in``: (user id, weight))."""
    team = session.exec(select(Team).where(Team.name == name)).first()
    created = team is None
    if team is None:
        team = Team(name=name)
    team.manager_id, team.calendar, team.updated_at = manager_id, calendar, utcnow()
    session.add(team)
    session.flush()
    session.exec(delete(TeamMember).where(col(TeamMember.team_id) == team.id))  # type: ignore[call-overload]
    for user_id, weight in members_in:
        session.add(TeamMember(team_id=team.id, user_id=user_id, weight=weight))  # type: ignore[arg-type]
    session.flush()
    return team, created


def team_ids(session: Session, user_id: int) -> list[int]:
    """The teams the user is a member of or manages."""
    member = select(TeamMember.team_id).where(TeamMember.user_id == user_id)
    managed = select(Team.id).where(Team.manager_id == user_id)
    return sorted({*session.exec(member), *(i for i in session.exec(managed) if i is not None)})


def check_references(session: Session, errors: ErrorList, fields: dict[str, Any], *,
                     user_id: int | None = None) -> None:
    """Add an error for each reference that does not hold: a calendar that does not exist, a
    manager (or member) who is not a user, a manager chain that would come back to ``user_id``."""
    calendar = fields.get("calendar")
    if calendar is not None and not calendars.exists(session, calendar):
        errors.add("/calendar", f"calendar '{calendar}' does not exist (GET /v1/calendars)")
    manager_id = fields.get("manager_id")
    if manager_id is not None:
        if session.get(User, manager_id) is None:
            errors.add("/manager_id", f"user {manager_id} does not exist")
        elif user_id is not None and _leads_back(session, manager_id, user_id):
            errors.add("/manager_id", f"user {manager_id} reports to user {user_id}: managers may not form a cycle")
    for index, member in enumerate(fields.get("members") or []):
        if session.get(User, member["user_id"]) is None:
            errors.add(f"/members/{index}/user_id", f"user {member['user_id']} does not exist")


def _leads_back(session: Session, manager_id: int, user_id: int) -> bool:
    """True when ``user_id`` is ``manager_id`` or above it in the manager chain."""
    seen: set[int] = set()
    current: int | None = manager_id
    while current is not None and current not in seen:
        if current == user_id:
            return True
        seen.add(current)
        row = session.get(User, current)
        current = row.manager_id if row is not None else None
    return False
