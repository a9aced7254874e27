"""Tasks: create, the actions, and the public shape (due time in UTC and in both zones)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas.bounded import NAME_MAX, TEXT_MAX
from api.schemas.common import Id, UtcDateTime
from followthrough.dsl.durations import parse_duration, parse_signed_duration
from followthrough.models.tasks import RelativeDue
from followthrough.models.vocab import TaskKind, TaskPriority
from followthrough.store.db import as_utc
from followthrough.store.tables import Task
from followthrough.tasks.lifecycle import MAX_SNOOZE
from followthrough.tasks.recurrence import check_rule

#: The longest reminder lead time.
MAX_REMIND_BEFORE = timedelta(days=7)
#: An instant (RFC 3339 with an offset) or relative, as the rep said it.
Due = datetime | RelativeDue


def _lead_time(value: str) -> str:
    lead = parse_signed_duration(value)
    if not timedelta(0) <= lead <= MAX_REMIND_BEFORE:
        raise ValueError(f"must be between PT0S and P{MAX_REMIND_BEFORE.days}D")
    return value


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: TaskKind
    title: str = Field(min_length=1, max_length=NAME_MAX)
    note: str | None = Field(default=None, max_length=TEXT_MAX)
    #: The contact the task is about (optional).
    contact_id: Id | None = None
    #: Default: the contact's owner.
    owner_id: Id | None = None
    due: Due = Field(examples=["2027-03-29T15:00:00+02:00",
                               {"after": "P2D", "business": True, "at": "15:00", "zone": "contact"}])
    #: How long before the due time the reminder goes out (ISO-8601, PT0S to P7D).
    remind_before: str = Field(default="PT15M", max_length=40)
    priority: TaskPriority = TaskPriority.NORMAL
    #: An RFC 5545 RRULE (``FREQ=WEEKLY;BYDAY=MO``), in the owner's zone.
    rrule: str | None = Field(default=None, max_length=500)

    @field_validator("remind_before")
    @classmethod
    def _lead(cls, value: str) -> str:
        return _lead_time(value)

    @field_validator("rrule")
    @classmethod
    def _rule(cls, value: str | None) -> str | None:
        if value is None:
            return value
        check_rule(value.removeprefix("RRULE:"))
        return value.removeprefix("RRULE:")


class CompleteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: str = Field(default="done", min_length=1, max_length=NAME_MAX)
    note: str | None = Field(default=None, max_length=TEXT_MAX)


class SnoozeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: ISO-8601, e.g. PT1H; at most 30 days.
    duration: str = Field(max_length=40, examples=["PT1H"])

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        if parse_duration(value) > MAX_SNOOZE:
            raise ValueError(f"at most P{MAX_SNOOZE.days}D")
        return value


class RescheduleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    due: Due


class ReassignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner_id: Id


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=NAME_MAX)


class LocalDue(BaseModel):
    zone: str
    #: The due time on that zone's wall clock, with its offset.
    local: datetime


class DueTimes(BaseModel):
    utc: UtcDateTime
    owner: LocalDue
    #: None: the task has no contact.
    contact: LocalDue | None = None


class TaskPublic(BaseModel):
    id: int
    owner_id: int
    contact_id: int | None
    kind: str
    title: str
    note: str | None
    priority: str
    state: str
    outcome: str | None
    rrule: str | None
    remind_before: str
    due: DueTimes
    snoozed_until: UtcDateTime | None
    #: The invitation's RFC 5545 SEQUENCE (raised on every reschedule).
    ics_sequence: int
    workflow_id: str
    #: The sequence run whose ``task`` step created the task (None: created through the API).
    run_id: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    closed_at: UtcDateTime | None

    @classmethod
    def of(cls, task: Task, owner_zone: str, contact_zone: str | None) -> TaskPublic:
        due = as_utc(task.due_at) or task.due_at  # NOT NULL: as_utc only adds the zone
        return cls(
            id=task.id or 0, owner_id=task.owner_id, contact_id=task.contact_id, kind=task.kind,
            title=task.title, note=task.note, priority=task.priority, state=task.state,
            outcome=task.outcome, rrule=task.rrule, remind_before=_iso(task.remind_before),
            due=DueTimes(utc=due, owner=_local(due, owner_zone),
                         contact=_local(due, contact_zone) if contact_zone else None),
            snoozed_until=as_utc(task.snoozed_until), ics_sequence=task.ics_sequence,
            workflow_id=task.workflow_id, run_id=task.run_id,
            created_at=as_utc(task.created_at),  # type: ignore[arg-type]
            updated_at=as_utc(task.updated_at), closed_at=as_utc(task.closed_at),  # type: ignore[arg-type]
        )


def _local(moment: datetime, zone: str) -> LocalDue:
    return LocalDue(zone=zone, local=moment.astimezone(ZoneInfo(zone)))


def _iso(seconds: int) -> str:
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minute}M" if minute else "") + (f"{second}S" if second else "")
    return text if text != "PT" else "PT0S"
