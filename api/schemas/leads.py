"""Leads: intake (an existing contact or a new one), the updates, and the public shape with the
explanation of every change."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.bounded import FreeObject
from api.schemas.common import Id, UtcDateTime
from api.schemas.contacts import ContactCreate
from followthrough.errors import FieldError
from followthrough.models.vocab import LeadStage
from followthrough.store.tables import Lead, LeadEvent

SOURCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class LeadUpsert(BaseModel):
    """A lead for ``PUT /v1/leads/by-external-id/{id}``: of an existing contact (``contact_id``)
    or of a new one (``contact``: the fields of ``POST /v1/contacts``)."""

    model_config = ConfigDict(extra="forbid")

    contact_id: Id | None = None
    contact: ContactCreate | None = None
    source: str = Field(default="api", pattern=SOURCE_PATTERN)
    attributes: FreeObject = Field(default_factory=dict)

    def contact_problem(self) -> FieldError | None:
        """Exactly one of ``contact_id`` and ``contact`` (a 422 naming the field)."""
        if self.contact_id is not None and self.contact is not None:
            return FieldError("/contact", "give contact_id or contact, not both")
        if self.contact_id is None and self.contact is None:
            return FieldError("/contact_id", "required: an existing contact's id, or contact with its fields")
        return None


class LeadCreate(LeadUpsert):
    external_id: str | None = Field(default=None, min_length=1, max_length=200)


class ContactedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


class ConvertBody(ContactedBody):
    pass


class DisqualifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=200)


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=200)


class LeadReassignBody(BaseModel):
    """``owner_id``: a user; left out, the next rep by the policy's strategy."""

    model_config = ConfigDict(extra="forbid")
    owner_id: Id | None = None


class LeadEventPublic(BaseModel):
    """One change and why: a score change (rule, points, score after), a stage change, an
    assignment (rule, team, candidates skipped and why), an SLA step."""

    id: int
    kind: str
    rule: str | None
    points: float | None
    score: float | None
    detail: dict[str, Any]
    at: UtcDateTime

    @classmethod
    def of(cls, event: LeadEvent) -> LeadEventPublic:
        return cls(id=event.id or 0, kind=event.kind, rule=event.rule, points=event.points, score=event.score,
                   detail=dict(event.detail or {}), at=event.at)


class LeadPublic(BaseModel):
    id: int
    contact_id: int
    external_id: str | None
    source: str
    attributes: dict[str, Any]
    stage: LeadStage
    score: float
    owner_id: int | None
    team_id: int | None
    policy_name: str
    policy_version: int
    task_id: int | None
    nurture_run_id: str | None
    reason: str | None
    sla_due_at: UtcDateTime | None
    sla_breaches: int
    reassignments: int
    first_touch_at: UtcDateTime | None
    first_touch_seconds: int | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    #: Every change with its explanation, oldest first (``GET /v1/leads/{id}`` only).
    events: list[LeadEventPublic] | None = None

    @classmethod
    def of(cls, lead: Lead, events: list[LeadEvent] | None = None) -> LeadPublic:
        fields = {name: getattr(lead, name) for name in cls.model_fields if name != "events"}
        fields["stage"] = LeadStage(lead.stage)
        return cls(**fields, events=None if events is None else [LeadEventPublic.of(e) for e in events])
