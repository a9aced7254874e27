"""Inputs and results of workflows, activities and signals (one versionable type each)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from followthrough.calendar import PinnedHolidays
from followthrough.models.contact import ContactSnapshot
from followthrough.models.tasks import Invite
from followthrough.models.vocab import Category, Channel, LedgerState, RunStatus, StepState

#: The behaviour of the sequence workflow that enrollment starts runs for: every versioned
#: change (``workflows/sequence.py``) up to ``end-with-last-send``, taken without a patch marker.
#: Raised with the next change a new run should take without one; a worker never runs a run
#: whose behaviour it does not know (the workflow task fails until a newer worker takes it).
SEQUENCE_BEHAVIOUR = 1


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
    #: Public holidays by country for the years the run may need, pinned at enrollment like
    #: the calendars (None: a run started before holidays were pinned reads the package).
    holidays: dict[str, PinnedHolidays] | None = None
    #: Where the run is, when it continues as new (None: a fresh run).
    carry: RunCarry | None = None
    #: Continue as new once the history has this many events, besides whenever Temporal
    #: suggests it (None: only then). Tests set it low; production leaves it unset.
    history_limit: int | None = None
    #: The contact as enrollment read it: the run's first snapshot, so its first decision
    #: needs no local activity to load it (None: the run loads it). Personal data: payloads
    #: are encrypted (followthrough.codec), as for ``carry``.
    contact: ContactSnapshot | None = None
    #: The workflow behaviour the run was started for (``SEQUENCE_BEHAVIOUR`` at enrollment;
    #: 0: a run started before it existed, versioned by its patch markers alone).
    behaviour: int = 0


class RunCarry(BaseModel):
    """What a run hands to its continuation: the interpreter's state, the last contact
    snapshot and the step counter, so its timeline and ledger keys go on where they were."""

    state: RunState
    contact: ContactSnapshot
    seq: int = 0
    current: str | None = None


class PinHolidaysInput(BaseModel):
    """Pin more years of public holidays for a run that lives longer than its pinned ones."""

    countries: list[str]
    first_year: int
    last_year: int


class SequenceResult(BaseModel):
    status: RunStatus
    reason: str | None = None


class DeliverInput(BaseModel):
    run_id: str
    step_id: str
    visit: int = 1
    #: The contact the message is to or about; None: a message to a user about no contact
    #: (``to_user_id`` is then set).
    contact_id: int | None = None
    channel: Channel
    template: str
    category: Category = Category.SERVICE
    fallbacks: list[Channel] = Field(default_factory=list)
    at: datetime | None = None  # the run's clock when it asked (workflow.now()); policy time
    data: dict[str, Any] = Field(default_factory=dict)
    definition_name: str | None = None
    #: The definition's ``brand``: ``data.company`` when the enrollment data has none (None: the
    #: ``FT_BRAND_NAME`` setting).
    brand: str | None = None
    #: An ``internal`` notification: the user it goes to. The door reads the address from the
    #: users table; an input never carries an address. None: the message is the contact's.
    to_user_id: int | None = None
    #: A message to a user that goes now even outside their working time or during an absence.
    urgent: bool = False
    #: A message to a user about a moment they chose (a task's due time): when it is outside
    #: their working time, the message is not held for their next working minute (absences
    #: still hold it). None: no such moment.
    chosen_at: datetime | None = None
    #: Step records the run has not written yet (``lean-bookkeeping``): a retried or slow
    #: (> 1 s) attempt writes them, so the send shows as under way; the run writes them later.
    steps: list[StepRecord] = Field(default_factory=list)
    #: Set when an input recorded before ``to_user`` existed (a retry, a replayed history)
    #: carried ``to``, an address from the run's data. The address itself is dropped on
    #: reading; the door skips such a message, so it neither reaches that address nor falls
    #: through to the contact's.
    legacy_to: bool = False
    #: An RFC 5545 invitation an email carries (a task's reminder, its cancellation).
    invite: Invite | None = None
    #: The Message-ID an email answers (a ticket's reply to the customer's mail): it goes out
    #: with ``In-Reply-To`` and ``References`` (RFC 5322 §3.6.4), so mail apps thread it.
    thread: str | None = Field(default=None, max_length=998)
    #: The end the run reaches once this send is over, unless an event or a cancel changes it
    #: first (``end-with-last-send``): a delivery that records ``sent`` also closes the step and
    #: ends the run in that transaction, and says so (``DeliverResult.ended``). None: the run
    #: goes on after this send, or its end depends on more than the send.
    end: RunEnd | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_legacy_address(cls, data: Any) -> Any:
        if isinstance(data, dict) and "to" in data:
            # Every old input has the key; only a contact's message has it null.
            data = {k: v for k, v in data.items() if k != "to"} | {"legacy_to": bool(data["to"])}
        return data

    @property
    def recipient_contact(self) -> int:
        """The contact a contact's own message goes to (``to_user_id`` unset)."""
        if self.contact_id is None:
            raise ValueError("a message to a user has no recipient contact")
        return self.contact_id

    @model_validator(mode="after")
    def _someone(self) -> DeliverInput:
        if self.contact_id is None and self.to_user_id is None:
            raise ValueError("a message goes to a contact or to a user")
        return self


