"""Worker roles (``FT_WORKER_ROLE`` / ``followthrough worker --role``): a ``workflows`` worker
and an ``activities`` worker on one task queue carry a run together, and each does only its
part (real SMTP and Twilio-compatible servers; the time-skipping server, and the dev server for
the activities-only worker)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.sides import server_counters
from bench.stack import free_port
from channels.outbox import OutboxHandle
from followthrough.devserver import temporal_cli
from followthrough.enrollment import enroll
from followthrough.models.runs import SequenceResult
from followthrough.settings import Settings
from followthrough.store import contacts, runs
from followthrough.store.db import session_scope
from followthrough.temporal import SEARCH_ATTRIBUTES
from tests.conftest import TEST_CONVERTER, start_time_skipping, terminate_open_runs
from tests.support.stack import running_worker
from tests.support.waiting import eventually


def _contact(engine: Engine) -> int:
    with session_scope(engine) as session:
        return contacts.create(session, {"name": "Kovács Éva", "email": "eva@example.test",  # type: ignore[return-value]
                                         "phone": "+36301234567", "locale": "hu"}).id


async def _scheduled_activities(client: Client, workflow_id: str) -> list[str]:
    events = [e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()]
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


async def _started_activities(client: Client, workflow_id: str) -> bool:
    events = [e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()]
    return any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED for e in events)


@pytest.fixture
async def roles_ts() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this test's own. The test leaves a delivery unpolled on
    purpose (no activities worker yet), and then skips four days: on the shared server the
    first would stop the clock for others if the test failed part-way, and the second would
    wait on whatever work earlier tests left there (its skip timed out once in clean-clone CI,
    2026-12-04, after 3,600 other tests had shared the server)."""
    env = await start_time_skipping()
    yield env
    await env.shutdown()


class TestWorkerRoles:
    async def test_a_workflows_and_an_activities_worker_carry_a_run_together(
        self, roles_ts: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle,
    ) -> None:
        ts_env = roles_ts
        settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
        contact_id = _contact(engine)

        async def client():  # type: ignore[no-untyped-def]
            return ts_env.client

        workflows = settings.model_copy(update={"worker_role": "workflows"})
        activities = settings.model_copy(update={"worker_role": "activities"})
        async with running_worker(ts_env.client, workflows, engine):
            run, _ = await enroll(engine, client, settings, "welcome_sequence", contact_id, {})
            handle = ts_env.client.get_workflow_handle(run.workflow_id, result_type=SequenceResult)
            # The workflows worker alone decides, but sends nothing: the delivery waits on the
            # task queue for an activities worker (the server does not skip time meanwhile: an
            # activity is outstanding, so the wait is a real one).
            await eventually(lambda: _scheduled_activities(ts_env.client, run.workflow_id))
            await asyncio.sleep(2)
            assert outbox.store.list(limit=None) == []
            assert await _scheduled_activities(ts_env.client, run.workflow_id) == ["deliver"]
            assert not await _started_activities(ts_env.client, run.workflow_id)
            async with running_worker(ts_env.client, activities, engine):
                await ts_env.sleep(timedelta(days=4, minutes=1))
                result = await handle.result()
        assert result.status == "completed"
        assert sorted(c.channel for c in outbox.store.list(limit=None)) == ["email", "sms", "voice"]
        with session_scope(engine) as session:
            assert [s.state for s in runs.steps(session, run.id)] == ["sent", "done", "sent", "done", "sent"]

    async def test_an_activities_worker_runs_no_workflow_task(
        self, dev_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle,
    ) -> None:
        # On the dev server: a workflow task nobody polls for would stop the shared
        # time-skipping server's clock for every later test, even after the run is closed.
        settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}",
                                                    "worker_role": "activities"})

        async def client():  # type: ignore[no-untyped-def]
            return dev_env.client

        try:
            async with running_worker(dev_env.client, settings, engine):
                run, _ = await enroll(engine, client, settings, "welcome_sequence", _contact(engine), {})
                await asyncio.sleep(3)
                events = [e.event_type async for e in
                          dev_env.client.get_workflow_handle(run.workflow_id).fetch_history_events()]
        finally:
            await terminate_open_runs(engine, dev_env.client)
        # The first workflow task was never picked up: nothing decided, scheduled or sent.
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED in events
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED not in events
        assert outbox.store.list(limit=None) == []


@pytest.fixture
async def metered_dev() -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """A dev server of this test's own, serving its metrics: its request counters are this
    test's alone."""
    port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()), data_converter=TEST_CONVERTER,
        search_attributes=SEARCH_ATTRIBUTES, dev_server_log_level="error",
        dev_server_extra_args=["--metrics-port", str(port)],
    )
    yield env, f"http://127.0.0.1:{port}/metrics"
    await env.shutdown()


class TestEagerDispatch:
    """A worker of role ``all`` runs the delivery its own workflow task schedules: the server
    hands it back in the answer to that task (eager dispatch) instead of queueing it for a
    poller. Split roles cost the server a matching round trip per delivery (``AddActivityTask``,
    a poll, ``RecordActivityTaskStarted``): `make dev` runs role ``all`` for this, and the
    benchmark's ``--server-ops`` lists the difference. Counted at the server, not timed."""

    @pytest.mark.parametrize("split", [False, True], ids=["role-all", "split-roles"])
    async def test_the_first_delivery_of_a_run(
        self, metered_dev: tuple[WorkflowEnvironment, str], engine: Engine, edge_settings: Settings,
        outbox: OutboxHandle, split: bool,
    ) -> None:
        env, metrics = metered_dev
        settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})

        async def client():  # type: ignore[no-untyped-def]
            return env.client

        async def counted() -> dict[str, float]:
            async with httpx.AsyncClient() as http:
                return server_counters((await http.get(metrics)).text)

        async def sent() -> bool:
            return [c.channel for c in outbox.store.list(limit=None)] == ["email"]

        completed = "service_requests/frontend/RespondActivityTaskCompleted"
        queued = "service_requests/matching/AddActivityTask"
        roles = (["workflows", "activities"] if split else ["all"])
        try:
            async with contextlib.AsyncExitStack() as stack:
                for role in roles:
                    await stack.enter_async_context(running_worker(
                        env.client, settings.model_copy(update={"worker_role": role}), engine))
                before = await counted()
                await enroll(engine, client, settings, "welcome_sequence", _contact(engine), {})
                await eventually(sent)

                async def reported() -> dict[str, float] | None:
                    # The server reports its counters every second or so: once the delivery's
                    # completion is counted, so is whatever queued it.
                    now = await counted()
                    return now if now.get(completed, 0) > before.get(completed, 0) else None

                after = await eventually(reported)
        finally:
            await terminate_open_runs(engine, env.client)
        added = after.get(queued, 0) - before.get(queued, 0)
        assert (added > 0) if split else (added == 0)


@pytest.mark.parametrize("role", ["all", "workflows", "activities"])
def test_every_role_is_a_setting(role: str) -> None:
    assert Settings(worker_role=role).worker_role == role  # type: ignore[arg-type]


def test_an_unknown_role_is_a_configuration_error() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Settings(worker_role="everything")  # type: ignore[arg-type]
