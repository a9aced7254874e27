"""Contact schema family (Base/Create/Upsert/Update/Public) and timeline entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from api.schemas.bounded import (
    EMAIL_MAX,
    LOCALE_MAX,
    NAME_MAX,
    NAME_PART_MAX,
    PHONE_MAX,
    TIME_ZONE_MAX,
    FreeObject,
)
from api.schemas.common import UtcDateTime
from followthrough import contact_fields


def checked(validator: Callable[[str], str], value: str | None) -> str | None:
    """Run a ``contact_fields`` validator; its message becomes the field's error as written
    (a bare ValueError would be reported as "Value error, ...")."""
    if value is None:
        return None
    try:
        return validator(value)
    except ValueError as exc:
        raise PydanticCustomError("value_error", str(exc)) from None


class _ContactFields(BaseModel):
    """Validators shared by every contact input; each field's error is reported at its path."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("email", check_fields=False)
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return checked(contact_fields.validate_email, value)

    @field_validator("phone", check_fields=False)
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return checked(contact_fields.validate_phone, value)

    @field_validator("locale", check_fields=False)
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        return checked(contact_fields.validate_locale, value)

    @field_validator("time_zone", check_fields=False)
    @classmethod
    def _time_zone(cls, value: str | None) -> str | None:
        return checked(contact_fields.validate_time_zone, value)


#: A given or family name: optional, never blank. ``name`` stays the display name; templates
#: greet by ``given_name`` when it is known (Russian and Hungarian names are often stored
#: surname first, so the first word of ``name`` is not always the given name).
NamePart = Annotated[str, Field(min_length=1, max_length=NAME_PART_MAX)]


class ContactBase(_ContactFields):
    name: str = Field(default="", max_length=NAME_MAX)
    given_name: NamePart | None = None
    family_name: NamePart | None = None
    email: str | None = Field(default=None, max_length=EMAIL_MAX)
    phone: str | None = Field(default=None, max_length=PHONE_MAX)
    #: Omitted: the service default (``FT_DEFAULT_LOCALE``), applied by the router.
    locale: str | None = Field(default=None, max_length=LOCALE_MAX)
    #: Omitted: the service default (``FT_DEFAULT_TIME_ZONE``), applied by the router.
    time_zone: str | None = Field(default=None, max_length=TIME_ZONE_MAX)
    #: Free-form; at most ``FT_MAX_OBJECT_BYTES`` (16 KiB) as JSON.
    attributes: FreeObject = Field(default_factory=dict)


class ContactCreate(ContactBase):
    external_id: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)

    @model_validator(mode="after")
    def _reachable_or_known(self) -> ContactCreate:
        # A contact with no address and no CRM id can be neither messaged nor found again.
        if self.email is None and self.phone is None and self.external_id is None:
            raise PydanticCustomError(
                "contact_identity", "a contact needs an email, a phone or an external_id")
        return self


class ContactUpsert(ContactBase):
    """The full contact for ``PUT /by-external-id/{external_id}``: it replaces what is stored."""


class ContactUpdate(_ContactFields):
    """A partial update: only the fields sent change; ``null`` clears email, phone, external_id,
    given_name and family_name."""

    name: str | None = Field(default=None, max_length=NAME_MAX)
    given_name: NamePart | None = None
    family_name: NamePart | None = None
    email: str | None = Field(default=None, max_length=EMAIL_MAX)
    phone: str | None = Field(default=None, max_length=PHONE_MAX)
    locale: str | None = Field(default=None, max_length=LOCALE_MAX)
    time_zone: str | None = Field(default=None, max_length=TIME_ZONE_MAX)
    attributes: FreeObject | None = None
    external_id: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)

    @field_validator("name", "locale", "time_zone", "attributes", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Defaults are not validated, so this only rejects an explicit null.
        if value is None:
            raise PydanticCustomError("null", "cannot be null; send a value or leave the field out")
        return value


class ContactSample(_ContactFields):
    """A made-up contact for template previews."""

    name: str = Field(default="Anna Example", max_length=NAME_MAX)
    given_name: NamePart | None = None
    family_name: NamePart | None = None
    email: str | None = Field(default=None, max_length=EMAIL_MAX)
    phone: str | None = Field(default=None, max_length=PHONE_MAX)
    locale: str | None = Field(default=None, max_length=LOCALE_MAX)
    time_zone: str | None = Field(default=None, max_length=TIME_ZONE_MAX)
    attributes: FreeObject = Field(default_factory=dict)


class ContactPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str | None
    name: str
    given_name: str | None
    family_name: str | None
    email: str | None
    phone: str | None
    locale: str
    time_zone: str
    attributes: dict[str, Any]
    created_at: UtcDateTime
    updated_at: UtcDateTime


class TimelineEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: UtcDateTime
    kind: str
    direction: str
    channel: str | None
    run_id: str | None
    delivery_key: str | None
    summary: str
    data: dict[str, Any]
