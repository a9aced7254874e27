"""Record TaskWorkflow histories for the replay test:
`uv run python -m tests.workflows.histories.record_task`.

Each scenario drives a task on the time-skipping server (reminder, actions, overdue, the
manager's digest, recurrence, a sequence's task telling its run) against the real loopback SMTP server; its history is written to
``task/`` next to this file. Only scenarios without a file are recorded unless named: a stored
history stands for the code that recorded it and must keep replaying.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from channels.outbox import (
    outbox_settings,
)
from followthrough.bootstrap import seed_builtins
from followthrough.enrollment import enroll
from followthrough.models.tasks import (
    CancelInput,
    CompleteInput,
    ReassignInput,
    RescheduleInput,
    SnoozeInput,
)
from followthrough.policy.contact_policy import PolicyConfig, QuietHours
from followthrough.settings import Settings
from followthrough.store import definitions
from followthrough.store.db import make_engine, session_scope, upgrade
from followthrough.store.policy import put_config
from followthrough.store.tables import Task
from followthrough.tasks import service
from tests.conftest import make_settings
from tests.support.stack import running_worker
from tests.support.tasks import contact, new_task, next_quarter, person
from tests.workflows.histories.record import recording_edge

HERE = Path(__file__).resolve().parent / "task"

Scenario = Callable[[WorkflowEnvironment, Engine, Settings], Awaitable[str]]


async def _lifecycle(env: WorkflowEnvironment, engine: Engine, settings: Settings) -> str:
    """Reminder, reschedule, snooze, overdue with the manager's digest, reassign, cancel."""
    boss = person(engine, "Boss", role="manager")
    rep = person(engine, "Rita", manager_id=boss)
    other = person(engine, "Otto")
    now = await env.get_current_time()
    due = next_quarter(now) + timedelta(hours=1)
    task = await new_task(engine, env.client, settings, now, due, contact_id=contact(engine, owner_id=rep))
    await env.sleep(due - now)
    await service.act(engine, env.client, task, "reschedule", RescheduleInput(due_at=due + timedelta(hours=1)))
    await env.sleep(timedelta(minutes=50))
    await service.act(engine, env.client, task, "snooze", SnoozeInput(duration=timedelta(minutes=30)))
    await env.sleep(timedelta(hours=4))
    await service.act(engine, env.client, task, "reassign", ReassignInput(owner_id=other))
    await env.sleep(timedelta(minutes=5))
    await service.act(engine, env.client, task, "cancel", CancelInput())
    return task.workflow_id


async def _recurring(env: WorkflowEnvironment, engine: Engine, settings: Settings) -> str:
    rep = person(engine, "Ria")
    now = await env.get_current_time()
    task = await new_task(engine, env.client, settings, now, next_quarter(now) + timedelta(hours=1),
                          owner_id=rep, rrule="FREQ=WEEKLY;COUNT=3")
    await env.sleep(timedelta(minutes=50))
    await service.act(engine, env.client, task, "complete", CompleteInput(outcome="called", note="ok"))
    return task.workflow_id


async def _of_a_run(env: WorkflowEnvironment, engine: Engine, settings: Settings) -> str:
    """A sequence's ``task`` step made the task; completing it signals that run."""
    with session_scope(engine) as session:
        definitions.save(session, "call_step", "sequence", {
            "name": "call_step", "kind": "sequence", "locales": ["en"], "steps": [
                {"id": "call", "type": "task", "kind": "call", "title": "Call back",
                 "due": {"after": "PT2H"}, "wait": True, "as": "call"}]}, publish=True)
    anna = contact(engine, owner_id=person(engine, "Rosa"))

    async def client():  # type: ignore[no-untyped-def]
        return env.client

    run, _ = await enroll(engine, client, settings, "call_step", anna, {})
    await env.sleep(timedelta(minutes=1))
    with session_scope(engine) as session:
        [task] = session.exec(select(Task).where(Task.run_id == run.id)).all()
    await service.act(engine, env.client, task, "complete", CompleteInput(outcome="interested"))
    await env.client.get_workflow_handle(run.workflow_id).result()
    return task.workflow_id


SCENARIOS: dict[str, Scenario] = {"task_lifecycle": _lifecycle, "task_recurring": _recurring,
                                  "task_of_a_run": _of_a_run}


async def record(target: Path, names: list[str]) -> None:
    async with recording_edge() as (env, edge):
        for name in names:
            settings = outbox_settings(make_settings(Path(tempfile.mkdtemp())), edge)
            engine = make_engine(settings.resolved_database_url)
            upgrade(engine)
            seed_builtins(engine, settings)
            with session_scope(engine) as session:
                put_config(session, PolicyConfig(quiet_hours=QuietHours(channels=[])))
            async with running_worker(env.client, settings, engine):
                workflow_id = await SCENARIOS[name](env, engine, settings)
                handle = env.client.get_workflow_handle(workflow_id)
                await handle.result()
                history = await handle.fetch_history()
            target.mkdir(exist_ok=True)
            (target / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))
            print(f"recorded {name}")  # noqa: T201 - a command-line tool


def main(argv: list[str]) -> None:
    """``record_task.py [name ...]``: by default only the scenarios without a history."""
    names = argv or [n for n in SCENARIOS if not (HERE / f"{n}.json").exists()]
    asyncio.run(record(HERE, names))


if __name__ == "__main__":
    main(sys.argv[1:])
