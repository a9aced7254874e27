"""Holds on a contact: defer some categories ("one department at a time"). Any role."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from sqlalchemy import Engine

from api.deps import EngineDep, SessionDep, TemporalDep
from api.schemas.common import (
    DEFAULT_LIMIT,
    CursorQuery,
    Id,
    LimitQuery,
    Page,
    decode_cursor,
    page_of,
)
from api.schemas.holds import HoldCreate, HoldPublic
from followthrough.store import holds
from followthrough.store.db import session_scope
from followthrough.wake import active_runs, wake_runs

router = APIRouter(prefix="/v1/contacts", tags=["holds"])

ContactId = Annotated[Id, Path(description="The contact's id.")]
HoldId = Annotated[Id, Path(description="The hold's id.")]


@router.post("/{contact_id}/holds", status_code=status.HTTP_201_CREATED)
def create_hold(contact_id: ContactId, body: HoldCreate, session: SessionDep) -> HoldPublic:
    """Defer these categories' messages to the contact until ``until`` or until lifted."""
    row = holds.create(session, contact_id, body.categories, body.until, body.reason)
    return HoldPublic.model_validate(row)


@router.get("/{contact_id}/holds")
def list_holds(
    contact_id: ContactId, session: SessionDep, cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[HoldPublic]:
    """The holds of the contact, lifted and expired ones included, oldest first."""
    rows = holds.list_for_contact(session, contact_id, after=decode_cursor(cursor), limit=limit + 1)
    return page_of(rows, limit, HoldPublic.model_validate)


@router.delete("/{contact_id}/holds/{hold_id}", status_code=status.HTTP_204_NO_CONTENT)
async def lift_hold(contact_id: ContactId, hold_id: HoldId, engine: EngineDep, temporal: TemporalDep) -> Response:
    """Lift the hold now; the contact's runs it deferred ask again at once (committed first, so
    they see it lifted). Lifting twice is a no-op."""
    await asyncio.to_thread(_lift, engine, contact_id, hold_id)
    workflow_ids = await asyncio.to_thread(active_runs, engine, contact_id)
    if workflow_ids:
        await wake_runs(await temporal.client(), workflow_ids)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _lift(engine: Engine, contact_id: int, hold_id: int) -> None:
    with session_scope(engine) as session:
        holds.lift(session, hold_id, contact_id=contact_id)
