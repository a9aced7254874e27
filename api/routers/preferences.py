"""A contact's consent and preferences. Every authenticated role may read and change them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import SessionDep
from api.schemas.common import Id
from api.schemas.preferences import PreferencesPublic, PreferencesUpdate
from followthrough.store import preferences

router = APIRouter(prefix="/v1/contacts", tags=["preferences"])

ContactId = Annotated[Id, Path(description="The contact's id.")]


def _public(prefs: preferences.Preferences) -> PreferencesPublic:
    return PreferencesPublic.model_validate(prefs.model_dump())


@router.get("/{contact_id}/preferences")
def get_preferences(contact_id: ContactId, session: SessionDep) -> PreferencesPublic:
    """Consent for every channel × category, the preferred channel and the pause."""
    return _public(preferences.get(session, contact_id))


@router.patch("/{contact_id}/preferences")
def update_preferences(
    contact_id: ContactId, body: PreferencesUpdate, session: SessionDep
) -> PreferencesPublic:
    """Change only what is sent; each consent change is recorded on the contact's timeline."""
    # Read the attributes, not model_dump(): the timestamp serializer would turn them into text.
    given: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    return _public(preferences.update(session, contact_id, source="api", **given))
