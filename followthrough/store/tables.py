"""The CRM schema (SQLModel). Times are stored in UTC; JSON columns hold free-form data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(**kw: Any) -> Any:
    return Field(sa_type=DateTime(timezone=True), **kw)  # type: ignore[call-overload]


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, unique=True, max_length=200)
    name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, index=True, max_length=320)
    phone: str | None = Field(default=None, index=True, max_length=32)
    locale: str = Field(default="en", max_length=35)
    time_zone: str = Field(default="UTC", max_length=64)
    #: Optional parts of the name (Russian names are often stored surname first in ``name``,
    #: which stays the display name): templates' ``first_name`` and salutations prefer these.
    given_name: str | None = Field(default=None, max_length=100)
    family_name: str | None = Field(default=None, max_length=100)
    #: The user who holds the relationship (the contact's rep); ``internal`` sends without an
    #: explicit user go to them.
    owner_id: int | None = Field(default=None, index=True, foreign_key="users.id")
    attributes: dict[str, Any] = _json()
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class User(SQLModel, table=True):
    """A person who works the CRM (admin, manager, rep): the API key's holder, and a recipient
    of reminders and alerts on their own channels, in their language, in their working time."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    role: str = Field(max_length=16)
    api_key_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)
    phone: str | None = Field(default=None, max_length=32)
    locale: str = Field(default="en", max_length=35)
    time_zone: str = Field(default="UTC", max_length=64)
    #: The name of a business calendar (``calendars``), read in the user's zone; None: their
    #: first team's calendar, else no working time (always at work; ``store.users.recipient``).
    calendar: str | None = Field(default=None, max_length=64)
    manager_id: int | None = Field(default=None, index=True, foreign_key="users.id")
    active: bool = Field(default=True)
    #: The channels on which the user wants to be notified, in order, e.g. ``["sms", "email"]``.
    notify_channels: list[str] = Field(default_factory=lambda: ["email"],
                                       sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _ts(default_factory=utcnow)


class Team(SQLModel, table=True):
    __tablename__ = "teams"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    manager_id: int | None = Field(default=None, index=True, foreign_key="users.id")
    calendar: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class TeamMember(SQLModel, table=True):
    __tablename__ = "team_members"

    team_id: int = Field(primary_key=True, foreign_key="teams.id")
    user_id: int = Field(primary_key=True, index=True, foreign_key="users.id")
    #: The member's share in round-robin assignment (leads, tickets).
    weight: int = Field(default=1)


class Absence(SQLModel, table=True):
    """An out-of-office period of a user: ``[starts_at, ends_at)`` in UTC."""

    __tablename__ = "user_absences"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(index=True, foreign_key="users.id")
    starts_at: datetime = _ts()
    ends_at: datetime = _ts()
    reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts(default_factory=utcnow)


class Run(SQLModel, table=True):
    """One enrollment / entity run. Written before the workflow starts; the API lists these."""

    __tablename__ = "runs"

    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(index=True, max_length=32)
    definition_name: str | None = Field(default=None, index=True, max_length=64)
    definition_version: int | None = None
    contact_id: int | None = Field(default=None, index=True, foreign_key="contacts.id")
    workflow_id: str = Field(index=True, max_length=200)
    status: str = Field(index=True, max_length=16)
    # Non-null and unique while the run is active: one active run per business key.
    active_key: str | None = Field(default=None, unique=True, max_length=200)
    reason: str | None = Field(default=None, sa_type=Text)
    data: dict[str, Any] = _json()
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)
    ended_at: datetime | None = _ts(default=None)
    #: Set while the run's workflow cannot make progress (its workflow task keeps failing):
    #: the failure's cause, its message and when it first failed. Kept by followthrough.run_watch.
    problem_code: str | None = Field(default=None, index=True, max_length=64)
    problem_message: str | None = Field(default=None, sa_type=Text)
    problem_since: datetime | None = _ts(default=None)
    #: The entity that owns the run (``lead:12``, ``ticket:7``): cancelling the entity cancels
    #: everything that names it (``followthrough.entities.cancel_owned``).
    entity: str | None = Field(default=None, index=True, max_length=40)


