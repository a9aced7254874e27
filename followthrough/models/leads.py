"""Leads: the lead workflow's state, its start input, the update inputs and the activity inputs
(one versionable type each, with defaults so fields can be added). Workflow-safe: plain data."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from followthrough.calendar import Calendar, PinnedHolidays
from followthrough.clock import SlaClock
from followthrough.models.vocab import LeadStage

#: Events the lead workflow hears besides the contact's own (replies, custom events) and its
#: ``call`` task's end (``task.completed``, from the task workflow): a message went to the
#: contact (from the delivery door), the lead's row changed (an upsert by external id).
OUTBOUND_SENT, LEAD_UPDATED = "outbound.sent", "lead.updated"


class LeadState(BaseModel):
    """The lead workflow's whole state: plain data, carried over continue-as-new."""

    lead_id: int
    contact_id: int
    #: The lead's own row in ``runs`` (kind ``lead``): the contact's events reach the lead
    #: through the same fan-out as sequences.
    run_id: str
    policy_name: str
    policy_version: int
    stage: LeadStage = LeadStage.NEW
    score: float = 0.0
    #: Points per rule as last recorded ("fit:<id>", "engagement:<event>"): a change is recorded.
    points: dict[str, float] = Field(default_factory=dict)
    #: Engagement so far, oldest first: (event name, when).
    engagement: list[tuple[str, datetime]] = Field(default_factory=list)
    #: Scoring rounds so far (each one's lead events have keys of their own).
    scored: int = 0
    #: Timeline ids of the events already counted: a redelivered event counts once.
    seen: list[int] = Field(default_factory=list)
    nurture_run_id: str | None = None
    owner_id: int | None = None
    team_id: int | None = None
    #: Owners this lead was taken from: the strategy passes them over.
    excluded: list[int] = Field(default_factory=list)
    #: Assignment rounds (the first owner is round 1, each reassignment one more).
    round: int = 0
    #: The round whose owner has been told and given a task.
    announced: int = 0
    task_id: int | None = None
    assigned_at: datetime | None = None
    #: The first-touch SLA clock of the current owner (None: not assigned, or elapsed time),
    #: the task's due time and when each ladder tier fires (``first_touch.plan``).
    clock: SlaClock | None = None
    due_at: datetime | None = None
    tier_times: list[datetime] = Field(default_factory=list)
    #: The next ladder tier of this round.
    tier: int = 0
    breaches: int = 0
    touched_at: datetime | None = None
    reason: str | None = None
    reassignments: int = 0
    #: Stage changes so far (each one's record has a key of its own).
    transitions: int = 0


class LeadInput(BaseModel):
    state: LeadState
    #: The pinned lead policy document (its ``(name, version)`` is on the state).
    policy: dict[str, Any]
    #: Continue as new once the history has this many events, besides Temporal's suggestion.
    history_limit: int | None = None


class LeadResult(BaseModel):
    stage: LeadStage
    reason: str | None = None


class LeadView(BaseModel):
    """What an update answers: the lead as it is after the change."""

    lead_id: int
    stage: LeadStage
    score: float
    owner_id: int | None = None
    task_id: int | None = None
    reason: str | None = None


class ContactedInput(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class ConvertInput(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class DisqualifyInput(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


class CloseInput(BaseModel):
    reason: str | None = Field(default=None, max_length=200)


class LeadReassignInput(BaseModel):
    """To ``owner_id``, or (None) to the next rep by the policy's strategy."""

    owner_id: int | None = None


# -- activities -------------------------------------------------------------------------


class ScoreInput(BaseModel):
    lead_id: int
    policy_name: str
    policy_version: int
    engagement: list[tuple[str, datetime]] = Field(default_factory=list)
    previous: dict[str, float] = Field(default_factory=dict)
    #: The scoring round (the keys of what it records).
    round: int
    at: datetime
    #: What set this round off (an event's name, "intake", "lead.updated").
    cause: str = "intake"


class ScoreOutput(BaseModel):
    score: float
    stage: Literal["qualified", "nurturing", "disqualified"]
    points: dict[str, float] = Field(default_factory=dict)
    disqualified_by: str | None = None


class StageChange(BaseModel):
    """Write the lead's row as the workflow has it, and record the stage change (keyed)."""

    lead_id: int
    key: str
    stage: LeadStage
    previous: LeadStage | None = None
    at: datetime
    reason: str | None = None
    owner_id: int | None = None
    team_id: int | None = None
    task_id: int | None = None
    nurture_run_id: str | None = None
    sla_due_at: datetime | None = None
    sla_breaches: int = 0
    reassignments: int = 0
    #: Business seconds from assignment to the first touch, when this change is that touch.
    first_touch_seconds: int | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class AssignInput(BaseModel):
    lead_id: int
    policy_name: str
    policy_version: int
    round: int
    at: datetime
    exclude: list[int] = Field(default_factory=list)
    #: A person chosen by a ``reassign`` update (None: the strategy picks).
    owner_id: int | None = None


class AssignOutput(BaseModel):
    owner_id: int | None = None
    team_id: int | None = None
    wait_until: datetime | None = None
    explanation: dict[str, Any] = Field(default_factory=dict)
    #: The owner's first-touch calendar (None: elapsed time) and its pinned holidays.
    calendar: Calendar | None = None
    holidays: dict[str, PinnedHolidays] | None = None


class TouchTaskInput(BaseModel):
    """Create the owner's ``call`` task (once per round) or cancel it."""

    lead_id: int
    contact_id: int
    owner_id: int
    round: int
    due_at: datetime
    at: datetime


class TouchTaskOutput(BaseModel):
    task_id: int | None = None
    reason: str | None = None


class CancelTaskInput(BaseModel):
    task_id: int
    reason: str = ""


class LeadMessageInput(BaseModel):
    """What a message about the lead shows: ``assigned`` (to the owner) or ``breach`` (to the
    owner's manager)."""

    kind: Literal["assigned", "breach"] = "assigned"
    lead_id: int
    owner_id: int | None = None
    tier: int = 0


class LeadMessage(BaseModel):
    data: dict[str, Any] = Field(default_factory=dict)
    #: The recipient (None: nobody to tell, e.g. an owner without a manager).
    to_user_id: int | None = None


class NurtureInput(BaseModel):
    lead_id: int
    contact_id: int
    sequence: str


class NurtureOutput(BaseModel):
    run_id: str | None = None
    reason: str | None = None


class CancelRunInput(BaseModel):
    run_id: str
    reason: str = ""


class CascadeInput(BaseModel):
    """Cancel every run and task that names ``entity`` (``lead:<id>``)."""

    entity: str
    reason: str = ""


class CascadeOutput(BaseModel):
    runs: list[str] = Field(default_factory=list)
    tasks: list[int] = Field(default_factory=list)


class LeadEventInput(BaseModel):
    """One SLA or assignment step, recorded once (keyed)."""

    lead_id: int
    key: str
    kind: str
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)


class LeadStepInput(BaseModel):
    """A sequence's ``lead`` step: hand the contact to qualification (once per run, step and
    visit)."""

    run_id: str
    step_id: str
    visit: int
    contact_id: int
    source: str = "sequence"
    attributes: dict[str, Any] = Field(default_factory=dict)


class LeadStepResult(BaseModel):
    """The lead the contact was handed to (new or open), or why there is none."""

    lead_id: int | None = None
    created: bool = False
    reason: str | None = None
