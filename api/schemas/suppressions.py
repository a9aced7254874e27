"""Suppression list schemas."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from api.schemas.common import UtcDateTime
from api.schemas.contacts import checked
from followthrough import contact_fields
from followthrough.models.vocab import Channel


class SuppressionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    #: An email address for ``email``, an E.164 phone number for ``sms`` and ``voice``.
    address: str = Field(min_length=1, max_length=320)
    reason: str = Field(default="", max_length=500)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str, info: ValidationInfo) -> str | None:
        channel = info.data.get("channel")
        if channel is None:  # the channel itself is invalid and reported on its own
            return value
        validator = contact_fields.validate_email if channel == Channel.EMAIL else contact_fields.validate_phone
        return checked(validator, value)


class SuppressionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: Channel
    address: str
    reason: str
    source: str
    created_at: UtcDateTime
