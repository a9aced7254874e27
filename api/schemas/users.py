"""User schema family: admins, managers and reps, each with a role-bound API key, and their
profile as recipients (phone, language, zone, calendar, manager, channels); absences; teams."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from api.schemas.bounded import LIST_MAX, LOCALE_MAX, NAME_MAX, PHONE_MAX, TIME_ZONE_MAX
from api.schemas.common import Id, UtcDateTime
from api.schemas.contacts import _ContactFields, checked
from followthrough import contact_fields
from followthrough.models.vocab import NotifyChannel, Role

#: A calendar's name, as ``PUT /v1/calendars/{name}`` accepts it.
CALENDAR_NAME = r"^[a-z][a-z0-9_]{0,63}$"
CalendarName = Annotated[str, Field(pattern=CALENDAR_NAME, max_length=64)]
#: The longest absence (a parental leave fits; a typo of a year does not).
ABSENCE_MAX = timedelta(days=366)
#: Absences are about now: nothing before 2000 or after 2100.
ABSENCE_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
ABSENCE_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _channels(value: list[NotifyChannel] | None) -> list[NotifyChannel] | None:
    if value is not None and len(set(value)) != len(value):
        raise PydanticCustomError("duplicate", "each channel may appear once")
    return value


class _ProfileFields(_ContactFields):
    """Validators of a user's profile (the contact field validators, the channels list)."""

    @field_validator("notify_channels", check_fields=False)
    @classmethod
    def _notify_channels(cls, value: list[NotifyChannel] | None) -> list[NotifyChannel] | None:
        return _channels(value)


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


class UserUpdate(_ProfileFields):
    """A partial update: only the fields sent change; ``null`` clears email, phone, calendar and
    manager_id. A user may change their own profile, not their role, ``active`` or manager."""

    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=PHONE_MAX)
    locale: str | None = Field(default=None, max_length=LOCALE_MAX)
    time_zone: str | None = Field(default=None, max_length=TIME_ZONE_MAX)
    #: A calendar that exists (``GET /v1/calendars``); null: none of their own (their team's).
    calendar: CalendarName | None = None
    manager_id: Id | None = None
    active: bool | None = None
    #: Where to notify the user, in order; each of sms, email at most once.
    notify_channels: list[NotifyChannel] | None = Field(default=None, min_length=1, max_length=2)
    role: Role | None = None

    @field_validator("name", "locale", "time_zone", "active", "notify_channels", "role", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("null", "cannot be null; send a value or leave the field out")
        return value


#: Fields only an admin may change, even on their own profile.
ADMIN_FIELDS = frozenset({"role", "active", "manager_id"})


class UserPublic(UserBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    phone: str | None = None
    locale: str = "en"
    time_zone: str = "UTC"
    calendar: str | None = None
    manager_id: int | None = None
    active: bool = True
    notify_channels: list[NotifyChannel] = Field(default_factory=lambda: [NotifyChannel.EMAIL])
    #: The teams the user is a member of, by name.
    teams: list[str] = Field(default_factory=list)
    created_at: UtcDateTime
    updated_at: UtcDateTime | None = None


class UserCreated(UserPublic):
    """The new user with its API key, which is shown here once and never again."""

    api_key: str


class AbsenceCreate(BaseModel):
    """An out-of-office period ``[starts_at, ends_at)``; times with an offset (RFC 3339)."""

    model_config = ConfigDict(extra="forbid")

    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=NAME_MAX)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _bounded(cls, value: datetime) -> datetime:
        if not ABSENCE_EARLIEST <= value < ABSENCE_LATEST:
            raise PydanticCustomError("out_of_range", "must be between 2000-01-01 and 2100-01-01")
        return value

    @model_validator(mode="after")
    def _order(self) -> AbsenceCreate:
        if self.ends_at <= self.starts_at:
            raise PydanticCustomError("absence_order", "ends_at must be after starts_at")
        if self.ends_at - self.starts_at > ABSENCE_MAX:
            raise PydanticCustomError("absence_length", "an absence lasts at most 366 days")
        return self


class AbsencePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    reason: str | None
    created_at: UtcDateTime


class TeamMemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    user_id: Id
    #: The member's share in round-robin assignment (leads, tickets).
    weight: int = Field(default=1, ge=1, le=100)


class TeamPut(BaseModel):
    """The whole team: its members (with weights), its manager and its working calendar."""

    model_config = ConfigDict(extra="forbid")

    members: list[TeamMemberIn] = Field(default_factory=list, max_length=LIST_MAX)
    manager_id: Id | None = None
    calendar: CalendarName | None = None

    @field_validator("members")
    @classmethod
    def _unique(cls, value: list[TeamMemberIn]) -> list[TeamMemberIn]:
        ids = [m.user_id for m in value]
        if len(set(ids)) != len(ids):
            raise PydanticCustomError("duplicate", "each user may be a member once")
        return value


class TeamPublic(BaseModel):
    name: str
    members: list[TeamMemberIn]
    manager_id: int | None
    calendar: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
