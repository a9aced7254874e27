"""Teams: members with weights, a manager and a working calendar. Admins save them; anyone reads
the teams they belong to or manage (admins all), and no other: those are "not found"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from sqlmodel import Session

from api.deps import AccessDep, SessionDep
from api.schemas.common import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page, page_at
from api.schemas.users import CALENDAR_NAME, TeamMemberIn, TeamPublic, TeamPut
from followthrough.errors import ErrorList, NotFound, ValidationFailed
from followthrough.models.vocab import Role
from followthrough.store import teams
from followthrough.store.scope import Access
from followthrough.store.tables import Team

router = APIRouter(prefix="/v1/teams", tags=["teams"])

Name = Annotated[str, Path(pattern=CALENDAR_NAME, description="e.g. sales_budapest")]


def _public(session: Session, team: Team) -> TeamPublic:
    members = [TeamMemberIn.model_validate(m) for m in teams.members(session, team.id)]  # type: ignore[arg-type]
    return TeamPublic(name=team.name, members=members, manager_id=team.manager_id, calendar=team.calendar,
                      created_at=team.created_at, updated_at=team.updated_at)


def _mine(session: Session, access: Access) -> set[int] | None:
    """The ids of the teams the caller may read (None: all)."""
    if access.role == Role.ADMIN or access.user_id is None:
        return None
    return set(teams.team_ids(session, access.user_id))


@router.put("/{name}", responses={201: {"description": "Created", "model": TeamPublic}})
def put_team(name: Name, body: TeamPut, session: SessionDep, response: Response) -> TeamPublic:
    """Create or replace the team (201 created, 200 replaced): exactly these members. A 422
    names every member, manager or calendar that does not exist."""
    errors = ErrorList()
    teams.check_references(session, errors, body.model_dump())
    if errors:
        raise ValidationFailed(f"team '{name}' has invalid fields", errors=errors.items)
    team, created = teams.put(session, name, members_in=[(m.user_id, m.weight) for m in body.members],
                              manager_id=body.manager_id, calendar=body.calendar)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _public(session, team)


@router.get("")
def list_teams(session: SessionDep, access: AccessDep, cursor: CursorQuery = None,
               limit: LimitQuery = DEFAULT_LIMIT) -> Page[TeamPublic]:
    """The teams the caller belongs to or manages (admins: all), by name."""
    mine = _mine(session, access)
    rows = [t for t in teams.list_all(session) if mine is None or t.id in mine]
    page = page_at(rows, cursor, limit)
    return Page(items=[_public(session, t) for t in page.items], next_cursor=page.next_cursor)


@router.get("/{name}")
def get_team(name: Name, session: SessionDep, access: AccessDep) -> TeamPublic:
    team = teams.get(session, name)
    mine = _mine(session, access)
    if mine is not None and team.id not in mine:
        raise NotFound(f"team '{name}' does not exist")
    return _public(session, team)
