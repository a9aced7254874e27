"""Tasks for the tests of acting on reminders and of the daily brief, until the tasks branch
merges: the ``tasks`` table's contract columns, and a task workflow with the contract's updates
(``complete``, ``snooze``) run on the real Temporal dev server.

Merge seam: with the tasks branch in, the real ``tasks`` table has more required columns, so
``add_task`` becomes the tasks branch's ``tests.support.tasks.new_task`` (the service) and
``ContractTaskWorkflow`` gives way to ``workflows.task.TaskWorkflow``. A trial merge with
``i11-tasks`` ran the SMS ``kész`` and a snooze link against the real TaskWorkflow, and the
brief's plan against the real table.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, insert, inspect
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from followthrough.store.task_reads import TASKS


def ensure_tasks_table(engine: Engine) -> None:
    if inspect(engine).has_table("tasks"):
        return
    Table("tasks", MetaData(),
          Column("id", Integer, primary_key=True), Column("owner_id", Integer, nullable=False),
          Column("contact_id", Integer), Column("kind", String(16), nullable=False),
          Column("title", String(200), nullable=False),
          Column("due_at", DateTime(timezone=True), nullable=False),
          Column("state", String(16), nullable=False)).create(engine)


def add_task(engine: Engine, *, owner_id: int, title: str, due_at: datetime, state: str = "open",
             kind: str = "call", task_id: int | None = None) -> int:
    ensure_tasks_table(engine)
    values: dict[str, Any] = {"owner_id": owner_id, "title": title, "due_at": due_at,
                              "state": state, "kind": kind}
    if task_id is not None:
        values["id"] = task_id
    with engine.begin() as conn:
        result = conn.execute(insert(TASKS).values(**values))
        return task_id if task_id is not None else int(result.lastrowid)


@workflow.defn(name="ContractTaskWorkflow", sandboxed=False)  # test support: imports the store
class ContractTaskWorkflow:
    """The task workflow's contract as the actions use it: ``complete`` (outcome, note) and
    ``snooze`` (duration) updates answering with the new state; a validator refuses acting on
    a task that is done."""

    def __init__(self) -> None:
        self.state = "open"
        self.calls: list[list[Any]] = []

    @workflow.run
    async def run(self, task_id: int) -> str:
        await workflow.wait_condition(lambda: self.state == "done")
        return self.state

    @workflow.update
    async def complete(self, input: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(["complete", input])
        self.state = "done"
        return {"task_id": 0, "state": self.state}

    @complete.validator
    def _check_complete(self, input: dict[str, Any]) -> None:
        if self.state == "done":
            raise ValueError("the task is done")

    @workflow.update
    async def snooze(self, input: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(["snooze", input])
        self.state = "snoozed"
        return {"task_id": 0, "state": self.state}

    @snooze.validator
    def _check_snooze(self, input: dict[str, Any]) -> None:
        if self.state == "done":
            raise ValueError("the task is done")

    @workflow.query
    def history(self) -> list[list[Any]]:
        return self.calls


@asynccontextmanager
async def task_workflows(client: Client) -> AsyncIterator[str]:
    """A worker for contract task workflows; yields its task queue."""
    queue = f"ft-tasks-{uuid.uuid4().hex[:12]}"
    async with Worker(client, task_queue=queue, workflows=[ContractTaskWorkflow]):
        yield queue


async def start_task(client: Client, queue: str, task_id: int) -> None:
    await client.start_workflow(ContractTaskWorkflow.run, task_id, id=f"task-{task_id}", task_queue=queue,
                                execution_timeout=timedelta(minutes=5))


def unique_task_id() -> int:
    """Task ids unique across tests: they share one dev server, and ``task-<id>`` is the id."""
    return 100_000 + uuid.uuid4().int % 1_000_000_000
