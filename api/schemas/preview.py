"""Preview of a sequence for one contact: ``POST /v1/definitions/{name}/preview``."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.schemas.bounded import LIST_MAX, FreeObject
from api.schemas.common import Id, UtcDateTime, Version
from api.schemas.contacts import ContactSample
from followthrough.models.vocab import Channel, RunStatus, StepState


class PreviewEvent(BaseModel):
    """An event to simulate, e.g. a reply: delivered to the run at ``at``."""

    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime
    event: str = Field(min_length=1, max_length=100)
    channel: Channel | None = None
    data: FreeObject = Field(default_factory=dict)


class PreviewRequest(BaseModel):
    """Give ``contact_id`` (a stored contact) or ``contact`` (sample data), not both."""

    model_config = ConfigDict(extra="forbid")

    version: Version | None = None  # omitted: the active version, else the newest
    contact_id: Id | None = None
    contact: ContactSample | None = None  # sample data: consent taken as granted
    data: FreeObject = Field(default_factory=dict)
    start: AwareDatetime | None = None  # omitted: now
    events: list[PreviewEvent] = Field(default_factory=list, max_length=LIST_MAX)
    respect_policy: bool = True  # False: every send goes out on its own channel, unchecked


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SmsStatsPublic(_Out):
    encoding: str
    characters: int
    segments: int


class PreviewMessagePublic(_Out):
    channel: Channel
    to: str | None
    subject: str | None
    text: str
    html: str | None
    locale_used: str
    sms: SmsStatsPublic | None


class DeferralPublic(_Out):
    at: UtcDateTime
    until: UtcDateTime
    reason: str | None


class PreviewStepPublic(_Out):
    step_id: str
    visit: int
    type: str
    state: StepState
    #: When the step takes effect: a send when it goes out (after any deferral), else its start.
    at: UtcDateTime
    started_at: UtcDateTime
    finished_at: UtcDateTime
    due_at: UtcDateTime | None
    channel: Channel | None
    reason: str | None
    deferrals: list[DeferralPublic]
    message: PreviewMessagePublic | None


class PreviewContact(_Out):
    id: int | None
    name: str
    email: str | None
    phone: str | None
    locale: str
    time_zone: str
    attributes: dict[str, Any]


class PreviewEndPublic(_Out):
    status: RunStatus
    reason: str | None
    at: UtcDateTime
    step_id: str | None


class PreviewResponse(_Out):
    definition: str
    version: int
    contact: PreviewContact
    start: UtcDateTime
    steps: list[PreviewStepPublic]
    end: PreviewEndPublic | None  # null: the preview stopped before the run ended
    warnings: list[str]
