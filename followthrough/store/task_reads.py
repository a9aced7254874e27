"""Reads of the ``tasks`` table for the daily brief, the action pages and rep replies.

Merge seam: written against the tasks table's contract (id, owner_id, contact_id, kind, title,
due_at, state) as a lightweight table clause, so this module neither defines nor depends on the
``Task`` model; once the tasks store lands, these become calls to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, column, select, table
from sqlmodel import Session

from followthrough.store.db import as_utc

TASKS = table(
    "tasks",
    column("id", Integer), column("owner_id", Integer), column("contact_id", Integer),
    column("kind", String), column("title", String), column("due_at", DateTime(timezone=True)),
    column("state", String),
)
#: States in which a task still waits for its owner.
OPEN_STATES = ("open", "snoozed", "overdue")


@dataclass(frozen=True)
class TaskLine:
    id: int
    owner_id: int
    kind: str
    title: str
    due_at: datetime
    state: str
    contact_id: int | None = None


def _lines(session: Session, query) -> list[TaskLine]:  # type: ignore[no-untyped-def]
    return [TaskLine(id=r.id, owner_id=r.owner_id, kind=r.kind, title=r.title,
                     due_at=as_utc(r.due_at), state=r.state, contact_id=r.contact_id)  # type: ignore[arg-type]
            for r in session.execute(query)]


def get(session: Session, task_id: int) -> TaskLine | None:
    if not 1 <= task_id < 2**31:
        return None
    found = _lines(session, select(TASKS).where(TASKS.c.id == task_id))
    return found[0] if found else None


def open_due_between(session: Session, owner_id: int, start: datetime, end: datetime) -> list[TaskLine]:
    """The owner's open tasks due in ``[start, end)``, in time order."""
    query = (select(TASKS).where(TASKS.c.owner_id == owner_id, TASKS.c.state.in_(OPEN_STATES),
                                 TASKS.c.due_at >= start, TASKS.c.due_at < end)
             .order_by(TASKS.c.due_at, TASKS.c.id))
    return _lines(session, query)


def overdue(session: Session, owner_id: int, before: datetime, limit: int = 50) -> list[TaskLine]:
    """The owner's open tasks due before ``before`` (the oldest first)."""
    query = (select(TASKS).where(TASKS.c.owner_id == owner_id, TASKS.c.state.in_(OPEN_STATES),
                                 TASKS.c.due_at < before)
             .order_by(TASKS.c.due_at, TASKS.c.id).limit(limit))
    return _lines(session, query)
