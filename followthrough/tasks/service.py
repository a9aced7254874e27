"""Creating tasks and acting on them, for the API (and later the ``task`` step): the row is
written first, then the workflow starts; actions are the workflow's Updates."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from followthrough import entity_updates, ids
from followthrough.calendar import Calendar, calendars_with
from followthrough.entity_updates import (
    InvalidTransition as InvalidTransition,  # the task API catches it here
)
from followthrough.errors import (
    FieldError,
    Forbidden,
    ServiceUnavailable,
    ValidationFailed,
)
from followthrough.models.tasks import RelativeDue, TaskEntity, TaskInput, TaskTimings, TaskView
from followthrough.models.vocab import TaskKind, TaskPriority, TaskState
from followthrough.settings import Settings
from followthrough.store import calendars, contacts, tasks
from followthrough.store.db import session_scope
from followthrough.store.tables import Contact, Task, User
from followthrough.tasks.due import resolve_due
from followthrough.temporal import CONTACT_ID, RUN_ID, RUN_KIND

TASK_WORKFLOW = "TaskWorkflow"


@dataclass(frozen=True)
class TaskDraft:
    kind: TaskKind
    title: str
    due: datetime | RelativeDue
    note: str | None = None
    contact_id: int | None = None
    owner_id: int | None = None
    remind_before: timedelta = timedelta(minutes=15)
    priority: TaskPriority = TaskPriority.NORMAL
    rrule: str | None = None
    #: A sequence's ``task`` step: its run, and ``<run id>:<step id>:<visit>`` (one task per key).
    run_id: str | None = None
    run_key: str | None = None
    #: The entity that owns the task (``lead:12``): it hears when the task ends, and cancelling
    #: the entity cancels the task.
    entity: str | None = None


def timings(settings: Settings) -> TaskTimings:
    return TaskTimings(grace=settings.task_grace, escalate_after=settings.task_escalate_after,
                       digest_window=settings.task_digest_window)


def owner_calendar(session: Session, owner: User) -> Calendar:
    """The owner's working calendar (``default`` when they name none or it is gone)."""
    name = owner.calendar or "default"
    documents, _missing = calendars.resolve(session, [name])
    return calendars_with(documents).get(name) or calendars_with({})["default"]


def due_of(session: Session, due: datetime | RelativeDue, now: datetime, owner: User,
           contact: Contact | None, path: str = "/due") -> datetime:
    """The due instant for ``owner`` (and the contact's zone); a 422 naming ``path``."""
    try:
        return resolve_due(due, now, owner_zone=owner.time_zone,
                           contact_zone=contact.time_zone if contact is not None else None,
                           calendar=owner_calendar(session, owner))
    except ValueError as exc:
        raise ValidationFailed("The due time cannot be used.", errors=[FieldError(path, str(exc))]) from exc


def user_or_422(session: Session, user_id: int, path: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise ValidationFailed("The owner does not exist.",
                               errors=[FieldError(path, f"user {user_id} does not exist")])
    return user


def _claim(engine: Engine, draft: TaskDraft, now: datetime, rep: int | None) -> Task:
    with session_scope(engine) as session:
        if draft.run_key is not None and (made := tasks.by_run_key(session, draft.run_key)) is not None:
            return made  # a retried step: the task its first attempt made
        contact = None
        if draft.contact_id is not None:
            contact = session.get(Contact, draft.contact_id)
            if contact is None:
                raise ValidationFailed("The contact does not exist.", errors=[
                    FieldError("/contact_id", f"contact {draft.contact_id} does not exist")])
        owner_id = draft.owner_id or (contact.owner_id if contact is not None else None) or rep
        if owner_id is None:
            raise ValidationFailed("The task needs an owner.", errors=[
                FieldError("/owner_id", "required: the contact has no owner to default to")])
        if rep is not None and owner_id != rep:
            raise Forbidden(f"A rep creates tasks for themselves; this one would be user {owner_id}'s.")
        owner = user_or_422(session, owner_id, "/owner_id")
        due_at = due_of(session, draft.due, now, owner, contact)
        return tasks.create(session, {
            "owner_id": owner_id, "contact_id": draft.contact_id, "kind": draft.kind, "title": draft.title,
            "note": draft.note, "due_at": due_at, "remind_before": int(draft.remind_before.total_seconds()),
            "priority": draft.priority, "rrule": draft.rrule, "run_id": draft.run_id, "run_key": draft.run_key,
            "entity": draft.entity,
        })


def _discard(engine: Engine, task_id: int) -> None:
    with session_scope(engine) as session:
        session.delete(tasks.get(session, task_id))


def start_input(task: Task, settings: Settings) -> TaskInput:
    entity = TaskEntity(task_id=task.id or 0, owner_id=task.owner_id, contact_id=task.contact_id,
                        due_at=tasks.due_at(task), remind_before=tasks.remind_before(task),
                        priority=TaskPriority(task.priority), rrule=task.rrule, run_id=task.run_id,
                        entity=task.entity)
    return TaskInput(entity=entity, timings=timings(settings), history_limit=settings.workflow_history_limit)


async def create(engine: Engine, client: Client, settings: Settings, draft: TaskDraft, now: datetime,
                 rep: int | None = None) -> Task:
    """Write the row, then start ``task-<id>``; a start that fails takes the row back (503).
    ``rep``: the caller is this rep, who creates tasks for themselves only (and by default).
    A draft with a ``run_key`` (a sequence's step) is made once: a retry finds the row and
    starts (or finds) its workflow, and the row stays when the start fails, for that retry."""
    task = await asyncio.to_thread(_claim, engine, draft, now, rep)
    try:
        await start(client, settings, task)
    except Exception as exc:
        if draft.run_key is not None:
            raise
        await asyncio.to_thread(_discard, engine, task.id or 0)
        raise ServiceUnavailable(f"the task could not be started: {exc}") from exc
    return task


async def start(client: Client, settings: Settings, task: Task) -> None:
    """Start ``task-<id>`` (an existing one, e.g. on a retry, is kept)."""
    pairs = [SearchAttributePair(RUN_KIND, "task"), SearchAttributePair(RUN_ID, task.workflow_id)]
    if task.contact_id is not None:
        pairs.append(SearchAttributePair(CONTACT_ID, str(task.contact_id)))
    await client.start_workflow(TASK_WORKFLOW, start_input(task, settings), id=task.workflow_id,
                                task_queue=settings.task_queue, search_attributes=TypedSearchAttributes(pairs),
                                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)


async def act(engine: Engine, client: Client, task: Task, action: str, input: BaseModel) -> TaskView:
    """Run one action (a workflow Update) and return the task's new state. A refused one is a
    409 naming the state; a task whose workflow has ended answers with its final state."""
    return await act_on(engine, client, task.id or 0, action, input)


async def act_on(engine: Engine, client: Client, task_id: int, action: str, input: BaseModel) -> TaskView:
    """:func:`act` for a task known by its id (a one-click link, a rep's SMS answer)."""
    return await entity_updates.execute(
        client, ids.task_workflow_id(task_id), action, input, TaskView, subject=f"task {task_id}",
        final_state=lambda: asyncio.to_thread(_state, engine, task_id))


def _state(engine: Engine, task_id: int) -> str:
    with session_scope(engine) as session:
        return TaskState(tasks.get(session, task_id).state).value


def contact_of(session: Session, task: Task) -> Contact | None:
    return contacts.get(session, task.contact_id) if task.contact_id is not None else None