class Task(SQLModel, table=True):
    """A rep's promise (a call, a meeting, an email, a to-do) with its reminder. Written before
    its workflow (``task-<id>``) starts; the workflow keeps it current. The API lists these."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_owner_state_due", "owner_id", "state", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="users.id")
    contact_id: int | None = Field(default=None, index=True, foreign_key="contacts.id")
    kind: str = Field(max_length=16)
    title: str = Field(max_length=200)
    note: str | None = Field(default=None, sa_type=Text)
    due_at: datetime = _ts()
    #: Seconds before ``due_at`` the reminder goes out.
    remind_before: int = Field(default=900)
    priority: str = Field(default="normal", max_length=16)
    #: An RFC 5545 RRULE (without ``RRULE:``), read in the owner's zone.
    rrule: str | None = Field(default=None, max_length=500)
    state: str = Field(index=True, max_length=16)
    outcome: str | None = Field(default=None, max_length=200)
    #: The reminder goes out then instead of at ``due_at - remind_before`` (a snooze).
    snoozed_until: datetime | None = _ts(default=None)
    #: The RFC 5545 SEQUENCE of the task's invitation: raised on every reschedule.
    ics_sequence: int = Field(default=0)
    #: The end of the digest window in which the owner's manager is told this task is overdue.
    escalated_at: datetime | None = _ts(default=None)
    #: The occurrence this task follows (a recurring task's previous one).
    previous_id: int | None = Field(default=None, foreign_key="tasks.id")
    #: The sequence run that created the task (a ``task`` step): it hears when the task ends,
    #: and cancelling the run's work can find its tasks.
    run_id: str | None = Field(default=None, index=True, foreign_key="runs.id", max_length=40)
    #: A ``task`` step's task: ``<run id>:<step id>:<visit>``, so a retried creation finds the
    #: task it made instead of making a second one.
    run_key: str | None = Field(default=None, unique=True, max_length=200)
    #: The entity that owns the task (``lead:12``, ``ticket:7``), as on runs.
    entity: str | None = Field(default=None, index=True, max_length=40)
    workflow_id: str = Field(max_length=200)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)
    closed_at: datetime | None = _ts(default=None)


class RunStep(SQLModel, table=True):
    __tablename__ = "run_steps"
    __table_args__ = (UniqueConstraint("run_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="runs.id", index=True, max_length=40)
    seq: int
    step_id: str = Field(max_length=64)
    type: str = Field(max_length=16)
    state: str = Field(max_length=16)
    started_at: datetime | None = _ts(default=None)
    finished_at: datetime | None = _ts(default=None)
    due_at: datetime | None = _ts(default=None)
    reason: str | None = Field(default=None, sa_type=Text)


class Delivery(SQLModel, table=True):
    """The delivery ledger: one row per idempotency key, written before the provider call."""

    __tablename__ = "deliveries"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)
    run_id: str | None = Field(default=None, index=True, max_length=40)
    step_id: str | None = Field(default=None, max_length=64)
    visit: int = 1
    contact_id: int | None = Field(default=None, index=True, foreign_key="contacts.id")
    channel: str = Field(max_length=16)
    category: str = Field(max_length=16)
    template: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=35)
    to_address: str | None = Field(default=None, max_length=320)
    # A message to a user (an ``internal`` notification about this contact), not to the contact:
    # it never counts toward the contact's caps and yields. No foreign key: an unknown user is
    # recorded as a skip, and a user deleted later must not take the ledger row with it.
    # 64-bit: an id too large for ``users.id`` is still recorded (as an unknown user's).
    to_user_id: int | None = Field(default=None, sa_type=BigInteger)
    state: str = Field(index=True, max_length=16)
    provider_id: str | None = Field(default=None, index=True, max_length=200)
    provider_status: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, sa_type=Text)
    attempts: int = 0
    # The contact policy's answer, stored in the transaction that claims the row (contract 3).
    decision: str | None = Field(default=None, max_length=8)  # send | defer | skip
    # Channels that failed permanently for this message: a fallback decided later (after a
    # deferral, in a new attempt) never tries them again.
    failed_channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    decided_at: datetime | None = _ts(default=None)  # the run's clock; caps count from it
    # A ``pending`` row's attempt may still be running until then (claim + provider timeout +
    # a margin): a retry that finds it younger backs off instead of calling it ``uncertain``.
    attempt_deadline: datetime | None = _ts(default=None)
    # The worker process (``worker_processes.id``) whose attempt left the row ``pending``, and
    # that attempt's Temporal task token: once the process is known dead, a retry decides at
    # once, and a worker fails the attempt by its token so that Temporal retries it now.
    attempt_owner: str | None = Field(default=None, max_length=32)
    attempt_token: bytes | None = Field(default=None, sa_type=LargeBinary)
    defer_until: datetime | None = _ts(default=None)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)
    sent_at: datetime | None = _ts(default=None)


class WorkerProcess(SQLModel, table=True):
    """One worker process's liveness (store/liveness.py): registered at start, a beat every
    few seconds, ended when it stops or is known dead."""

    __tablename__ = "worker_processes"

    id: str = Field(primary_key=True, max_length=32)
    host: str = Field(max_length=255)
    pid: int
    # Where a pid names one process: the boot id and the pid namespace (Linux), with the
    # process's start time in clock ticks since boot (pids are reused). None elsewhere.
    machine: str | None = Field(default=None, max_length=120)
    proc_start: int | None = Field(default=None, sa_type=BigInteger)
    started_at: datetime = _ts(default_factory=utcnow)
    beat_at: datetime = _ts(default_factory=utcnow)
    ended_at: datetime | None = _ts(default=None)
    end_reason: str | None = Field(default=None, max_length=16)  # stopped | gone | silent


class TimelineEntry(SQLModel, table=True):
    """Everything sent, received and decided for a contact."""

    __tablename__ = "timeline"
    __table_args__ = (Index("ix_timeline_contact_time", "contact_id", "occurred_at"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id")
    occurred_at: datetime = _ts(default_factory=utcnow)
    kind: str = Field(max_length=48)  # message.sent, message.failed, inbound.sms, run.started...
    direction: str = Field(default="system", max_length=16)  # outbound | inbound | system
    channel: str | None = Field(default=None, max_length=16)
    run_id: str | None = Field(default=None, max_length=40)
    delivery_key: str | None = Field(default=None, max_length=200)
    summary: str = Field(default="", sa_type=Text)
    data: dict[str, Any] = _json()


class InboundMessage(SQLModel, table=True):
    """Every inbound message, matched to a contact or not; never lost."""

    __tablename__ = "inbound_messages"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    provider_id: str | None = Field(default=None, unique=True, max_length=200)
    from_address: str = Field(max_length=320)
    to_address: str | None = Field(default=None, max_length=320)
    body: str = Field(default="", sa_type=Text)
    contact_id: int | None = Field(default=None, index=True, foreign_key="contacts.id")
    matched: bool = Field(default=False, index=True)
    raw: dict[str, Any] = _json()
    received_at: datetime = _ts(default_factory=utcnow)
    # The run events this message produces, kept until every active run has been signalled:
    # a webhook retried after Temporal was down delivers them then (processed once, never lost).
    events: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    signalled_at: datetime | None = _ts(default=None)
    #: The user (a rep answering a reminder) the sender's number belongs to; such a message is
    #: never matched to a contact.
    user_id: int | None = Field(default=None, index=True, foreign_key="users.id")


class TemplateRow(SQLModel, table=True):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("channel", "name", "locale"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    name: str = Field(max_length=64)
    locale: str = Field(max_length=35)
    subject: str | None = Field(default=None, sa_type=Text)
    text: str | None = Field(default=None, sa_type=Text)
    html: str | None = Field(default=None, sa_type=Text)
    source: str = Field(default="api", max_length=16)  # api | file
    updated_at: datetime = _ts(default_factory=utcnow)


class DefinitionVersion(SQLModel, table=True):
    """A saved definition version; immutable once written. Runs pin (name, version)."""

    __tablename__ = "definitions"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, max_length=64)
    version: int
    kind: str = Field(max_length=32)
    document: dict[str, Any] = _json()
    checksum: str = Field(max_length=64)
    published_at: datetime | None = _ts(default=None)
    created_at: datetime = _ts(default_factory=utcnow)


class Consent(SQLModel, table=True):
    """An explicit consent answer per (contact, channel, category); a missing row is granted."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("contact_id", "channel", "category"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id")
    channel: str = Field(max_length=16)
    category: str = Field(max_length=16)
    granted: bool
    source: str = Field(max_length=16)  # api | keyword | unsubscribe | bounce | provider
    #: Who withdrew it, while withdrawn: a contact's own revocation (keyword, unsubscribe,
    #: provider, bounce) is kept even when staff had already revoked, so staff cannot undo it.
    revocation_source: str | None = Field(default=None, max_length=16)
    updated_at: datetime = _ts(default_factory=utcnow)


