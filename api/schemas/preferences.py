"""Preferences schemas: consent per channel and category, preferred channel, pause."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from api.schemas.common import UtcDateTime
from followthrough.models.vocab import Category, Channel


class PreferencesPublic(BaseModel):
    """Every channel × category is listed; ``true`` unless the contact said no."""

    preferred_channel: Channel | None
    paused_until: UtcDateTime | None
    consent: dict[Channel, dict[Category, bool]]


class PreferencesUpdate(BaseModel):
    """A partial update: only the fields sent change; ``null`` clears the channel or the pause.
    ``consent`` lists only the answers to change, e.g. ``{"sms": {"marketing": false}}``."""

    model_config = ConfigDict(extra="forbid")

    preferred_channel: Channel | None = None
    #: Pause every category but transactional until this instant.
    paused_until: UtcDateTime | None = None
    consent: dict[Channel, dict[Category, bool]] = Field(default_factory=dict)

    @field_validator("consent", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("null", "cannot be null; send answers or leave the field out")
        return value
