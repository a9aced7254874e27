"""Dependencies as ``Annotated`` aliases: SessionDep, PrincipalDep, TemporalDep.

Who may call which route is decided in ``api.access``, not here.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from api.temporal import TemporalGateway
from followthrough.errors import Unauthorized
from followthrough.models.vocab import Role
from followthrough.rendering import Renderer
from followthrough.settings import Settings
from followthrough.store import users
from followthrough.store.db import session_scope
from followthrough.store.scope import Access

#: Requests holding a database session at once; well below the 40 threads of the pool.
DB_SESSION_SLOTS = 16


@dataclass(frozen=True)
class Principal:
    role: Role
    user_id: int | None = None


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A unit of work per request: committed when the handler returns, rolled back on error.

    At most ``DB_SESSION_SLOTS`` requests hold a session at once. Sync handlers run on a pool of
    40 threads, and FastAPI serialises their responses on the same pool before the teardown
    commits: when every thread waited for SQLite's write lock (BEGIN IMMEDIATE), the holder could
    not finish, and everything stalled until the busy timeout (found by the benchmark at 50
    concurrent POST /v1/contacts). Fewer slots than threads keeps threads free to finish.
    """
    async with request.app.state.db_slots:
        with session_scope(request.app.state.engine) as session:
            yield session


def get_temporal(request: Request) -> TemporalGateway:
    return request.app.state.temporal


def get_renderer(request: Request) -> Renderer:
    return request.app.state.renderer


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
TemporalDep = Annotated[TemporalGateway, Depends(get_temporal)]
RendererDep = Annotated[Renderer, Depends(get_renderer)]


def get_principal(request: Request, settings: SettingsDep) -> Principal:
    """The principal behind the request's bearer key: the admin key or a user's key."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("Send 'Authorization: Bearer <API key>'.")
    key = key.strip()
    if settings.admin_api_key and hmac.compare_digest(key.encode(), settings.admin_api_key.encode()):
        return Principal(Role.ADMIN)
    with Session(request.app.state.engine) as session:
        user = users.by_api_key(session, key)
    if user is None:
        raise Unauthorized("The API key is not valid.")
    return Principal(Role(user.role), user.id)


def current_principal(request: Request) -> Principal:
    """The caller, as authenticated by ``api.access.authorize`` for this request."""
    principal = getattr(request.state, "principal", None)
    if principal is None:  # a public route asked for a principal: nobody is authenticated
        raise Unauthorized("Send 'Authorization: Bearer <API key>'.")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def current_access(request: Request) -> Access:
    """What the caller may see and change (``api.access.authorize`` builds it from the role's
    scope setting): pass ``.read`` or ``.write`` to the store's queries."""
    access = getattr(request.state, "access", None)
    if access is None:
        raise Unauthorized("Send 'Authorization: Bearer <API key>'.")
    return access


AccessDep = Annotated[Access, Depends(current_access)]