class ContactPreference(SQLModel, table=True):
    """A contact's preferred channel and "pause everything but transactional until"."""

    __tablename__ = "contact_preferences"

    contact_id: int = Field(foreign_key="contacts.id", primary_key=True)
    preferred_channel: str | None = Field(default=None, max_length=16)
    paused_until: datetime | None = _ts(default=None)
    updated_at: datetime = _ts(default_factory=utcnow)


class Suppression(SQLModel, table=True):
    """An address no message may go to on a channel (hard bounce, carrier opt-out, manual)."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=320)
    reason: str = Field(default="", sa_type=Text)
    source: str = Field(max_length=16)
    created_at: datetime = _ts(default_factory=utcnow)


class HoldRow(SQLModel, table=True):
    """"One department at a time": defer these categories to the contact until ``until``/lifted."""

    __tablename__ = "holds"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    until: datetime | None = _ts(default=None)
    reason: str = Field(default="", max_length=200)
    created_at: datetime = _ts(default_factory=utcnow)
    lifted_at: datetime | None = _ts(default=None)


class PolicySettings(SQLModel, table=True):
    """The global contact policy document (a ``PolicyConfig`` as JSON); one row, id 1."""

    __tablename__ = "policy_settings"

    id: int = Field(default=1, primary_key=True)
    document: dict[str, Any] = _json()
    updated_at: datetime = _ts(default_factory=utcnow)


class CalendarRow(SQLModel, table=True):
    """A business calendar (a ``followthrough.calendar.Calendar`` without its name, as JSON).
    Files under ``calendars/`` are seeded (source ``file``); the API's edits win (``api``)."""

    __tablename__ = "calendars"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    document: dict[str, Any] = _json()
    source: str = Field(default="api", max_length=16)  # api | file
    updated_at: datetime = _ts(default_factory=utcnow)


