"""Tickets: open, the changes, and the public shape (with the conversation, the events and the
clocks' business time left)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.bounded import NAME_MAX, TEXT_MAX
from api.schemas.common import Id, UtcDateTime
from followthrough.models.tickets import TicketStatus
from followthrough.store.tables import Ticket, TicketEvent, TicketMessage
from followthrough.tickets.policy import Priority

#: An agent's answer may be longer than a note field elsewhere: a support reply.
RESPONSE_MAX = 20000


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: Id
    #: The channel the customer used; answers go back on it (``api``: by email).
    channel: Literal["email", "sms", "api"] = "api"
    subject: str = Field(default="", max_length=300)
    text: str = Field(min_length=1, max_length=RESPONSE_MAX)
    #: Set instead of what the policy's classification would say.
    priority: Priority | None = None
    category: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")


class ResponseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=RESPONSE_MAX)
    #: An internal note: recorded on the ticket, never sent, no clock moves.
    internal: bool = False
    #: The status after the answer (default: ``open``; e.g. ``waiting_on_customer``).
    status: Literal["open", "waiting_on_customer", "on_hold"] | None = None


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee_id: Id


class PriorityBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: Priority


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "waiting_on_customer", "on_hold"]
    note: str | None = Field(default=None, max_length=TEXT_MAX)


class HoldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=TEXT_MAX)


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The resolution note (the customer's notice shows it).
    note: str = Field(min_length=1, max_length=TEXT_MAX)


class ReopenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="reopened", min_length=1, max_length=NAME_MAX)


class MessagePublic(BaseModel):
    id: int
    direction: str
    author_id: int | None
    channel: str | None
    body: str
    created_at: UtcDateTime

    @classmethod
    def of(cls, row: TicketMessage) -> MessagePublic:
        return cls(id=row.id or 0, direction=row.direction, author_id=row.author_id, channel=row.channel,
                   body=row.body, created_at=row.created_at)


class EventPublic(BaseModel):
    kind: str
    detail: dict[str, Any]
    at: UtcDateTime

    @classmethod
    def of(cls, row: TicketEvent) -> EventPublic:
        return cls(kind=row.kind, detail=dict(row.detail or {}), at=row.at)


class ClockPublic(BaseModel):
    #: Business seconds left (0 once breached); None: stopped.
    time_left_seconds: int | None
    #: When the budget runs out (None: paused or stopped).
    due_at: UtcDateTime | None


class TicketPublic(BaseModel):
    id: int
    contact_id: int
    channel: str
    subject: str
    status: TicketStatus
    priority: str
    category: str | None
    team: str | None
    team_id: int | None
    assignee_id: int | None
    policy_name: str
    policy_version: int
    first_response_due_at: UtcDateTime | None
    resolution_due_at: UtcDateTime | None
    first_response_at: UtcDateTime | None
    resolved_at: UtcDateTime | None
    resolution_note: str | None
    closed_at: UtcDateTime | None
    reopened: int
    csat: int | None
    created_at: UtcDateTime
    #: Only on ``GET /v1/tickets/{id}``: the conversation, the events and the clocks.
    messages: list[MessagePublic] | None = None
    events: list[EventPublic] | None = None
    clocks: dict[str, ClockPublic] | None = None

    @classmethod
    def of(cls, row: Ticket, team: str | None) -> TicketPublic:
        return cls(id=row.id or 0, contact_id=row.contact_id, channel=row.channel, subject=row.subject,
                   status=TicketStatus(row.status), priority=row.priority, category=row.category, team=team,
                   team_id=row.team_id, assignee_id=row.assignee_id, policy_name=row.policy_name,
                   policy_version=row.policy_version, first_response_due_at=row.first_response_due_at,
                   resolution_due_at=row.resolution_due_at, first_response_at=row.first_response_at,
                   resolved_at=row.resolved_at, resolution_note=row.resolution_note, closed_at=row.closed_at,
                   reopened=row.reopened, csat=row.csat, created_at=row.created_at)
