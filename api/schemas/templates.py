"""Template schema family, and the preview request and result."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.bounded import FreeObject
from api.schemas.common import Id, UtcDateTime
from api.schemas.contacts import ContactSample
from followthrough.models.vocab import Channel
from followthrough.rendering import SmsStats

#: Template names are file and URL safe; they also name the files under ``templates/``.
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
_MAX_PART = 100_000  # characters; a message template is far smaller


class TemplateBody(BaseModel):
    """The parts of a template; which are required depends on the channel (email: subject and
    text; sms and voice: text only)."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, max_length=_MAX_PART)
    text: str | None = Field(default=None, max_length=_MAX_PART)
    html: str | None = Field(default=None, max_length=_MAX_PART)


class TemplateSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    channel: Channel
    name: str
    locale: str
    source: str  # api | file
    updated_at: UtcDateTime


class TemplatePublic(TemplateSummary):
    subject: str | None
    text: str | None
    html: str | None


class PreviewRequest(BaseModel):
    """Render for a stored contact (``contact_id``) or a sample (``contact``), not both."""

    model_config = ConfigDict(extra="forbid")

    contact_id: Id | None = None
    contact: ContactSample | None = None
    data: FreeObject = Field(default_factory=dict)


class PreviewResult(BaseModel):
    subject: str | None
    text: str
    html: str | None
    locale_used: str
    sms: SmsStats | None = None
