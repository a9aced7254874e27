"""Users: API keys (admins create), profiles (channels, language, zone, calendar, manager) and
absences. Admins read and change anyone; a user reads and changes their own profile (not their
role, ``active`` or manager) and absences; a manager reads the users of their teams. Anyone else
is "not found"."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from sqlmodel import Session

from api.deps import AccessDep, SessionDep, SettingsDep, TemporalDep
from api.schemas.common import (
    DEFAULT_LIMIT,
    CursorQuery,
    Id,
    LimitQuery,
    Page,
    decode_cursor,
    page_of,
)
from api.schemas.users import (
    ADMIN_FIELDS,
    AbsenceCreate,
    AbsencePublic,
    UserCreate,
    UserCreated,
    UserPublic,
    UserUpdate,
)
from api.services.absences import drop_report, report_when_it_starts
from api.services.briefs import keep_brief_in_step
from followthrough.errors import ErrorList, FieldError, Forbidden, NotFound, ValidationFailed
from followthrough.models.vocab import Role
from followthrough.store import scope, teams, users
from followthrough.store.scope import Access
from followthrough.store.tables import Absence, User

router = APIRouter(prefix="/v1/users", tags=["users"])

UserId = Annotated[Id, Path(description="The user's id.")]
AbsenceId = Annotated[Id, Path(description="The absence's id.")]


def public(session: Session, user: User) -> UserPublic:
    names = [team.name for team in users.teams_of(session, user.id)] if user.id is not None else []
    return UserPublic.model_validate({**user.model_dump(), "teams": names})


def _visible(session: Session, access: Access, user_id: int) -> User:
    """The user when the caller may read them: admins anyone, a user themselves, a manager the
    users of their teams and their reports. Otherwise "not found", as for a missing user."""
    user = users.get(session, user_id)
    if access.role == Role.ADMIN or user_id == access.user_id:
        return user
    if access.role == Role.MANAGER and access.user_id is not None and user_id in scope.team_of(
            session, access.user_id):
        return user
    raise NotFound(f"user {user_id} does not exist")


def _writable(session: Session, access: Access, user_id: int) -> User:
    """The user when the caller may change them: admins anyone, a user themselves."""
    user = _visible(session, access, user_id)
    if access.role != Role.ADMIN and user_id != access.user_id:
        raise Forbidden("Only an admin changes another user.")
    return user


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, session: SessionDep, settings: SettingsDep,
                      temporal: TemporalDep) -> UserCreated:
    """Create a user; the response carries its API key, shown only this once. The user's
    daily brief is scheduled (best effort; the worker's start-up syncs every user)."""
    user, api_key = await asyncio.to_thread(
        users.create, session, name=body.name, email=body.email, role=body.role.value)
    await keep_brief_in_step(temporal, settings, user)
    created = await asyncio.to_thread(public, session, user)
    return UserCreated.model_validate({**created.model_dump(), "api_key": api_key})


@router.get("")
def list_users(session: SessionDep, cursor: CursorQuery = None,
               limit: LimitQuery = DEFAULT_LIMIT) -> Page[UserPublic]:
    """Users, oldest first; keys are never shown again."""
    rows = users.list_page(session, after=decode_cursor(cursor), limit=limit + 1)
    return page_of(rows, limit, lambda user: public(session, user))


@router.get("/{user_id}")
def get_user(user_id: UserId, session: SessionDep, access: AccessDep) -> UserPublic:
    """One user: an admin reads anyone, a user themselves, a manager their teams' users."""
    return public(session, _visible(session, access, user_id))


@router.patch("/{user_id}")
async def update_user(user_id: UserId, body: UserUpdate, session: SessionDep, access: AccessDep,
                      settings: SettingsDep, temporal: TemporalDep) -> UserPublic:
    """Change only the fields sent. A user changes their own profile, but not ``role``,
    ``active`` or ``manager_id`` (admins only). A 422 names every bad field at once: a calendar
    that does not exist, a manager who is not a user or who reports to this one. A new zone or
    ``active`` moves the user's daily brief with it."""
    user = await asyncio.to_thread(_update, session, access, user_id, body)
    if {"time_zone", "active"} & body.model_fields_set:
        await keep_brief_in_step(temporal, settings, user)
    return await asyncio.to_thread(public, session, user)


def _update(session: Session, access: Access, user_id: int, body: UserUpdate) -> User:
    user = _writable(session, access, user_id)
    fields: dict[str, Any] = body.model_dump(exclude_unset=True, mode="json")
    if access.role != Role.ADMIN:
        refused = sorted(ADMIN_FIELDS & fields.keys())
        if refused:
            raise Forbidden("Only an admin changes a user's role, active or manager_id.",
                            errors=[FieldError(f"/{name}", "only an admin may change this") for name in refused])
    errors = ErrorList()
    teams.check_references(session, errors, fields, user_id=user_id)
    if errors:
        raise ValidationFailed("The user has invalid fields.", errors=errors.items)
    return users.update(session, user, fields)


@router.post("/{user_id}/absences", status_code=status.HTTP_201_CREATED)
async def create_absence(user_id: UserId, body: AbsenceCreate, session: SessionDep, access: AccessDep,
                         temporal: TemporalDep, settings: SettingsDep) -> AbsencePublic:
    """Add an out-of-office period: messages to the user wait until it ends (unless urgent), and
    when it starts their manager hears of their tasks due during it."""
    row = await asyncio.to_thread(_add_absence, session, access, user_id, body)
    await report_when_it_starts(temporal, settings, row)
    return AbsencePublic.model_validate(row)


def _add_absence(session: Session, access: Access, user_id: int, body: AbsenceCreate) -> Absence:
    _writable(session, access, user_id)
    row = users.add_absence(session, user_id, body.starts_at, body.ends_at, body.reason)
    session.commit()  # before its report may read it
    return row


@router.get("/{user_id}/absences")
def list_absences(user_id: UserId, session: SessionDep, access: AccessDep, cursor: CursorQuery = None,
                  limit: LimitQuery = DEFAULT_LIMIT) -> Page[AbsencePublic]:
    """The user's absences, oldest first."""
    _visible(session, access, user_id)
    rows = users.absences(session, user_id, after=decode_cursor(cursor), limit=limit + 1)
    return page_of(rows, limit, AbsencePublic.model_validate)


@router.delete("/{user_id}/absences/{absence_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_absence(user_id: UserId, absence_id: AbsenceId, session: SessionDep,
                         access: AccessDep, temporal: TemporalDep) -> Response:
    """Remove an absence; its report to the manager, if it has not gone yet, is cancelled."""
    await asyncio.to_thread(_delete_absence, session, access, user_id, absence_id)
    await drop_report(temporal, absence_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _delete_absence(session: Session, access: Access, user_id: int, absence_id: int) -> None:
    _writable(session, access, user_id)
    users.delete_absence(session, user_id, absence_id)
    session.commit()
