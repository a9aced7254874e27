"""Contact fields as the contacts API takes them, shared by the routes that create contacts
(``POST /v1/contacts``, the upsert, and a lead's new contact)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from api.schemas.contacts import ContactCreate, ContactUpsert
from followthrough.errors import FieldError, ValidationFailed
from followthrough.settings import Settings
from followthrough.store.scope import Access
from followthrough.store.tables import User


def with_defaults(body: ContactCreate | ContactUpsert, settings: Settings) -> dict[str, Any]:
    fields = body.model_dump()
    fields["locale"] = fields["locale"] or settings.default_locale
    fields["time_zone"] = fields["time_zone"] or settings.default_time_zone
    return fields


def check_owner(session: Session, access: Access, fields: dict[str, Any], *, default: bool,
                at: str = "") -> None:
    """Check (and, for a new contact of a rep or manager, default) ``owner_id``: a user who
    exists, and one whose contacts the caller may change (a rep: themselves). ``at``: the
    contact's place in the body (``/contact``), for the error paths."""
    if "owner_id" not in fields:
        return
    if fields["owner_id"] is None and default:
        fields["owner_id"] = access.user_id
    owner_id = fields["owner_id"]
    if owner_id is None:
        if not access.write.everything:
            raise ValidationFailed("The contact has invalid fields.", errors=[
                FieldError(f"{at}/owner_id", "your contacts have an owner: yourself or a member of your team")])
        return
    if session.get(User, owner_id) is None:
        raise ValidationFailed("The contact has invalid fields.",
                               errors=[FieldError(f"{at}/owner_id", f"user {owner_id} does not exist")])
    if not access.write.allows_owner(owner_id):
        raise ValidationFailed("The contact has invalid fields.", errors=[
            FieldError(f"{at}/owner_id", f"you may not give contacts to user {owner_id}")])
