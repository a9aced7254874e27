from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ContactSnapshot(BaseModel):
    """What rendering and delivery need to know about a contact."""

    id: int | None = None
    name: str = ""  # the display name, as the CRM shows it
    given_name: str | None = None  # whom the salutation greets; None: derived from ``name``
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str = "en"
    time_zone: str = "UTC"
    attributes: dict[str, Any] = Field(default_factory=dict)
    #: The user who holds the relationship: ``internal`` sends without ``to_user`` go to them.
    owner_id: int | None = None
    #: The score of the contact's open lead (expressions' ``lead.score``); None: no open lead.
    lead_score: float | None = None
