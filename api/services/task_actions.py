"""What a rep's one-click link or SMS reply does to a task: the ``complete`` or ``snooze``
Update of its ``TaskWorkflow`` (``task-<id>``), with the workflow's own input models."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.temporal import TemporalGateway
from followthrough.action_links import ActionView, SubjectRejected
from followthrough.errors import ServiceUnavailable
from followthrough.models.tasks import CompleteInput, SnoozeInput
from followthrough.store import tasks
from followthrough.store.db import read_scope
from followthrough.store.tables import Task
from followthrough.tasks import service
from followthrough.tasks.service import InvalidTransition

#: What "snooze" means from a reminder (SMS ``2``, the email's snooze link).
SNOOZE = timedelta(hours=1)
_TASK_RUN = re.compile(r"^task-(\d{1,10})$")


class TaskAction(StrEnum):
    DONE = "done"
    SNOOZE = "snooze"


def task_of_run(run_id: str | None) -> int | None:
    """The task whose workflow sent a ledger row (its run id is the workflow id), else None."""
    match = _TASK_RUN.match(run_id or "")
    return int(match.group(1)) if match else None


async def act_on_task(engine: Engine, client: Client, task_id: int, action: TaskAction, via: str) -> str:
    """Complete or snooze the task (``service.act_on``); returns its new state.
    :class:`SubjectRejected` when the task's workflow refuses (its validator: already done,
    cancelled) or has ended; ``ServiceUnavailable`` when Temporal does not answer (nothing
    changed)."""
    update: BaseModel = (CompleteInput(outcome="done", note=f"via {via}") if action is TaskAction.DONE
                         else SnoozeInput(duration=SNOOZE))
    try:
        view = await service.act_on(engine, client, task_id, _UPDATES[action], update)
    except InvalidTransition as exc:
        raise SubjectRejected(exc.message) from exc
    except WorkflowUpdateFailedError as exc:  # the update failed for another reason
        raise SubjectRejected(str(exc.cause or exc)) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.FAILED_PRECONDITION:
            raise SubjectRejected(f"task {task_id} is closed") from exc
        raise ServiceUnavailable(f"Temporal did not take the update: {exc}") from exc
    return view.state.value


_UPDATES = {TaskAction.DONE: "complete", TaskAction.SNOOZE: "snooze"}


class TaskLinkActions:
    """The ``task`` kind of one-click links: ``done`` and ``snooze`` act, ``open`` shows."""

    kind = "task"
    actions = frozenset({TaskAction.DONE.value, TaskAction.SNOOZE.value})
    views = frozenset({"open"})

    def __init__(self, engine: Engine, temporal: TemporalGateway) -> None:
        self._engine = engine
        self._temporal = temporal

    async def describe(self, subject_id: int) -> ActionView | None:
        task = await asyncio.to_thread(self._read, subject_id)
        if task is None:
            return None
        return ActionView(title=task.title, details={
            "kind": str(task.kind), "state": str(task.state), "due": f"{tasks.due_at(task):%Y-%m-%d %H:%M} UTC"})

    def _read(self, task_id: int) -> Task | None:
        with read_scope(self._engine) as session:
            return tasks.find(session, task_id)

    async def perform(self, subject_id: int, action: str) -> str:
        return await act_on_task(self._engine, await self._temporal.client(), subject_id, TaskAction(action), "link")
