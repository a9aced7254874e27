"""Preview of a definition for one contact: ``POST /v1/definitions/{name}/preview``. A
sequence answers its simulated timeline; a lead policy what it would do to a ``lead``; an SLA
policy what it would do to a ``ticket``. The answer's ``kind`` says which."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from api.schemas.bounded import LIST_MAX, NAME_MAX, FreeObject, Text
from api.schemas.common import Id, UtcDateTime, Version
from api.schemas.contacts import ContactSample
from followthrough.dsl.schema import EVENT_NAME_MAX, EVENT_PATTERN
from followthrough.models.vocab import Channel, RunStatus, StepState
from followthrough.tickets.policy import CATEGORY_PATTERN, Priority

#: The years a preview plans in: a clock counts up to years past its start (SLA tiers, the next
#: year's holidays), and converting an instant near year 1 or 9999 to UTC overflows.
PLANNABLE_YEARS = (1900, 9000)


def _plannable(value: datetime) -> datetime:
    low, high = PLANNABLE_YEARS
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not low <= year <= high:
        raise ValueError(f"an instant between the years {low} and {high}")
    return value


#: An RFC 3339 instant (with an offset) a preview can plan from.
PlannableInstant = Annotated[AwareDatetime, AfterValidator(_plannable)]


class PreviewEvent(BaseModel):
    """An event to simulate, e.g. a reply: delivered to the run at ``at``."""

    model_config = ConfigDict(extra="forbid")

    at: PlannableInstant
    event: str = Field(min_length=1, max_length=100)
    channel: Channel | None = None
    data: FreeObject = Field(default_factory=dict)


class LeadEvent(BaseModel):
    """An engagement event the lead has had: its points (decayed to the preview's time) count."""

    model_config = ConfigDict(extra="forbid")

    event: str = Field(pattern=EVENT_PATTERN, max_length=EVENT_NAME_MAX, description="e.g. 'reply', 'form.submitted'")
    at: PlannableInstant


class LeadSample(BaseModel):
    """The lead a ``lead_policy`` preview scores, qualifies and assigns."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(default="", max_length=NAME_MAX)
    attributes: FreeObject = Field(default_factory=dict)
    events: list[LeadEvent] = Field(default_factory=list, max_length=LIST_MAX)


class TicketSample(BaseModel):
    """The ticket an ``sla_policy`` preview classifies, routes and sets targets for."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(default="", max_length=NAME_MAX)
    text: Text = ""
    channel: Literal["email", "sms", "api", "voice"] = "api"
    #: Given at intake, they win over classification.
    priority: Priority | None = None
    category: str | None = Field(default=None, pattern=CATEGORY_PATTERN)


class PreviewRequest(BaseModel):
    """Give ``contact_id`` (a stored contact) or ``contact`` (sample data), not both. A sequence
    takes ``data``, ``events`` and ``respect_policy``; a lead policy ``lead``; an SLA policy
    ``ticket``. ``start`` is when the run starts, or the moment a policy decides at."""

    model_config = ConfigDict(extra="forbid")

    version: Version | None = None  # omitted: the active version, else the newest
    contact_id: Id | None = None
    contact: ContactSample | None = None  # sample data: consent taken as granted
    data: FreeObject = Field(default_factory=dict)
    start: PlannableInstant | None = None  # omitted: now
    events: list[PreviewEvent] = Field(default_factory=list, max_length=LIST_MAX)
    respect_policy: bool = True  # False: every send goes out on its own channel, unchecked
    lead: LeadSample | None = None
    ticket: TicketSample | None = None


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
    kind: Literal["sequence"] = "sequence"
    definition: str
    version: int
    contact: PreviewContact
    start: UtcDateTime
    steps: list[PreviewStepPublic]
    end: PreviewEndPublic | None  # null: the preview stopped before the run ended
    warnings: list[str]


class _PolicyPreview(BaseModel):
    """What the policy would do (its module's answer, every key of it, next to these)."""

    model_config = ConfigDict(extra="allow")

    definition: str
    version: int
    contact: PreviewContact


class LeadPolicyPreview(_PolicyPreview):
    """``followthrough.leads.preview``: score with every change, stage, owner and why, the
    planned first-touch SLA times."""

    kind: Literal["lead_policy"]


class SlaPolicyPreview(_PolicyPreview):
    """``followthrough.tickets.preview``: category and priority with the rules that matched,
    team and assignee, the planned SLA times and ladder."""

    kind: Literal["sla_policy"]


AnyPreview = Annotated[PreviewResponse | LeadPolicyPreview | SlaPolicyPreview, Field(discriminator="kind")]
