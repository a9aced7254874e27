"""What a rep's one-click link or SMS reply does to a task: a Temporal Update on its entity
workflow (``task-<id>``).

Merge seam: the one place that knows the task workflow's contract (the workflow id, the update
names ``complete`` and ``snooze`` and their arguments, the ledger run id of a task's messages),
so the tasks branch is coupled to these paths here only.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.temporal import TemporalGateway
from followthrough.action_links import ActionView, SubjectRejected
from followthrough.errors import ServiceUnavailable
from followthrough.store import task_reads
from followthrough.store.db import read_scope

#: What "snooze" means from a reminder (SMS ``2``, the email's snooze link).
SNOOZE = timedelta(hours=1)
_TASK_RUN = re.compile(r"^task-(\d{1,10})$")


class TaskAction(StrEnum):
    DONE = "done"
    SNOOZE = "snooze"


def task_workflow_id(task_id: int) -> str:
    return f"task-{task_id}"


def task_of_run(run_id: str | None) -> int | None:
    """The task whose workflow sent a ledger row (its run id is the workflow id), else None."""
    match = _TASK_RUN.match(run_id or "")
    return int(match.group(1)) if match else None


def _iso_duration(value: timedelta) -> str:
    return f"PT{int(value.total_seconds())}S"


async def act_on_task(client: Client, task_id: int, action: TaskAction, via: str) -> str:
    """Complete or snooze the task; returns its new state. :class:`SubjectRejected` when the
    task's workflow refuses (its validator: already done, cancelled) or is gone;
    ``ServiceUnavailable`` when Temporal does not answer (nothing changed)."""
    handle = client.get_workflow_handle(task_workflow_id(task_id))
    try:
        if action is TaskAction.DONE:
            result: Any = await handle.execute_update("complete", {"outcome": "done", "note": f"via {via}"})
        else:
            result = await handle.execute_update("snooze", {"duration": _iso_duration(SNOOZE)})
    except WorkflowUpdateFailedError as exc:
        raise SubjectRejected(str(exc.cause or exc)) from exc
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise SubjectRejected(f"task {task_id} is closed") from exc
        raise ServiceUnavailable(f"Temporal did not take the update: {exc}") from exc
    return _state_of(result)


def _state_of(result: Any) -> str:
    """An update answers with the new state (a string, or a task view carrying ``state``)."""
    if isinstance(result, dict):
        return str(result.get("state", ""))
    return str(getattr(result, "state", result))


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
            "kind": task.kind, "state": task.state, "due": f"{task.due_at:%Y-%m-%d %H:%M} UTC"})

    def _read(self, task_id: int) -> task_reads.TaskLine | None:
        with read_scope(self._engine) as session:
            return task_reads.get(session, task_id)

    async def perform(self, subject_id: int, action: str) -> str:
        return await act_on_task(await self._temporal.client(), subject_id, TaskAction(action), "link")
