"""The tasks table: written before a task's workflow starts, kept current by that workflow."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from followthrough import ids
from followthrough.errors import NotFound
from followthrough.models.tasks import TaskSync
from followthrough.models.vocab import FINAL_TASK_STATES, TaskState
from followthrough.store.db import as_utc
from followthrough.store.tables import Task, utcnow

#: States in which a task still waits for its owner.
OPEN_STATES = (TaskState.OPEN, TaskState.SNOOZED, TaskState.OVERDUE)


def create(session: Session, fields: dict[str, Any]) -> Task:
    """Insert an open task and name its workflow (``task-<id>``)."""
    task = Task(state=TaskState.OPEN, workflow_id="", **fields)
    session.add(task)
    session.flush()
    task.workflow_id = ids.task_workflow_id(task.id or 0)
    session.add(task)
    session.flush()
    return task


def get(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


def find(session: Session, task_id: int) -> Task | None:
    """The task, or None (also for an id no row can have)."""
    return session.get(Task, task_id) if 1 <= task_id < 2**31 else None


def open_due_between(session: Session, owner_id: int, start: datetime, end: datetime) -> list[Task]:
    """The owner's open tasks due in ``[start, end)``, in time order (the daily brief)."""
    query = (select(Task).where(Task.owner_id == owner_id, col(Task.state).in_(OPEN_STATES),
                                col(Task.due_at) >= start, col(Task.due_at) < end)
             .order_by(col(Task.due_at), col(Task.id)))
    return list(session.exec(query))


def open_overdue(session: Session, owner_id: int, before: datetime, limit: int = 50) -> list[Task]:
    """The owner's open tasks due before ``before``, the oldest first (the daily brief)."""
    query = (select(Task).where(Task.owner_id == owner_id, col(Task.state).in_(OPEN_STATES),
                                col(Task.due_at) < before)
             .order_by(col(Task.due_at), col(Task.id)).limit(limit))
    return list(session.exec(query))


def by_run_key(session: Session, run_key: str) -> Task | None:
    """The task a sequence's ``task`` step made (``<run id>:<step id>:<visit>``), if any."""
    return session.exec(select(Task).where(Task.run_key == run_key)).first()


def list_page(session: Session, *, owner_id: int | None = None, state: TaskState | None = None,
              due_before: datetime | None = None, after: int | None = None, limit: int = 50,
              owners: frozenset[int] | None = None) -> list[Task]:
    """Oldest first by id; the cursor is the last id seen. ``owners``: only these users' tasks
    (a manager's scope; None: anyone's)."""
    query = select(Task).order_by(col(Task.id))
    if owners is not None:
        query = query.where(col(Task.owner_id).in_(sorted(owners)))
    if owner_id is not None:
        query = query.where(Task.owner_id == owner_id)
    if state is not None:
        query = query.where(Task.state == state)
    if due_before is not None:
        query = query.where(col(Task.due_at) < due_before)
    if after is not None:
        query = query.where(col(Task.id) > after)
    return list(session.exec(query.limit(limit)))


def sync(session: Session, change: TaskSync) -> Task:
    """Write the fields the workflow owns, as given: a retry writes the same values again."""
    task = get(session, change.task_id)
    task.state = change.state
    task.owner_id = change.owner_id
    task.due_at = change.due_at
    task.snoozed_until = change.snoozed_until
    task.ics_sequence = change.ics_sequence
    task.outcome = change.outcome
    task.note = change.note
    task.escalated_at = change.escalated_at
    now = utcnow()
    if change.state in FINAL_TASK_STATES and task.closed_at is None:
        task.closed_at = now
    task.updated_at = now
    session.add(task)
    session.flush()
    return task


def overdue_in_window(session: Session, owner_id: int, window: datetime) -> list[Task]:
    """The owner's overdue tasks told to their manager at the end of ``window``, by due time."""
    query = (select(Task).where(Task.owner_id == owner_id, Task.state == TaskState.OVERDUE,
                                Task.escalated_at == window)
             .order_by(col(Task.due_at), col(Task.id)))
    return list(session.exec(query))


def remind_before(task: Task) -> timedelta:
    return timedelta(seconds=task.remind_before)


def due_at(task: Task) -> datetime:
    return as_utc(task.due_at)  # type: ignore[return-value]


def follower(session: Session, task_id: int) -> Task | None:
    """The occurrence created after ``task_id`` (a recurring task's next one), if any."""
    return session.exec(select(Task).where(Task.previous_id == task_id)).first()


def series_start(session: Session, task: Task) -> datetime:
    """The due time of the first task of ``task``'s series."""
    first = task
    while first.previous_id is not None:
        first = get(session, first.previous_id)
    return due_at(first)
