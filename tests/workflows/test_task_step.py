"""The ``task`` step on the time-skipping server: the run creates a task through the tasks
service; with ``wait`` it goes on when the task is completed through its real Update (the
outcome in ``events.<as>``) or when the timeout passes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.client import WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.tasks import TaskActivities
from followthrough.enrollment import enroll
from followthrough.models.runs import RunState, SequenceResult
from followthrough.models.tasks import (
    CancelInput,
    CompleteInput,
    RelativeDue,
    RunTaskInput,
    TaskResult,
)
from followthrough.models.vocab import TaskKind
from followthrough.settings import Settings
from followthrough.store import definitions, runs, tasks
from followthrough.store.db import as_utc, session_scope
from followthrough.store.tables import Task
from followthrough.tasks import service
from tests.conftest import terminate_open_runs
from tests.support.stack import running_worker
from tests.support.tasks import contact, person

BUDAPEST = ZoneInfo("Europe/Budapest")
CALL = {"type": "task", "kind": "call", "title": "Call about the order", "note": "They asked twice",
        "due": {"after": "P1D", "at": "10:00"}}
BRANCHES = [
    {"id": "answered", "type": "if", "condition": "events.call.received", "then": "check", "else": "no_answer"},
    {"id": "check", "type": "if", "condition": "events.call.data.outcome == 'interested'",
     "then": "won", "else": "lost"},
    {"id": "won", "type": "exit", "reason": "interested"},
    {"id": "lost", "type": "exit", "reason": "not_interested"},
    {"id": "no_answer", "type": "exit", "reason": "no_answer"},
]


@dataclass
class Env:
    ts: WorkflowEnvironment
    engine: Engine
    settings: Settings


@pytest.fixture
async def env(ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings) -> AsyncIterator[Env]:
    settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
    async with running_worker(ts_env.client, settings, engine):
        yield Env(ts_env, engine, settings)
    await terminate_open_runs(engine, ts_env.client)


def _save(engine: Engine, name: str, steps: list[dict[str, Any]]) -> None:
    document = {"name": name, "kind": "sequence", "category": "service", "locales": ["en"], "steps": steps}
    with session_scope(engine) as session:
        definitions.save(session, name, "sequence", document, publish=True)


async def _enroll(env: Env, name: str, contact_id: int, data: dict[str, Any] | None = None
                  ) -> tuple[str, WorkflowHandle]:
    async def client():  # type: ignore[no-untyped-def]
        return env.ts.client

    run, _ = await enroll(env.engine, client, env.settings, name, contact_id, data or {})
    return run.id, env.ts.client.get_workflow_handle(run.workflow_id, result_type=SequenceResult)


def _run_tasks(engine: Engine, run_id: str) -> list[Task]:
    with session_scope(engine) as session:
        return list(session.exec(select(Task).where(Task.run_id == run_id)))


def _steps(engine: Engine, run_id: str) -> list[tuple[str, str, str | None]]:
    with session_scope(engine) as session:
        return [(s.step_id, s.state, s.reason) for s in runs.steps(session, run_id)]


async def _task_created(env: Env, run_id: str) -> Task:
    for _ in range(100):
        found = _run_tasks(env.engine, run_id)
        if found:
            return found[0]
        await env.ts.sleep(timedelta(seconds=1))
    raise AssertionError("the run made no task")


def _tomorrow_ten(now: datetime) -> datetime:
    day = now.astimezone(BUDAPEST).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=BUDAPEST).astimezone(UTC)


class TestWithoutWait:
    async def test_the_task_goes_to_the_contacts_owner_and_the_run_goes_on(self, env: Env) -> None:
        rep = person(env.engine, "Peter")  # Europe/Budapest
        anna = contact(env.engine, owner_id=rep)
        _save(env.engine, "task_nowait", [{"id": "call", **CALL}, {"id": "done", "type": "exit", "reason": "told"}])
        now = await env.ts.get_current_time()
        run_id, handle = await _enroll(env, "task_nowait", anna)
        result = await handle.result()

        assert (result.status, result.reason) == ("completed", "told")
        [task] = _run_tasks(env.engine, run_id)
        assert (task.owner_id, task.contact_id, task.kind, task.title, task.note, task.state) == (
            rep, anna, "call", "Call about the order", "They asked twice", "open")
        assert task.run_key == f"{run_id}:call:1"
        # "P1D at 10:00" in the owner's zone, counted from the run's clock.
        assert as_utc(task.due_at) == _tomorrow_ten(now)
        [call, done] = _steps(env.engine, run_id)
        assert call == ("call", "done", f"task {task.id} for user {rep}, due {_tomorrow_ten(now):%Y-%m-%d %H:%M} UTC")
        assert done[:2] == ("done", "done")
        # The task lives on in its own workflow.
        view = await env.ts.client.get_workflow_handle(task.workflow_id).query("view")
        assert view["state"] == "open"

    async def test_no_owner_is_a_recorded_skip(self, env: Env) -> None:
        nobody = contact(env.engine, owner_id=None)
        _save(env.engine, "task_noowner", [{"id": "call", **CALL}, *BRANCHES[-1:]])
        run_id, handle = await _enroll(env, "task_noowner", nobody)
        assert (await handle.result()).reason == "no_answer"
        assert _run_tasks(env.engine, run_id) == []
        [call, _] = _steps(env.engine, run_id)
        assert call == ("call", "skipped", "The task needs an owner. owner_id: required: the contact has no owner "
                                           "to default to")

    async def test_an_owner_path_that_is_not_set_is_skipped_without_asking(self, env: Env) -> None:
        anna = contact(env.engine, owner_id=person(env.engine, "Peter"))
        _save(env.engine, "task_pathowner", [{"id": "call", **CALL, "owner": "data.rep_id"}, *BRANCHES[-1:]])
        run_id, handle = await _enroll(env, "task_pathowner", anna)
        await handle.result()
        assert _steps(env.engine, run_id)[0] == ("call", "skipped", "no_owner: data.rep_id is not set")


    async def test_what_the_api_would_refuse_is_a_skip_with_its_reason(self, env: Env) -> None:
        anna = contact(env.engine, owner_id=person(env.engine, "Peter"))
        _save(env.engine, "task_refused", [
            {"id": "stranger", **CALL, "owner": 424242},
            {"id": "past", **CALL, "due": {"expression": "data.when"}}, *BRANCHES[-1:]])
        run_id, handle = await _enroll(env, "task_refused", anna, {"when": "2020-01-01T10:00:00+01:00"})
        await handle.result()
        assert _run_tasks(env.engine, run_id) == []
        assert _steps(env.engine, run_id)[:2] == [
            ("stranger", "skipped", "The owner does not exist. owner_id: user 424242 does not exist"),
            ("past", "skipped", "The due time cannot be used. due: that is 2020-01-01 09:00 UTC, already past")]


class TestWait:
    async def test_completion_through_the_update_continues_with_the_outcome(self, env: Env) -> None:
        rep = person(env.engine, "Peter")
        anna = contact(env.engine, owner_id=rep)
        _save(env.engine, "task_wait", [
            {"id": "call", **CALL, "wait": True, "timeout": "P3D", "as": "call"}, *BRANCHES])
        started = await env.ts.get_current_time()
        run_id, handle = await _enroll(env, "task_wait", anna)
        task = await _task_created(env, run_id)
        assert await handle.query("current_step") == "call"

        view = await service.act(env.engine, env.ts.client, task, "complete",
                                 CompleteInput(outcome="interested", note="wants a quote"))
        assert view.state == "done"
        result = await handle.result()

        assert (result.status, result.reason) == ("completed", "interested")
        steps = _steps(env.engine, run_id)
        assert [(s, st) for s, st, _ in steps] == [
            ("call", "done"), ("answered", "done"), ("check", "done"), ("won", "done")]
        assert steps[0][2] == f"task {task.id} done: interested"
        state = await handle.query("run_state", result_type=RunState)
        assert state.events["call"] == {"received": True, "data": {"task_id": task.id, "state": "done",
                                                                   "outcome": "interested"}}
        # Well before the timeout: the run went on when the task was completed.
        with session_scope(env.engine) as session:
            ended = as_utc(runs.get(session, run_id).ended_at)
        assert ended is not None and ended - started < timedelta(days=1)
        task_result = await env.ts.client.get_workflow_handle(task.workflow_id, result_type=TaskResult).result()
        assert (task_result.state, task_result.outcome) == ("done", "interested")

    async def test_the_timeout_takes_the_other_branch(self, env: Env) -> None:
        anna = contact(env.engine, owner_id=person(env.engine, "Peter"))
        _save(env.engine, "task_timeout", [
            {"id": "call", **CALL, "wait": True, "timeout": "P3D", "as": "call"}, *BRANCHES])
        run_id, handle = await _enroll(env, "task_timeout", anna)
        task = await _task_created(env, run_id)
        started = await env.ts.get_current_time()
        await env.ts.sleep(timedelta(days=3, hours=1))
        result = await handle.result()

        assert (result.status, result.reason) == ("completed", "no_answer")
        steps = _steps(env.engine, run_id)
        assert [(s, st, r) for s, st, r in steps][0] == ("call", "done", "timed out")
        with session_scope(env.engine) as session:
            row = [s for s in runs.steps(session, run_id) if s.step_id == "call"][0]
            assert as_utc(row.due_at) - started <= timedelta(days=3)
        # The task itself is untouched by the run's timeout: still the rep's, overdue by now.
        with session_scope(env.engine) as session:
            assert tasks.get(session, task.id or 0).state == "overdue"

    async def test_a_cancelled_task_ends_the_wait_without_an_outcome(self, env: Env) -> None:
        anna = contact(env.engine, owner_id=person(env.engine, "Peter"))
        _save(env.engine, "task_cancel", [{"id": "call", **CALL, "wait": True, "as": "call"}, *BRANCHES])
        run_id, handle = await _enroll(env, "task_cancel", anna)
        task = await _task_created(env, run_id)
        await service.act(env.engine, env.ts.client, task, "cancel", CancelInput())
        result = await handle.result()
        # Received (the task ended), but with no outcome: the condition is false.
        assert result.reason == "not_interested"
        assert _steps(env.engine, run_id)[0] == ("call", "done", f"task {task.id} cancelled: None")


class TestIdempotence:
    async def test_a_retried_creation_finds_the_task_it_made(self, env: Env) -> None:
        rep = person(env.engine, "Peter")
        anna = contact(env.engine, owner_id=rep)
        _save(env.engine, "task_once", [{"id": "call", **CALL}])
        run_id, handle = await _enroll(env, "task_once", anna)
        await handle.result()
        [made] = _run_tasks(env.engine, run_id)
        activities = TaskActivities(env.engine, env.settings)
        now = await env.ts.get_current_time()
        retry = RunTaskInput(run_id=run_id, step_id="call", visit=1, contact_id=anna, kind=TaskKind.CALL,
                             title="Call about the order", due=RelativeDue(after="P1D", at="10:00"), at=now)

        again = await ActivityEnvironment(client=env.ts.client).run(activities.create_for_run, retry)
        twice = await ActivityEnvironment(client=env.ts.client).run(activities.create_for_run, retry)

        assert again.task_id == twice.task_id == made.id
        assert [t.id for t in _run_tasks(env.engine, run_id)] == [made.id]
        # A later visit of the step (a goto back) is another task.
        other = await ActivityEnvironment(client=env.ts.client).run(
            activities.create_for_run, retry.model_copy(update={"visit": 2}))
        assert other.task_id not in (None, made.id)
        assert len(_run_tasks(env.engine, run_id)) == 2
