"""Holds on a contact: defer some categories ("one department at a time"). Any role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.deps import SessionDep
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
def lift_hold(contact_id: ContactId, hold_id: HoldId, session: SessionDep) -> Response:
    """Lift the hold now; deferred messages go at their next check. Lifting twice is a no-op."""
    holds.lift(session, hold_id, contact_id=contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
