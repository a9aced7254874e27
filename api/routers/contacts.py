"""Contacts: create, list, read, update, upsert by external id, and the contact's timeline.
Every authenticated role may use them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from sqlmodel import Session

from api.deps import AccessDep, SessionDep, SettingsDep
from api.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Id, Page, decode_cursor, page_of
from api.schemas.contacts import (
    ContactCreate,
    ContactPublic,
    ContactUpdate,
    ContactUpsert,
    TimelineEntryPublic,
)
from followthrough.errors import FieldError, ValidationFailed
from followthrough.settings import Settings
from followthrough.store import contacts, timeline
from followthrough.store.scope import Access
from followthrough.store.tables import User

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])

ContactId = Annotated[Id, Path(description="The contact's id.")]
ExternalId = Annotated[str, Path(min_length=1, max_length=200)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def _with_defaults(body: ContactCreate | ContactUpsert, settings: Settings) -> dict[str, Any]:
    fields = body.model_dump()
    fields["locale"] = fields["locale"] or settings.default_locale
    fields["time_zone"] = fields["time_zone"] or settings.default_time_zone
    return fields


def _owner(session: Session, access: Access, fields: dict[str, Any], *, default: bool) -> None:
    """Check (and, for a new contact of a rep or manager, default) ``owner_id``: a user who
    exists, and one whose contacts the caller may change (a rep: themselves)."""
    if "owner_id" not in fields:
        return
    if fields["owner_id"] is None and default:
        fields["owner_id"] = access.user_id
    owner_id = fields["owner_id"]
    if owner_id is None:
        if not access.write.everything:
            raise ValidationFailed("The contact has invalid fields.", errors=[
                FieldError("/owner_id", "your contacts have an owner: yourself or a member of your team")])
        return
    if session.get(User, owner_id) is None:
        raise ValidationFailed("The contact has invalid fields.",
                               errors=[FieldError("/owner_id", f"user {owner_id} does not exist")])
    if not access.write.allows_owner(owner_id):
        raise ValidationFailed("The contact has invalid fields.", errors=[
            FieldError("/owner_id", f"you may not give contacts to user {owner_id}")])


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
