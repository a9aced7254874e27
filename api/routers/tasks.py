"""Tasks: create, list, read, and act (complete, snooze, reschedule, reassign, cancel).

A rep sees and acts on their own tasks only (anything else is a 404); managers and admins on
all. Actions are the task workflow's Updates: the answer is the task after the action, and an
action the task's state does not allow is a 409 naming the state.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import Engine

from api.deps import AccessDep, EngineDep, PrincipalDep, SettingsDep, TemporalDep
from api.schemas.common import (
    DEFAULT_LIMIT,
    CursorQuery,
    Id,
    LimitQuery,
    Page,
    decode_cursor,
    page_of,
)
from api.schemas.tasks import (
    CancelBody,
    CompleteBody,
    ReassignBody,
    RescheduleBody,
    SnoozeBody,
    TaskCreate,
    TaskPublic,
)
from followthrough.dsl.durations import parse_duration, parse_signed_duration
from followthrough.errors import NotFound
from followthrough.models.tasks import (
    CancelInput,
    CompleteInput,
    ReassignInput,
    RescheduleInput,
    SnoozeInput,
)
from followthrough.models.vocab import Role, TaskKind, TaskState
from followthrough.store import tasks
from followthrough.store.db import read_scope, session_scope
from followthrough.store.scope import Access
from followthrough.store.tables import Contact, Task, User
from followthrough.tasks import service
from followthrough.tasks.service import TaskDraft

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])
TaskId = Annotated[Id, Path(description="The task's id.")]


def _own_only(principal: object) -> int | None:
    """The user a rep's view is limited to (None: staff see every task)."""
    if getattr(principal, "role", None) == Role.REP:
        return getattr(principal, "user_id", None) or 0
    return None


def _public(engine: Engine, task_id: int) -> TaskPublic:
    with read_scope(engine) as session:
        return _public_of(session, tasks.get(session, task_id))


def _public_of(session, task: Task) -> TaskPublic:  # type: ignore[no-untyped-def]
    owner = session.get(User, task.owner_id)
    contact = session.get(Contact, task.contact_id) if task.contact_id is not None else None
    return TaskPublic.of(task, owner.time_zone if owner else "UTC", contact.time_zone if contact else None)


def _visible(engine: Engine, task_id: int, principal: object, access: Access) -> Task:
    """The task, or 404 when the caller may not see it: a rep their own tasks, a manager the
    tasks of the people their scope shows (``FT_MANAGER_SCOPE``), an admin all."""
    with read_scope(engine) as session:
        task = tasks.get(session, task_id)
    mine = _own_only(principal)
    if (mine is not None and task.owner_id != mine) or not access.read.allows_owner(task.owner_id):
        raise NotFound(f"task {task_id} does not exist")
    return task


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a task with its reminder")
async def create_task(body: TaskCreate, engine: EngineDep, settings: SettingsDep, temporal: TemporalDep,
                      principal: PrincipalDep) -> TaskPublic:
    """The owner defaults to the contact's owner; a rep creates tasks for themselves only."""
    draft = TaskDraft(kind=TaskKind(body.kind), title=body.title, due=body.due, note=body.note,
                      contact_id=body.contact_id, owner_id=body.owner_id,
                      remind_before=parse_signed_duration(body.remind_before), priority=body.priority,
                      rrule=body.rrule)
    client = await temporal.client()
    task = await service.create(engine, client, settings, draft, datetime.now(UTC), rep=_own_only(principal))
    return await asyncio.to_thread(_public, engine, task.id or 0)


@router.get("", summary="Tasks, oldest first")
def list_tasks(
    engine: EngineDep, principal: PrincipalDep, access: AccessDep,
    owner: Annotated[Id | None, Query(description="Only this user's tasks.")] = None,
    state: TaskState | None = None,
    due_before: Annotated[AwareDatetime | None, Query(description="Only tasks due before (RFC 3339, with an offset).")] = None,
    cursor: CursorQuery = None, limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[TaskPublic]:
    mine = _own_only(principal)
    if mine is not None:
        owner = mine if owner in (None, mine) else -1  # a rep lists their own tasks only
    with read_scope(engine) as session:
        rows = tasks.list_page(session, owner_id=owner, state=state, due_before=due_before,
                               after=decode_cursor(cursor), limit=limit + 1,
                               owners=None if mine is not None else access.read.owners)
        return page_of(rows, limit, lambda row: _public_of(session, row))


@router.get("/{task_id}", summary="A task")
def get_task(task_id: TaskId, engine: EngineDep, principal: PrincipalDep, access: AccessDep) -> TaskPublic:
    _visible(engine, task_id, principal, access)
    return _public(engine, task_id)


async def _act(engine: Engine, temporal, principal: object, access: Access, task_id: int,  # type: ignore[no-untyped-def]
               action: str, input: BaseModel) -> TaskPublic:
    task = await asyncio.to_thread(_visible, engine, task_id, principal, access)
    await service.act(engine, await temporal.client(), task, action, input)
    return await asyncio.to_thread(_public, engine, task_id)


@router.post("/{task_id}/complete", summary="Complete a task")
async def complete_task(task_id: TaskId, body: CompleteBody, engine: EngineDep, temporal: TemporalDep,
                        principal: PrincipalDep, access: AccessDep) -> TaskPublic:
    return await _act(engine, temporal, principal, access, task_id, "complete",
                      CompleteInput(outcome=body.outcome, note=body.note))


@router.post("/{task_id}/snooze", summary="Snooze a task's reminder")
async def snooze_task(task_id: TaskId, body: SnoozeBody, engine: EngineDep, temporal: TemporalDep,
                      principal: PrincipalDep, access: AccessDep) -> TaskPublic:
    return await _act(engine, temporal, principal, access, task_id, "snooze",
                      SnoozeInput(duration=parse_duration(body.duration)))


@router.post("/{task_id}/reschedule", summary="Move a task to a new due time")
async def reschedule_task(task_id: TaskId, body: RescheduleBody, engine: EngineDep, temporal: TemporalDep,
                          principal: PrincipalDep, access: AccessDep) -> TaskPublic:
    task = await asyncio.to_thread(_visible, engine, task_id, principal, access)
    due_at = await asyncio.to_thread(_due, engine, task, body)
    return await _act(engine, temporal, principal, access, task_id, "reschedule", RescheduleInput(due_at=due_at))


@router.post("/{task_id}/reassign", summary="Give a task to another owner")
async def reassign_task(task_id: TaskId, body: ReassignBody, engine: EngineDep, temporal: TemporalDep,
                        principal: PrincipalDep, access: AccessDep) -> TaskPublic:
    await asyncio.to_thread(_owner_exists, engine, body.owner_id)
    return await _act(engine, temporal, principal, access, task_id, "reassign", ReassignInput(owner_id=body.owner_id))


@router.post("/{task_id}/cancel", summary="Cancel a task")
async def cancel_task(task_id: TaskId, body: CancelBody, engine: EngineDep, temporal: TemporalDep,
                      principal: PrincipalDep, access: AccessDep) -> TaskPublic:
    return await _act(engine, temporal, principal, access, task_id, "cancel", CancelInput(reason=body.reason))


def _due(engine: Engine, task: Task, body: RescheduleBody) -> datetime:
    with session_scope(engine) as session:
        owner = service.user_or_422(session, task.owner_id, "/due")
        contact = session.get(Contact, task.contact_id) if task.contact_id is not None else None
        return service.due_of(session, body.due, datetime.now(UTC), owner, contact)


def _owner_exists(engine: Engine, owner_id: int) -> None:
    with read_scope(engine) as session:
        service.user_or_422(session, owner_id, "/owner_id")
