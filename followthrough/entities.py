"""Work that belongs to an entity (a lead, a ticket): runs and tasks record their owner as
``runs.entity`` / ``tasks.entity`` (``lead:12``), and ``cancel_owned`` cancels all of it in one
call when the entity is disqualified or closed.

Idempotent: a run that has ended and a task already done or cancelled are left alone, so a
retried call cancels nothing twice. The entity's own workflow is not among them (its ``runs`` row
names no entity): it ends by itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import col, select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from followthrough.models.tasks import CancelInput
from followthrough.models.vocab import RunStatus
from followthrough.store import runs
from followthrough.store.db import session_scope
from followthrough.store.tables import Run, Task
from followthrough.store.tasks import OPEN_STATES
from followthrough.tasks import service


@dataclass
class Cancelled:
    runs: list[str] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)


def owned(engine: Engine, entity: str) -> tuple[list[Run], list[Task]]:
    """The running runs and open tasks that name ``entity``."""
    with session_scope(engine) as session:
        found_runs = list(session.exec(select(Run).where(Run.entity == entity, Run.status == RunStatus.RUNNING)
                                       .order_by(col(Run.id))))
        found_tasks = list(session.exec(select(Task).where(Task.entity == entity, col(Task.state).in_(OPEN_STATES))
                                        .order_by(col(Task.id))))
        return found_runs, found_tasks


def _finish(engine: Engine, run_id: str, reason: str) -> None:
    with session_scope(engine) as session:
        runs.finish(session, run_id, RunStatus.CANCELLED, reason)


async def cancel_owned(engine: Engine, client: Client, entity: str, reason: str = "") -> Cancelled:
    """Cancel every run and task that names ``entity``. Runs are asked to cancel (each records
    ``cancelled`` itself; one whose workflow is gone is marked here); tasks get their ``cancel``
    update (their owners' invitations are withdrawn)."""
    found_runs, found_tasks = await asyncio.to_thread(owned, engine, entity)
    done = Cancelled()
    why = reason or f"{entity} ended"
    for run in found_runs:
        try:
            await client.get_workflow_handle(run.workflow_id).cancel()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            await asyncio.to_thread(_finish, engine, run.id, f"cancelled: {why} (workflow not found)")
        done.runs.append(run.id)
    for task in found_tasks:
        try:
            await service.act_on(engine, client, task.id or 0, "cancel", CancelInput(reason=why[:200]))
        except service.InvalidTransition:
            continue  # finished meanwhile: nothing to cancel
        done.tasks.append(task.id or 0)
    return done
