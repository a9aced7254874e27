"""Users and their API keys (admin only)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, status
from sqlmodel import col, select

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.schemas.common import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page, decode_cursor, page_of
from api.schemas.users import UserCreate, UserCreated, UserPublic
from api.services.briefs import keep_brief_in_step
from followthrough.store import users
from followthrough.store.tables import User

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, session: SessionDep, settings: SettingsDep,
                      temporal: TemporalDep) -> UserCreated:
    """Create a user; the response carries its API key, shown only this once. The user's
    daily brief is scheduled (best effort; the worker's start-up syncs every user)."""
    user, api_key = await asyncio.to_thread(
        users.create, session, name=body.name, email=body.email, role=body.role.value)
    await keep_brief_in_step(temporal, settings, user)
    return UserCreated.model_validate({**user.model_dump(), "api_key": api_key})


@router.get("")
def list_users(session: SessionDep, cursor: CursorQuery = None,
               limit: LimitQuery = DEFAULT_LIMIT) -> Page[UserPublic]:
    """Users, oldest first; keys are never shown again."""
    # TODO(store): move to store.users.list_all (store/ owns all SQL; not this module's file).
    query = select(User).order_by(col(User.id)).limit(limit + 1)
    if (after := decode_cursor(cursor)) is not None:
        query = query.where(col(User.id) > after)
    return page_of(list(session.exec(query).all()), limit, UserPublic.model_validate)
