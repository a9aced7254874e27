"""A task's lifecycle, pure: what the task workflow does next, and which actions its state
allows. The workflow only carries these decisions out (timers, activities); a test runs them
without a server.

States: ``open`` -> (reminder) -> ``overdue`` after due + grace; ``snoozed`` until the snooze
ends; ``done`` and ``cancelled`` are final. Every action is refused in a final state; the
reason names the state, and the API answers 409 with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from followthrough.models.tasks import TaskEntity, TaskTimings
from followthrough.models.vocab import FINAL_TASK_STATES, TaskState

Action = Literal["complete", "snooze", "reschedule", "reassign", "cancel"]
ACTIONS: tuple[Action, ...] = ("complete", "snooze", "reschedule", "reassign", "cancel")
#: The longest snooze: a task snoozed further should be rescheduled.
MAX_SNOOZE = timedelta(days=30)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Next:
    """What the workflow does next: at ``at``, ``kind`` (``idle``: only an action moves it on;
    ``end``: the task is final)."""

    kind: Literal["remind", "overdue", "escalate", "digest", "idle", "end"]
    at: datetime | None = None


def effective_due(entity: TaskEntity) -> datetime:
    """The due time the overdue clock counts from: a snooze past the due time moves it, and so
    does a reminder the owner's working time or absence held past it (the owner gets the grace
    period after hearing of the task, not an "overdue" with the reminder)."""
    candidates = [entity.due_at, entity.snoozed_until, entity.reminded_at]
    return max(c for c in candidates if c is not None)


def reminder_at(entity: TaskEntity) -> datetime:
    return entity.snoozed_until or entity.due_at - entity.remind_before


def digest_window_end(moment: datetime, window: timedelta) -> datetime:
    """The end of the digest window ``moment`` falls in (strictly after it): every task of a rep
    reaching the threshold in one window is told in one message at its end."""
    step = window.total_seconds()
    index = int((moment - _EPOCH).total_seconds() // step) + 1
    return _EPOCH + timedelta(seconds=index * step)


def plan(entity: TaskEntity, timings: TaskTimings) -> Next:
    if entity.state in FINAL_TASK_STATES:
        return Next("end")
    if not entity.reminded:
        return Next("remind", reminder_at(entity))
    due = effective_due(entity)
    if entity.state != TaskState.OVERDUE:
        return Next("overdue", due + timings.grace)
    if entity.escalated_at is None:
        return Next("escalate", due + timings.escalate_after)
    if not entity.digest_sent:
        return Next("digest", entity.escalated_at)
    return Next("idle")


# -- what carrying out a step changes ------------------------------------------------------

def reminded(entity: TaskEntity, *, invited: bool, at: datetime | None = None) -> TaskEntity:
    """The round's reminder went out (``invited``: with an invitation to the owner; ``at``:
    when, which the overdue clock counts from when it is past the due time)."""
    owners = entity.invited + [entity.owner_id] if invited and entity.owner_id not in entity.invited else entity.invited
    state = TaskState.OPEN if entity.state == TaskState.SNOOZED else entity.state
    return entity.model_copy(update={"reminded": True, "reminded_at": at, "invited": owners, "state": state})


def turned_overdue(entity: TaskEntity) -> TaskEntity:
    return entity.model_copy(update={"state": TaskState.OVERDUE, "overdue_reminded": True})


def escalated(entity: TaskEntity, at: datetime, timings: TaskTimings) -> TaskEntity:
    return entity.model_copy(update={"escalated_at": digest_window_end(at, timings.digest_window)})


def digest_sent(entity: TaskEntity) -> TaskEntity:
    return entity.model_copy(update={"digest_sent": True})


# -- actions ------------------------------------------------------------------------------

def refusal(entity: TaskEntity, action: Action, now: datetime, *, duration: timedelta | None = None,
            due_at: datetime | None = None, owner_id: int | None = None) -> str | None:
    """Why ``action`` is not allowed now (None: it is). The update validators ask this before
    anything is written."""
    if entity.state in FINAL_TASK_STATES:
        return f"task {entity.task_id} is {entity.state}; {action} is not allowed"
    if action == "snooze" and duration is not None and not timedelta(0) < duration <= MAX_SNOOZE:
        return f"a snooze lasts more than 0 and at most {MAX_SNOOZE.days} days"
    if action == "reschedule" and due_at is not None:
        if due_at <= now:
            return "the new due time is already past"
        if due_at == entity.due_at:
            return "the task is already due then"
    if action == "reassign" and owner_id == entity.owner_id:
        return f"task {entity.task_id} is already owned by user {owner_id}"
    return None


def complete(entity: TaskEntity, outcome: str, note: str | None) -> TaskEntity:
    return entity.model_copy(update={"state": TaskState.DONE, "outcome": outcome,
                                     "note": note if note is not None else entity.note})


def cancel(entity: TaskEntity) -> TaskEntity:
    return entity.model_copy(update={"state": TaskState.CANCELLED})


def snooze(entity: TaskEntity, now: datetime, duration: timedelta) -> TaskEntity:
    """The reminder goes out again after ``duration``; an overdue task is open again."""
    return _new_round(entity, state=TaskState.SNOOZED, snoozed_until=now + duration)


def reschedule(entity: TaskEntity, due_at: datetime) -> TaskEntity:
    """A new due time: a new round, the invitation's SEQUENCE raised (RFC 5545 §3.8.7.4)."""
    return _new_round(entity, state=TaskState.OPEN, due_at=due_at, snoozed_until=None,
                      sequence=entity.sequence + 1)


def reassign(entity: TaskEntity, owner_id: int) -> TaskEntity:
    """Another owner: they get the reminder of a new round (now, if its time has passed)."""
    state = TaskState.OPEN if entity.state == TaskState.SNOOZED else entity.state
    return _new_round(entity, state=state, owner_id=owner_id)


def _new_round(entity: TaskEntity, **changes: object) -> TaskEntity:
    state = changes.get("state", entity.state)
    restart = state != TaskState.OVERDUE
    update: dict[str, object] = {"round": entity.round + 1, "reminded": False, "reminded_at": None, **changes}
    if restart:
        update |= {"overdue_reminded": False, "escalated_at": None, "digest_sent": False}
    return entity.model_copy(update=update)
