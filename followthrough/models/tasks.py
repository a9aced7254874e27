"""Tasks: the workflow's one state, its start input, the update inputs and the activity inputs
(one versionable type each, with defaults so fields can be added)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from followthrough.models.vocab import TaskKind, TaskPriority, TaskState


class RelativeDue(BaseModel):
    """A due time as the rep said it: ``{"after": "P2D", "business": true, "at": "15:00",
    "zone": "contact"}`` is "in two working days at 15:00 the client's time". The forms are the
    definition language's waits: an ISO-8601 duration, working time on a calendar, a local time."""

    model_config = ConfigDict(extra="forbid")

    after: str = Field(examples=["P2D", "PT3H"], max_length=40)
    #: Count working days (or working time, for hours) on the owner's calendar.
    business: bool = False
    #: A local time of day (HH:MM) on the day reached, in ``zone``.
    at: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    #: ``contact``, ``owner`` or an IANA zone name.
    zone: str = Field(default="owner", max_length=64)


class TaskTimings(BaseModel):
    """When an unfinished task turns overdue and when the manager hears of it, pinned at the
    start (settings ``FT_TASK_GRACE`` etc.)."""

    grace: timedelta = timedelta(minutes=30)
    escalate_after: timedelta = timedelta(hours=2)
    #: Overdue tasks of one rep reaching the manager threshold within one window are told in
    #: one message at the window's end.
    digest_window: timedelta = timedelta(minutes=15)


class TaskEntity(BaseModel):
    """The task workflow's whole state: plain data, carried over continue-as-new."""

    task_id: int
    owner_id: int
    contact_id: int | None = None
    due_at: datetime
    remind_before: timedelta = timedelta(minutes=15)
    priority: TaskPriority = TaskPriority.NORMAL
    rrule: str | None = None
    state: TaskState = TaskState.OPEN
    outcome: str | None = None
    note: str | None = None
    snoozed_until: datetime | None = None
    #: RFC 5545 SEQUENCE of the invitation; raised on every reschedule.
    sequence: int = 0
    #: The reminder round: a snooze, reschedule or reassign starts a new one (a new ledger key,
    #: so the reminder goes out again; a retry of the same round never does).
    round: int = 1
    reminded: bool = False
    #: When the round's reminder went out; later than the due time when the owner's working
    #: time or absence held it, and then the overdue clock counts from it.
    reminded_at: datetime | None = None
    overdue_reminded: bool = False
    #: The end of the digest window that tells the manager (set when the threshold passes).
    escalated_at: datetime | None = None
    digest_sent: bool = False
    #: Owners an invitation went to: a cancel (or a reassign) withdraws it from them.
    invited: list[int] = Field(default_factory=list)
    #: The sequence run whose ``task`` step created the task: told when it is done or cancelled.
    run_id: str | None = None
    #: The entity that owns the task (``lead:12``): its workflow is told likewise.
    entity: str | None = None


class TaskInput(BaseModel):
    entity: TaskEntity
    timings: TaskTimings = Field(default_factory=TaskTimings)
    #: Continue as new once the history has this many events, besides Temporal's suggestion.
    history_limit: int | None = None


class TaskResult(BaseModel):
    state: TaskState
    outcome: str | None = None
    #: A recurring task's next occurrence, created when this one was completed.
    next_task_id: int | None = None


class CompleteInput(BaseModel):
    outcome: str = Field(default="done", max_length=200)
    note: str | None = Field(default=None, max_length=4000)


class SnoozeInput(BaseModel):
    duration: timedelta


class RescheduleInput(BaseModel):
    due_at: datetime


class ReassignInput(BaseModel):
    owner_id: int


class CancelInput(BaseModel):
    reason: str | None = Field(default=None, max_length=200)


class TaskView(BaseModel):
    """What an update answers: the task's new state."""

    task_id: int
    state: TaskState
    owner_id: int
    due_at: datetime
    sequence: int
    snoozed_until: datetime | None = None
    outcome: str | None = None


class TaskSync(BaseModel):
    """The row's fields the workflow owns, written as they are (idempotent)."""

    task_id: int
    state: TaskState
    owner_id: int
    due_at: datetime
    snoozed_until: datetime | None = None
    ics_sequence: int = 0
    outcome: str | None = None
    note: str | None = None
    escalated_at: datetime | None = None


class MessageDataInput(BaseModel):
    """What a task message renders: ``reminder`` (one task) or ``digest`` (a rep's overdue
    tasks of one window, for the manager)."""

    kind: Literal["reminder", "digest"] = "reminder"
    task_id: int
    owner_id: int | None = None
    window: datetime | None = None


class MessageData(BaseModel):
    """The template data and, for the digest, its recipient (None: nobody to tell)."""

    data: dict[str, Any] = Field(default_factory=dict)
    to_user_id: int | None = None
    title: str = ""


class NextOccurrenceInput(BaseModel):
    task_id: int


class NextOccurrence(BaseModel):
    task_id: int | None = None
    due_at: datetime | None = None


class Invite(BaseModel):
    """An RFC 5545 invitation for a message to carry (email only). Its summary and description
    are the rendered subject and text, so no task text travels through the workflow's input."""

    uid: str
    sequence: int = 0
    method: Literal["REQUEST", "CANCEL"] = "REQUEST"
    starts_at: datetime
    duration: timedelta = timedelta(minutes=30)


class RunTaskInput(BaseModel):
    """A sequence's ``task`` step: create its task (once per run, step and visit)."""

    run_id: str
    step_id: str
    visit: int
    contact_id: int | None = None
    kind: TaskKind
    title: str
    note: str | None = None
    #: Relative (``RelativeDue``'s fields) or an instant already computed (``due_at``).
    due: RelativeDue | None = None
    due_at: datetime | None = None
    #: None: the contact's owner.
    owner_id: int | None = None
    priority: TaskPriority = TaskPriority.NORMAL
    #: The run's clock when the step was reached: the relative due time counts from it.
    at: datetime


class RunTaskResult(BaseModel):
    """The task (created now or by an earlier attempt), or why there is none (a skip)."""

    task_id: int | None = None
    due_at: datetime | None = None
    owner_id: int | None = None
    reason: str | None = None


class TaskEndedInput(BaseModel):
    """Tell a task's run (or owning entity's workflow) that it ended: ``task.completed`` or
    ``task.cancelled``."""

    task_id: int
    run_id: str | None = None
    entity: str | None = None
    state: TaskState
    outcome: str | None = None
