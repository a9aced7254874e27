"""User schema family: admins, managers and reps, each with a role-bound API key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas.common import UtcDateTime
from api.schemas.contacts import checked
from followthrough import contact_fields
from followthrough.models.vocab import Role


class UserBase(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    role: Role


class UserCreate(UserBase):
    model_config = ConfigDict(extra="forbid")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return checked(contact_fields.validate_email, value)


class UserPublic(UserBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: UtcDateTime


class UserCreated(UserPublic):
    """The new user with its API key, which is shown here once and never again."""

    api_key: str