class ActionLink(SQLModel, table=True):
    """A one-click action link sent in a message (``task:42`` ``done``): the single-use record
    behind its signed token. ``used_at`` is set once, atomically, by the request that acts."""

    __tablename__ = "action_links"

    id: int | None = Field(default=None, primary_key=True)
    #: What the link acts on, ``<kind>:<id>`` (``task:42``; later ``ticket:7``).
    subject: str = Field(index=True, max_length=64)
    action: str = Field(max_length=32)
    #: The language of the pages the link opens: its reader's, taken when it was issued.
    locale: str = Field(default="en", max_length=35)
    created_at: datetime = _ts(default_factory=utcnow)
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(default=None)
    #: What acting did (the subject's new state, or why it was refused).
    result: str | None = Field(default=None, max_length=200)


class Lead(SQLModel, table=True):
    """A lead: a contact's interest, scored and qualified by a lead policy, routed to a rep and
    held to the first-touch SLA. Written before its workflow (``lead-<id>``) starts; the workflow
    keeps it current. The API lists these."""

    __tablename__ = "leads"
    #: ``created_at``: the lead report's cohort (``GET /v1/reports/leads?from=&to=``).
    __table_args__ = (Index("ix_leads_owner_stage", "owner_id", "stage"), Index("ix_leads_created_at", "created_at"))

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(index=True, foreign_key="contacts.id")
    #: The CRM's id: ``PUT /v1/leads/by-external-id/{id}`` never makes a second lead for it.
    external_id: str | None = Field(default=None, unique=True, max_length=200)
    source: str = Field(default="api", index=True, max_length=64)
    attributes: dict[str, Any] = _json()
    stage: str = Field(index=True, max_length=16)
    score: float = Field(default=0.0)
    #: When ``score`` was last computed (decay runs from here).
    scored_at: datetime | None = _ts(default=None)
    owner_id: int | None = Field(default=None, foreign_key="users.id")
    team_id: int | None = Field(default=None, index=True, foreign_key="teams.id")
    policy_name: str = Field(max_length=64)
    policy_version: int
    workflow_id: str = Field(max_length=200)
    #: The nurture run while the lead is nurtured.
    nurture_run_id: str | None = Field(default=None, max_length=40)
    #: The first-touch task of the current owner.
    task_id: int | None = Field(default=None, foreign_key="tasks.id")
    reason: str | None = Field(default=None, sa_type=Text)
    sla_due_at: datetime | None = _ts(default=None)
    sla_breaches: int = Field(default=0)
    reassignments: int = Field(default=0)
    qualified_at: datetime | None = _ts(default=None)
    assigned_at: datetime | None = _ts(default=None)
    #: The first touch (the SLA clock stopped); ``first_touch_seconds`` is the business time
    #: it took on the owner's calendar, for reports.
    first_touch_at: datetime | None = _ts(default=None)
    first_touch_seconds: int | None = None
    converted_at: datetime | None = _ts(default=None)
    closed_at: datetime | None = _ts(default=None)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class LeadEvent(SQLModel, table=True):
    """Why a lead is where it is: every score change (rule, points, score after), stage change,
    assignment (rule, team, candidates skipped and why) and SLA step."""

    __tablename__ = "lead_events"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(index=True, foreign_key="leads.id")
    #: score | stage | assignment | sla | nurture
    kind: str = Field(max_length=16)
    rule: str | None = Field(default=None, max_length=200)
    points: float | None = None
    score: float | None = None
    detail: dict[str, Any] = _json()
    #: A stable key of the change (the workflow's), so a retried activity records it once.
    key: str | None = Field(default=None, unique=True, max_length=200)
    at: datetime = _ts(default_factory=utcnow)


