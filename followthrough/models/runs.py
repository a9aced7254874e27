"""Inputs and results of workflows, activities and signals (one versionable type each)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from followthrough.models.vocab import Category, Channel, LedgerState, RunStatus, StepState


class SequenceInput(BaseModel):
    run_id: str
    contact_id: int
    definition_name: str
    definition_version: int
    definition: dict[str, Any]  # the pinned definition document
    data: dict[str, Any] = Field(default_factory=dict)
    #: Calendar documents by name (followthrough.calendar.Calendar without "name"); they add to,
    #: and override, the built-in calendars for ``business`` waits.
    calendars: dict[str, dict[str, Any]] = Field(default_factory=dict)


class SequenceResult(BaseModel):
    status: RunStatus
    reason: str | None = None


class DeliverInput(BaseModel):
    run_id: str
    step_id: str
    visit: int = 1
    contact_id: int
    channel: Channel
    template: str
    category: Category = Category.SERVICE
    fallbacks: list[Channel] = Field(default_factory=list)
    at: datetime | None = None  # the run's clock when it asked (workflow.now()); policy time
    data: dict[str, Any] = Field(default_factory=dict)
    definition_name: str | None = None
    #: An ``internal`` notification: the user it goes to. The door reads the address from the
    #: users table; an input never carries an address. None: the message is the contact's.
    to_user_id: int | None = None
    #: Set when an input recorded before ``to_user`` existed (a retry, a replayed history)
    #: carried ``to``, an address from the run's data. The address itself is dropped on
    #: reading; the door skips such a message, so it neither reaches that address nor falls
    #: through to the contact's.
    legacy_to: bool = False

    @model_validator(mode="before")
    @classmethod
    def _drop_legacy_address(cls, data: Any) -> Any:
        if isinstance(data, dict) and "to" in data:
            # Every old input has the key; only a contact's message has it null.
            data = {k: v for k, v in data.items() if k != "to"} | {"legacy_to": bool(data["to"])}
        return data


class DeliverResult(BaseModel):
    key: str
    state: LedgerState
    channel: Channel | None = None  # the channel used (a fallback when the step's was not allowed)
    reason: str | None = None
    provider_id: str | None = None
    defer_until: datetime | None = None  # state ``deferred``: ask again at this time (UTC)
    uncertain_before: bool = False  # an earlier attempt of this key had an unknown outcome


class GiveUpInput(BaseModel):
    """The run stops asking for this message: retries ran out (``failed``), or the run was
    stopped while the message was deferred (``skipped``)."""

    key: str
    reason: str = "gave_up"
    skipped: bool = False


class StepRecord(BaseModel):
    """One step execution as the runs table shows it."""

    run_id: str
    seq: int
    step_id: str
    type: str
    state: StepState
    started_at: datetime | None = None
    finished_at: datetime | None = None
    due_at: datetime | None = None
    reason: str | None = None


class RunFinish(BaseModel):
    run_id: str
    status: RunStatus
    reason: str | None = None


class RunEvent(BaseModel):
    """An event delivered to a run by signal (a reply, a STOP, a custom event)."""

    kind: str
    channel: Channel | None = None
    timeline_id: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class LoadContactInput(BaseModel):
    contact_id: int


class SetAttributeInput(BaseModel):
    """A ``set`` step: contact attribute ``key`` becomes ``value`` (idempotent)."""

    run_id: str
    step_id: str
    contact_id: int
    key: str
    value: Any = None


class StartSequenceInput(BaseModel):
    """A ``start`` step: enroll the contact in another sequence (idempotent while that run is
    active: enrollment uses the business-key workflow id)."""

    run_id: str
    step_id: str
    contact_id: int
    definition: str
    data: dict[str, Any] = Field(default_factory=dict)


class StartSequenceResult(BaseModel):
    run_id: str | None = None
    created: bool = False
    reason: str | None = None  # why nothing was started (no such definition, not published)