class DeliverResult(BaseModel):
    key: str
    state: LedgerState
    channel: Channel | None = None  # the channel used (a fallback when the step's was not allowed)
    reason: str | None = None
    provider_id: str | None = None
    defer_until: datetime | None = None  # state ``deferred``: ask again at this time (UTC)
    uncertain_before: bool = False  # an earlier attempt of this key had an unknown outcome
    #: How many of the run's held step records (``DeliverInput.steps``, from the first) this
    #: delivery wrote: the run drops those. 0 from code that did not write them with the claim
    #: (a worker of an older version), so a run never drops records nobody wrote.
    steps_written: int = 0
    #: The delivery ended the run as ``DeliverInput.end`` said, with the send's step closed.
    #: False from code that does not (a worker of an older version): the run ends itself.
    ended: bool = False


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


class RunEnd(BaseModel):
    """How a run ends when its last send is over (``DeliverInput.end``)."""

    status: RunStatus
    reason: str | None = None
    #: The send's step record as it started; the delivery closes it with the outcome.
    step: StepRecord


class RunProblem(BaseModel):
    """Why a run cannot make progress: its workflow task keeps failing (``code`` is Temporal's
    cause, e.g. ``PAYLOADS_TOO_LARGE``), since the first failure."""

    code: str
    message: str
    since: datetime


class RunFinish(BaseModel):
    run_id: str
    status: RunStatus
    reason: str | None = None
    #: Step records not written yet, written in the same transaction (``lean-bookkeeping``).
    steps: list[StepRecord] = Field(default_factory=list)
    #: The end the run's last delivery may have written (``DeliverInput.end``): this finish
    #: replaces it (a stop or a cancel came during that send). None: only a running run ends.
    corrects: RunStatus | None = None


class StepRecords(BaseModel):
    """Step records written together in one transaction (``lean-bookkeeping``)."""

    steps: list[StepRecord]


class RunEvent(BaseModel):
    """An event delivered to a run by signal (a reply, a STOP, a custom event)."""

    kind: str
    channel: Channel | None = None
    timeline_id: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class RunState(BaseModel):
    """Where a run is; plain data, so it survives ``continue_as_new`` and a preview can copy it.
    ``visits`` counts how often each step was entered (ledger keys use it); ``events`` is what
    conditions see as ``events.<name>``; ``inbox`` holds events no ``wait_for`` consumed yet."""

    position: int = 0
    visits: dict[str, int] = Field(default_factory=dict)
    stop_reason: str | None = None
    converted: bool = False
    goal_error: str | None = None
    since_wait: int = 0
    events: dict[str, dict[str, Any]] = Field(default_factory=dict)
    inbox: list[RunEvent] = Field(default_factory=list)
    #: (kind, timeline id) of events already received: a redelivered signal is not a new event.
    seen: list[tuple[str, int]] = Field(default_factory=list)

    def enter(self, step_id: str) -> int:
        self.visits[step_id] = self.visits.get(step_id, 0) + 1
        return self.visits[step_id]


class LoadContactInput(BaseModel):
    contact_id: int
    #: Step records not written yet, written before the read (``lean-bookkeeping``).
    steps: list[StepRecord] = Field(default_factory=list)


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
