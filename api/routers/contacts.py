"""Contacts: create, list, read, update, upsert by external id, and the contact's timeline.
Every authenticated role may use them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import AccessDep, SessionDep, SettingsDep
from api.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Id, Page, decode_cursor, page_of
from api.schemas.contacts import (
    ContactCreate,
    ContactPublic,
    ContactUpdate,
    ContactUpsert,
    TimelineEntryPublic,
)
from api.services.contacts import check_owner as _owner
from api.services.contacts import with_defaults as _with_defaults
from followthrough.store import contacts, timeline

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])

ContactId = Annotated[Id, Path(description="The contact's id.")]
ExternalId = Annotated[str, Path(min_length=1, max_length=200)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_contact(
    body: ContactCreate, session: SessionDep, settings: SettingsDep, access: AccessDep
) -> ContactPublic:
    """Create a contact; a duplicate ``external_id`` is a 409. Its owner defaults to the rep or
    manager creating it (an admin's stays without one)."""
    fields = _with_defaults(body, settings)
    _owner(session, access, fields, default=True)
    contact = contacts.create(session, fields)
    return ContactPublic.model_validate(contact)


@router.get("")
def list_contacts(
    session: SessionDep, access: AccessDep, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[ContactPublic]:
    """The contacts the caller may see, in creation order, ``limit`` at a time."""
    rows = contacts.list_page(session, after=decode_cursor(cursor), limit=limit + 1, visible=access.read)
    return page_of(rows, limit, ContactPublic.model_validate)


@router.get("/{contact_id}")
def get_contact(contact_id: ContactId, session: SessionDep) -> ContactPublic:
    """One contact, or a 404."""
    return ContactPublic.model_validate(contacts.get(session, contact_id))


@router.patch("/{contact_id}")
def update_contact(
    contact_id: ContactId, body: ContactUpdate, session: SessionDep, access: AccessDep
) -> ContactPublic:
    """Change only the fields sent; ``null`` clears email, phone, external_id, given_name,
    family_name or owner_id."""
    contact = contacts.get(session, contact_id)
    fields = body.model_dump(exclude_unset=True)
    _owner(session, access, fields, default=False)
    contacts.update(session, contact, fields)
    return ContactPublic.model_validate(contact)


@router.put(
    "/by-external-id/{external_id}",
    responses={201: {"description": "Created", "model": ContactPublic}},
)
def upsert_contact(
    external_id: ExternalId,
    body: ContactUpsert,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    access: AccessDep,
) -> ContactPublic:
    """Create or replace the contact with this external id (201 created, 200 replaced).

    The body is the whole contact, as a CRM sync sends it: a field left out is reset to its
    default, so a stale email never survives a sync that dropped it.
    """
    fields = _with_defaults(body, settings)
    exists = contacts.by_external_id(session, external_id) is not None
    if "owner_id" not in body.model_fields_set and exists:
        del fields["owner_id"]  # a sync that does not know owners keeps the one the contact has
    _owner(session, access, fields, default=not exists)
    contact, created = contacts.upsert_by_external_id(session, external_id, fields)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return ContactPublic.model_validate(contact)


@router.get("/{contact_id}/timeline")
def contact_timeline(
    contact_id: ContactId, session: SessionDep, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[TimelineEntryPublic]:
    """Everything sent, received and decided for the contact, newest first."""
    contacts.get(session, contact_id)  # 404 for an unknown contact, not an empty page
    rows = timeline.page(session, contact_id, before=decode_cursor(cursor), limit=limit + 1)
    return page_of(rows, limit, TimelineEntryPublic.model_validate)
