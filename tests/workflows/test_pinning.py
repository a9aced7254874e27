"""A run keeps the definition version and the calendars it started with, whatever is published or
edited later (time-skipping server, the production worker registry, the loopback outbox)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.calendar import Calendar, add_business_time
from followthrough.enrollment import enroll
from followthrough.models.runs import SequenceInput, SequenceResult
from followthrough.settings import Settings
from followthrough.store import calendars, contacts, definitions, runs
from followthrough.store.db import session_scope
from followthrough.store.tables import Run
from tests.support.stack import running_worker

V1 = [{"id": "pause", "type": "wait", "duration": "P3D"},
      {"id": "mail", "type": "send", "channel": "email", "template": "welcome"}]
V2 = [{"id": "text", "type": "send", "channel": "sms", "template": "welcome_followup"}]
SHOP = Calendar(name="shop", time_zone="UTC", week={d: [("09:00", "10:00")] for d in  # type: ignore[misc]
                ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})


def _save_and_publish(engine: Engine, name: str, steps: list[dict[str, Any]]) -> int:
    document = {"name": name, "kind": "sequence", "category": "service", "locales": ["en"],
                "stop_on": [], "steps": steps}
    with session_scope(engine) as session:
        row, created = definitions.save(session, name, "sequence", document, publish=False)
        assert created
        return definitions.publish(session, name).version


def _contact(engine: Engine, email: str, phone: str) -> int:
    with session_scope(engine) as session:
        return contacts.create(session, {"name": "Ada", "email": email, "phone": phone}).id  # type: ignore[return-value]


def _steps(engine: Engine, run: Run) -> tuple[int | None, list[tuple[str, str]]]:
    with session_scope(engine) as session:
        return (runs.get(session, run.id).definition_version,
                [(s.step_id, s.state) for s in runs.steps(session, run.id)])


async def _start_input(ts_env: WorkflowEnvironment, handle: WorkflowHandle) -> SequenceInput:
    history = await handle.fetch_history()
    payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
    [start] = await ts_env.client.data_converter.decode(payloads, [SequenceInput])
    return start


class TestVersionPinning:
    async def test_a_run_keeps_its_version_across_a_publish(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
        name = f"pinned_{uuid.uuid4().hex[:8]}"
        early = _contact(engine, "early@example.test", "+15555550191")
        late = _contact(engine, "late@example.test", "+15555550192")

        async def client():  # type: ignore[no-untyped-def]
            return ts_env.client

        async with running_worker(ts_env.client, settings, engine):
            assert _save_and_publish(engine, name, V1) == 1
            old_run, _ = await enroll(engine, client, settings, name, early, {})
            old = ts_env.client.get_workflow_handle(old_run.workflow_id, result_type=SequenceResult)
            await ts_env.sleep(timedelta(hours=1))  # the v1 run is inside its three-day wait

            assert _save_and_publish(engine, name, V2) == 2
            new_run, _ = await enroll(engine, client, settings, name, late, {})
            new = ts_env.client.get_workflow_handle(new_run.workflow_id, result_type=SequenceResult)
            assert (await new.result()).status == "completed"
            assert outbox.store.list(to="early@example.test", limit=None) == []  # v1 still waits

            await ts_env.sleep(timedelta(days=3))
            assert (await old.result()).status == "completed"

        assert _steps(engine, old_run) == (1, [("pause", "done"), ("mail", "sent")])
        assert _steps(engine, new_run) == (2, [("text", "sent")])
        captured = sorted((c.channel, c.to) for c in outbox.store.list(limit=None))
        assert captured == [("email", "early@example.test"), ("sms", "+15555550192")]
        assert (await _start_input(ts_env, old)).definition == definitions_document(engine, name, 1)

    async def test_a_run_keeps_the_calendar_it_started_with(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
        name = f"shop_hours_{uuid.uuid4().hex[:8]}"
        with session_scope(engine) as session:
            calendars.put(session, SHOP)
        _save_and_publish(engine, name, [
            {"id": "pause", "type": "wait", "duration": "PT1H"},
            {"id": "office", "type": "wait", "business": {"duration": "PT2H", "calendar": "shop"}},
        ])
        contact = _contact(engine, "shop@example.test", "+15555550193")

        async def client():  # type: ignore[no-untyped-def]
            return ts_env.client

        async with running_worker(ts_env.client, settings, engine):
            run, _ = await enroll(engine, client, settings, name, contact, {})
            handle = ts_env.client.get_workflow_handle(run.workflow_id, result_type=SequenceResult)
            edited = SHOP.model_copy(update={"time_zone": "Asia/Tokyo"})
            with session_scope(engine) as session:
                calendars.put(session, edited)  # after the enrollment: the run must not see it
            await ts_env.sleep(timedelta(days=5))
            assert (await handle.result()).status == "completed"

        start = await _start_input(ts_env, handle)
        assert start.calendars == {"shop": calendars.document_of(SHOP)}
        with session_scope(engine) as session:
            office = next(s for s in runs.steps(session, run.id) if s.step_id == "office")
        began, due = _utc(office.started_at), _utc(office.due_at)
        assert due == add_business_time(SHOP, began, timedelta(hours=2))
        assert due != add_business_time(edited, began, timedelta(hours=2))


def definitions_document(engine: Engine, name: str, version: int) -> dict[str, Any]:
    with session_scope(engine) as session:
        return definitions.get(session, name, version).document


def _utc(value: datetime | None) -> datetime:
    assert value is not None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
