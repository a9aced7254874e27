"""Closed vocabularies shared by the code, the API, the docs and the database."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"


class Category(StrEnum):
    TRANSACTIONAL = "transactional"
    SERVICE = "service"
    SALES = "sales"
    MARKETING = "marketing"


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CONVERTED = "converted"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    FAILED = "failed"


ACTIVE_RUN_STATUSES = frozenset({RunStatus.RUNNING})


class StepState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    DONE = "done"
    SENT = "sent"
    DEFERRED = "deferred"
    SKIPPED = "skipped"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


class LedgerState(StrEnum):
    """Delivery ledger row state. ``retrying``: a transient error, known not sent."""

    PENDING = "pending"
    RETRYING = "retrying"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    BOUNCED = "bounced"
    UNDELIVERED = "undelivered"
    UNCERTAIN = "uncertain"
    SKIPPED = "skipped"
    DEFERRED = "deferred"  # the contact policy said "not now"; the workflow asks again later


#: Ledger outcome -> the state a send step shows on its run.
STEP_STATE_OF_LEDGER = {
    LedgerState.SENT: StepState.SENT,
    LedgerState.DELIVERED: StepState.SENT,
    LedgerState.SKIPPED: StepState.SKIPPED,
    LedgerState.FAILED: StepState.FAILED,
    LedgerState.BOUNCED: StepState.FAILED,
    LedgerState.UNDELIVERED: StepState.FAILED,
    LedgerState.UNCERTAIN: StepState.UNCERTAIN,
}


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    REP = "rep"


class EventKind(StrEnum):
    REPLY = "reply"


class TaskKind(StrEnum):
    CALL = "call"
    MEETING = "meeting"
    EMAIL = "email"
    TODO = "todo"


class TaskPriority(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class TaskState(StrEnum):
    """A task's closed set of states; ``done`` and ``cancelled`` are final."""

    OPEN = "open"
    SNOOZED = "snoozed"
    OVERDUE = "overdue"
    DONE = "done"
    CANCELLED = "cancelled"


FINAL_TASK_STATES = frozenset({TaskState.DONE, TaskState.CANCELLED})


class NotifyChannel(StrEnum):
    """The channels on which a user (a rep, a manager) may be notified."""

    SMS = "sms"
    EMAIL = "email"


class Scope(StrEnum):
    """What a role may see of contacts and their runs, timelines, deliveries and holds:
    those it owns, those of its teams' members, or all."""

    OWNED = "owned"
    TEAM = "team"
    ALL = "all"


class LeadStage(StrEnum):
    """A lead's closed set of stages; ``converted``, ``disqualified`` and ``closed`` are final."""

    NEW = "new"
    NURTURING = "nurturing"
    QUALIFIED = "qualified"
    ASSIGNED = "assigned"
    CONTACTED = "contacted"
    CONVERTED = "converted"
    DISQUALIFIED = "disqualified"
    CLOSED = "closed"


FINAL_LEAD_STAGES = frozenset({LeadStage.CONVERTED, LeadStage.DISQUALIFIED, LeadStage.CLOSED})
