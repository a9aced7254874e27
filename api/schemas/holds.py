"""Hold schemas ("one department at a time")."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from api.schemas.common import UtcDateTime
from followthrough.models.vocab import Category


class HoldCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    categories: list[Category] = Field(min_length=1, max_length=len(Category))
    #: Omitted or null: until the hold is lifted (``DELETE``).
    until: UtcDateTime | None = None
    reason: str = Field(default="", max_length=200)

    @field_validator("until")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        # A hold ending in the past would be stored but never hold anything back.
        if value is not None and value <= datetime.now(UTC):
            raise PydanticCustomError("past", "must be in the future")
        return value


class HoldPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    contact_id: int
    categories: list[Category]
    until: UtcDateTime | None
    reason: str
    created_at: UtcDateTime
    lifted_at: UtcDateTime | None
