"""Users and their API keys (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlmodel import col, select

from api.deps import SessionDep
from api.schemas.common import Page
from api.schemas.users import UserCreate, UserCreated, UserPublic
from followthrough.store import users
from followthrough.store.tables import User

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: SessionDep) -> UserCreated:
    """Create a user; the response carries its API key, shown only this once."""
    user, api_key = users.create(session, name=body.name, email=body.email, role=body.role.value)
    return UserCreated.model_validate({**user.model_dump(), "api_key": api_key})


@router.get("")
def list_users(session: SessionDep) -> Page[UserPublic]:
    """Every user, oldest first, in one page; keys are never shown again."""
    # TODO(store): move to store.users.list_all (store/ owns all SQL; not this module's file).
    rows = session.exec(select(User).order_by(col(User.id))).all()
    return Page(items=[UserPublic.model_validate(row) for row in rows])