class TeamRotation(SQLModel, table=True):
    """A team's weighted round-robin state. The row is locked while an owner is picked, so
    leads (and tickets) posted at once are spread exactly by the members' weights."""

    __tablename__ = "team_rotations"

    team_id: int = Field(primary_key=True, foreign_key="teams.id")
    #: Per member (user id as a string): the current credit of the smooth weighted round robin.
    state: dict[str, Any] = _json()
    updated_at: datetime = _ts(default_factory=utcnow)


class Ticket(SQLModel, table=True):
    """A customer's request or complaint, classified and held to an SLA by an SLA policy.
    Written before its workflow (``ticket-<id>``) starts; the workflow keeps it current."""

    __tablename__ = "tickets"
    #: ``created_at``: the SLA report's cohort (``GET /v1/reports/sla?from=&to=``).
    __table_args__ = (Index("ix_tickets_team_status", "team_id", "status"),
                      Index("ix_tickets_created_at", "created_at"))

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(index=True, foreign_key="contacts.id")
    #: The channel the customer used (email | sms | api ...): answers go back on it.
    channel: str = Field(max_length=16)
    subject: str = Field(default="", max_length=300)
    status: str = Field(index=True, max_length=24)
    priority: str = Field(max_length=16)
    category: str | None = Field(default=None, max_length=64)
    team_id: int | None = Field(default=None, foreign_key="teams.id")
    assignee_id: int | None = Field(default=None, index=True, foreign_key="users.id")
    policy_name: str = Field(max_length=64)
    policy_version: int
    workflow_id: str = Field(max_length=200)
    #: The provider's id of the message that opened it: intake is idempotent on it.
    source_message_id: str | None = Field(default=None, unique=True, max_length=300)
    #: The hold the open complaint places on the contact.
    hold_id: int | None = None
    first_response_due_at: datetime | None = _ts(default=None)
    next_response_due_at: datetime | None = _ts(default=None)
    resolution_due_at: datetime | None = _ts(default=None)
    first_response_at: datetime | None = _ts(default=None)
    #: Business time to the first response and to resolution, for reports.
    first_response_seconds: int | None = None
    resolution_seconds: int | None = None
    resolved_at: datetime | None = _ts(default=None)
    resolution_note: str | None = Field(default=None, sa_type=Text)
    closed_at: datetime | None = _ts(default=None)
    reopened: int = Field(default=0)
    csat: int | None = None
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class TicketMessage(SQLModel, table=True):
    """The conversation of a ticket: the customer's messages, agents' responses (sent through
    the door) and internal notes (never sent)."""

    __tablename__ = "ticket_messages"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(index=True, foreign_key="tickets.id")
    #: in | out | note
    direction: str = Field(max_length=8)
    author_id: int | None = Field(default=None, foreign_key="users.id")
    channel: str | None = Field(default=None, max_length=16)
    body: str = Field(default="", sa_type=Text)
    #: The provider's message id (inbound) or the delivery's ledger key (outbound).
    message_key: str | None = Field(default=None, unique=True, max_length=300)
    created_at: datetime = _ts(default_factory=utcnow)


class TicketEvent(SQLModel, table=True):
    """What happened to a ticket: classification (rules that matched), status changes, clock
    changes (pause, resume, recompute with the remaining budget), warnings and breaches with
    the tier and who was told."""

    __tablename__ = "ticket_events"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(index=True, foreign_key="tickets.id")
    #: classification | status | clock | warning | breach | survey | assignment
    kind: str = Field(max_length=16)
    detail: dict[str, Any] = _json()
    key: str | None = Field(default=None, unique=True, max_length=200)
    at: datetime = _ts(default_factory=utcnow)
