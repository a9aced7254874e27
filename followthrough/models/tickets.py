"""Tickets: the workflow's one state, its start input, the update and signal inputs and the
activity inputs (one versionable type each, with defaults so fields can be added)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from followthrough.calendar import PinnedHolidays
from followthrough.tickets.sla import SlaState


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"


#: Statuses whose SLA clocks are paused (the customer or a third party has the ball).
PAUSED_STATUSES = frozenset({TicketStatus.WAITING_ON_CUSTOMER, TicketStatus.ON_HOLD})
#: Statuses of a ticket still being worked.
OPEN_STATUSES = frozenset({TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.WAITING_ON_CUSTOMER,
                           TicketStatus.ON_HOLD})



class TicketEntity(BaseModel):
    """The ticket workflow's whole state: plain data (ids, clocks), carried over continue-as-new."""

    ticket_id: int
    contact_id: int
    #: The channel answers go out on (``email`` or ``sms``; an API ticket answers by email).
    channel: str
    status: TicketStatus = TicketStatus.NEW
    priority: str
    category: str | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    #: The intake's time: the clocks count from it (not from the workflow's first task).
    opened_at: datetime | None = None
    #: The SLA clocks (``followthrough.tickets.sla``); None until the workflow starts them.
    sla: SlaState | None = None
    #: Ladder keys fired (``sla.due_key``): nothing fires twice.
    fired: list[str] = Field(default_factory=list)
    #: Who each escalation tier told (``<target>/<round>/<tier>``): the breach names them.
    told: dict[str, list[int]] = Field(default_factory=dict)
    resolved_at: datetime | None = None
    resolutions: int = 0
    survey_sent: bool = False
    score: int | None = None
    hold: bool = False
    #: Provider ids of the customer's messages seen (a retried signal counts once).
    seen: list[str] = Field(default_factory=list)


class TicketInput(BaseModel):
    entity: TicketEntity
    #: The pinned SLA policy (its published version's document) and its calendars' documents.
    policy: dict[str, Any]
    calendars: dict[str, dict[str, Any]] = Field(default_factory=dict)
    holidays: dict[str, PinnedHolidays] = Field(default_factory=dict)
    history_limit: int | None = None


class TicketView(BaseModel):
    ticket_id: int
    status: TicketStatus
    priority: str
    assignee_id: int | None = None
    #: Business time left per running or paused clock, in seconds.
    time_left: dict[str, int] = Field(default_factory=dict)
    deadlines: dict[str, datetime | None] = Field(default_factory=dict)


class TicketResult(BaseModel):
    status: TicketStatus
    score: int | None = None


# -- updates and signals ------------------------------------------------------------------

class RespondInput(BaseModel):
    """An agent's answer (``message_id``: its ticket_messages row) or an internal note."""

    message_id: int
    author_id: int | None = None
    internal: bool = False
    #: The status after the answer (e.g. ``waiting_on_customer``); None: ``open``.
    status: TicketStatus | None = None


class AssignInput(BaseModel):
    assignee_id: int


class PriorityInput(BaseModel):
    priority: str


class StatusInput(BaseModel):
    status: TicketStatus
    note: str | None = None


class ResolveInput(BaseModel):
    note: str = ""


class ReopenInput(BaseModel):
    reason: str = "reopened"


class CustomerMessage(BaseModel):
    """The customer wrote on the ticket (``message_key``: the provider's id, deduplicated)."""

    message_key: str
    message_id: int | None = None


class SurveyAnswer(BaseModel):
    score: int = Field(ge=1, le=5)
    via: str = "sms"


class CalendarChanged(BaseModel):
    """A calendar the ticket's clocks count on was edited: its new document."""

    name: str
    document: dict[str, Any]


# -- activities ---------------------------------------------------------------------------

class TicketSync(BaseModel):
    ticket_id: int
    status: TicketStatus
    priority: str
    assignee_id: int | None = None
    deadlines: dict[str, datetime | None] = Field(default_factory=dict)
    first_response_at: datetime | None = None
    first_response_seconds: int | None = None
    resolved_at: datetime | None = None
    resolution_seconds: int | None = None
    closed_at: datetime | None = None
    reopened: int = 0
    csat: int | None = None
    resolution_note: str | None = None
    #: ticket_events to record with the row (each with a key: a retry records it once).
    events: list[TicketEventIn] = Field(default_factory=list)


class TicketEventIn(BaseModel):
    kind: str
    key: str
    detail: dict[str, Any] = Field(default_factory=dict)
    at: datetime | None = None


class TicketDataInput(BaseModel):
    ticket_id: int
    #: ``customer`` (ack, response, resolved, survey) or ``people`` (escalation, warning).
    audience: Literal["customer", "people"] = "customer"
    message_id: int | None = None
    #: Escalation recipients to resolve (``assignee``, ``team_manager``, user ids).
    notify: list[str | int] = Field(default_factory=list)
    survey: bool = False


class TicketData(BaseModel):
    data: dict[str, Any] = Field(default_factory=dict)
    #: The recipients ``notify`` named (users, deduplicated, in order).
    user_ids: list[int] = Field(default_factory=list)
    #: The Message-ID of the customer's latest email (replies thread under it).
    thread: str | None = None


class HoldInput(BaseModel):
    ticket_id: int
    place: bool


TicketSync.model_rebuild()
