from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.bounded import OBJECT_LIMIT, FreeObject, Name
from api.schemas.common import Id
from followthrough.batch_enrollment import MAX_BATCH, BatchItem
from followthrough.contact_fields import serialized_size
from followthrough.errors import FieldError, ValidationFailed
from followthrough.models.runs import RunProblem, StepRecord
from followthrough.store import runs
from followthrough.store.db import as_utc
from followthrough.store.tables import Delivery, Run, RunStep


class EnrollmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: Id
    #: Free-form; at most ``FT_MAX_OBJECT_BYTES`` (16 KiB) as JSON.
    data: FreeObject = Field(default_factory=dict)


class StepPublic(BaseModel):
    step_id: str
    type: str
    state: str
    started_at: datetime | None
    finished_at: datetime | None
    due_at: datetime | None
    reason: str | None

    @classmethod
    def of(cls, row: RunStep | StepRecord) -> StepPublic:
        return cls(
            step_id=row.step_id, type=row.type, state=row.state,
            started_at=as_utc(row.started_at), finished_at=as_utc(row.finished_at),
            due_at=as_utc(row.due_at), reason=row.reason,
        )


class RunPublic(BaseModel):
    run_id: str
    kind: str
    definition: str | None
    definition_version: int | None
    contact_id: int | None
    workflow_id: str
    status: str
    reason: str | None
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    created: bool | None = None
    #: Set while the run cannot make progress (its workflow task keeps failing).
    problem: RunProblem | None = None
    steps: list[StepPublic] | None = None

    @classmethod
    def of(cls, run: Run, *, created: bool | None = None, steps: list[RunStep] | None = None,
           held: Sequence[StepRecord] = ()) -> RunPublic:
        """``held``: step records the run's workflow holds, newer than the table's (by ``seq``)."""
        merged = runs.with_held(steps, held) if steps is not None else None
        return cls(
            run_id=run.id, kind=run.kind, definition=run.definition_name,
            definition_version=run.definition_version, contact_id=run.contact_id,
            workflow_id=run.workflow_id, status=run.status, reason=run.reason, data=run.data,
            created_at=as_utc(run.created_at), updated_at=as_utc(run.updated_at),  # type: ignore[arg-type]
            ended_at=as_utc(run.ended_at), created=created, problem=runs.problem_of(run),
            steps=[StepPublic.of(s) for s in merged] if merged is not None else None,
        )


class DeliveryPublic(BaseModel):
    id: int
    key: str
    run_id: str | None
    step_id: str | None
    visit: int
    contact_id: int | None
    channel: str
    category: str
    template: str | None
    locale: str | None
    to: str | None
    #: A message to a user (an ``internal`` notification about the contact), not to the contact.
    to_user_id: int | None = None
    state: str
    provider_id: str | None
    provider_status: str | None
    reason: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, row: Delivery) -> DeliveryPublic:
        return cls(
            id=row.id or 0, key=row.key, run_id=row.run_id, step_id=row.step_id, visit=row.visit,
            contact_id=row.contact_id, channel=row.channel, category=row.category,
            template=row.template, locale=row.locale, to=row.to_address, to_user_id=row.to_user_id,
            state=row.state,
            provider_id=row.provider_id, provider_status=row.provider_status, reason=row.reason,
            attempts=row.attempts, created_at=as_utc(row.created_at),  # type: ignore[arg-type]
            updated_at=as_utc(row.updated_at), sent_at=as_utc(row.sent_at),  # type: ignore[arg-type]
        )


class BatchContact(BaseModel):
    """One contact of a batch: ``contact_id`` or ``external_id`` (exactly one), and its own
    data, merged over the batch's shared ``data`` (its keys win)."""

    model_config = ConfigDict(extra="forbid")

    contact_id: Id | None = None
    external_id: Name | None = Field(default=None, min_length=1)
    #: At most ``FT_MAX_OBJECT_BYTES`` as JSON, alone and merged over the shared data.
    data: FreeObject = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_id(self) -> BatchContact:
        if (self.contact_id is None) == (self.external_id is None):
            raise ValueError("give exactly one of contact_id and external_id")
        return self


class BatchEnrollmentCreate(BaseModel):
    """Up to 1,000 contacts (``MAX_BATCH``) enrolled in one request; the whole body stays under
    ``FT_MAX_BODY_BYTES`` (256 KiB: about 260 bytes a contact at 1,000 contacts)."""

    model_config = ConfigDict(extra="forbid")

    contacts: list[BatchContact] = Field(min_length=1, max_length=MAX_BATCH)
    #: Shared by every contact; at most ``FT_MAX_OBJECT_BYTES`` as JSON.
    data: FreeObject = Field(default_factory=dict)

    def items(self) -> list[BatchItem]:
        """Each contact with its merged data; a 422 naming every contact whose merged data is
        over ``FT_MAX_OBJECT_BYTES`` (each part alone was checked by the schema)."""
        limit = OBJECT_LIMIT.get()
        items, errors = [], []
        for index, contact in enumerate(self.contacts):
            data = {**self.data, **contact.data}
            if contact.data and self.data and (size := serialized_size(data)) > limit:
                errors.append(FieldError(f"/contacts/{index}/data", f"merged over the shared data "
                                         f"it is {size} bytes as JSON; the limit is {limit} bytes"))
            items.append(BatchItem(contact.contact_id, contact.external_id, data))
        if errors:
            raise ValidationFailed("The request has invalid fields.", errors=errors)
        return items


class BatchProblem(BaseModel):
    """Why one contact was not enrolled: the problem a single enrollment would have answered."""

    status: int
    code: str
    detail: str
    errors: list[dict[str, str]]


class BatchOutcome(BaseModel):
    #: The contact's place in the request's ``contacts``.
    index: int
    contact_id: int | None
    external_id: str | None
    #: ``created`` (a new run), ``existing`` (its active run, unchanged) or ``failed``.
    outcome: str
    run_id: str | None
    workflow_id: str | None
    problem: BatchProblem | None


class BatchSummary(BaseModel):
    total: int
    created: int
    existing: int
    failed: int


class BatchEnrollmentResult(BaseModel):
    """One answer per contact, in the request's order, and the counts."""

    items: list[BatchOutcome]
    summary: BatchSummary
