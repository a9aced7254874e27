"""Test data for tasks: people and contacts in the store, tasks through the service, and the
invitation read back from a captured email."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from icalendar import Calendar
from sqlalchemy import Engine
from temporalio.client import Client

from channels.outbox import OutboxHandle
from channels.outbox.store import Capture
from followthrough.models.tasks import RelativeDue, TaskSync
from followthrough.models.vocab import TaskKind, TaskState
from followthrough.settings import Settings
from followthrough.store import contacts, tasks, users
from followthrough.store.db import session_scope
from followthrough.store.tables import Task
from followthrough.tasks import service
from followthrough.tasks.service import TaskDraft


def person(engine: Engine, name: str, *, role: str = "rep", manager_id: int | None = None,
           time_zone: str = "Europe/Budapest", locale: str = "en") -> int:
    with session_scope(engine) as session:
        user, _key = users.create(session, name=name, email=f"{name.lower()}@example.test", role=role)
        user.time_zone, user.locale, user.manager_id = time_zone, locale, manager_id
        session.add(user)
        session.flush()
        return user.id  # type: ignore[return-value]


def contact(engine: Engine, owner_id: int | None = None, **fields: Any) -> int:
    values = {"name": "Анна Иванова", "email": "anna@example.test", "phone": "+79990001122",
              "locale": "ru", "time_zone": "Europe/Moscow", "owner_id": owner_id, **fields}
    with session_scope(engine) as session:
        return contacts.create(session, values).id  # type: ignore[return-value]


async def new_task(engine: Engine, client: Client, settings: Settings, now: datetime,
                   due: datetime | RelativeDue, **fields: Any) -> Task:
    draft = TaskDraft(kind=fields.pop("kind", TaskKind.CALL), title=fields.pop("title", "Call back about the quote"),
                      due=due, **fields)
    return await service.create(engine, client, settings, draft, now)


def stored_task(engine: Engine, owner_id: int, title: str, due_at: datetime,
                state: TaskState = TaskState.OPEN, kind: TaskKind = TaskKind.CALL) -> int:
    """A task row in ``state`` as its workflow would have left it (the store's own ``create``
    and ``sync``), without a workflow: for readers of the table (the daily brief), which need
    tasks already overdue or closed, and no reminder of their own going out meanwhile."""
    with session_scope(engine) as session:
        task = tasks.create(session, {"owner_id": owner_id, "kind": kind, "title": title, "due_at": due_at})
        assert task.id is not None
        if state != TaskState.OPEN:
            tasks.sync(session, TaskSync(task_id=task.id, state=state, owner_id=owner_id, due_at=due_at))
        return task.id


def task_row(engine: Engine, task_id: int) -> tuple[str, str | None, str | None, bool]:
    """The task's state, outcome, note, and whether it is snoozed, as its workflow wrote them."""
    with session_scope(engine) as session:
        task = session.get(Task, task_id)
        assert task is not None, f"task {task_id} does not exist"
        return str(task.state), task.outcome, task.note, task.snoozed_until is not None


def next_quarter(moment: datetime) -> datetime:
    """The first quarter hour after ``moment`` (digest windows are aligned to them)."""
    base = moment.replace(minute=0, second=0, microsecond=0)
    return base + timedelta(minutes=15 * (moment.minute // 15 + 1))


def emails_to(outbox: OutboxHandle, address: str) -> list[Capture]:
    """Emails to ``address``, oldest first."""
    return list(reversed(outbox.store.list(channel="email", to=address, limit=None)))


def invitation(capture: Capture) -> tuple[str, Calendar]:
    """The captured email's calendar part: its Content-Type and the parsed VCALENDAR."""
    parts = [a for a in capture.attachments if a["content_type"].startswith("text/calendar")]
    if len(parts) != 1:
        raise AssertionError(f"expected one text/calendar part, found {len(parts)}")
    return parts[0]["content_type"], Calendar.from_ical(parts[0]["content"])
