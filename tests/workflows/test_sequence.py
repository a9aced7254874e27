"""SequenceWorkflow on the time-skipping server: real SMTP and Twilio-compatible servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.enrollment import enroll
from followthrough.models.runs import SEQUENCE_BEHAVIOUR, SequenceInput, SequenceResult
from followthrough.settings import Settings
from followthrough.store import contacts, definitions, ledger, runs, timeline
from followthrough.store.db import session_scope
from tests.conftest import start_time_skipping
from tests.support.history import local_activities, patch_markers
from tests.support.run_view import shown_steps
from tests.support.stack import running_worker
from tests.support.waiting import eventually


def _contact(engine: Engine, **fields) -> int:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return contacts.create(session, fields).id  # type: ignore[return-value]


class TestWelcomeSequence:
    async def test_russian_contact_gets_email_sms_call_once_each(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
        contact_id = _contact(engine, name="Анна Иванова", email="anna@example.test",
                              phone="+15555550101", locale="ru-RU", time_zone="Europe/Moscow")

        async def client():  # type: ignore[no-untyped-def]
            return ts_env.client

        async with running_worker(ts_env.client, settings, engine):
            run, created = await enroll(engine, client, settings, "welcome_sequence", contact_id, {})
            assert created is True
            # Handles from get_workflow_handle do not unlock time skipping: move time explicitly.
            await ts_env.sleep(timedelta(days=4, minutes=1))
            result = await ts_env.client.get_workflow_handle(
                run.workflow_id, result_type=SequenceResult
            ).result()

        assert result.status == "completed"
        captures = outbox.store.list(limit=None)
        assert sorted(c.channel for c in captures) == ["email", "sms", "voice"]
        email = next(c for c in captures if c.channel == "email")
        assert email.to == "anna@example.test"
        assert "Анна" in (email.text or "")
        sms = next(c for c in captures if c.channel == "sms")
        assert sms.to == "+15555550101" and any("\u0400" <= ch <= "\u04ff" for ch in sms.text)
        with session_scope(engine) as session:
            row = runs.get(session, run.id)
            steps = runs.steps(session, run.id)
            deliveries = ledger.list_page(session, run_id=run.id)
        assert row.status == "completed" and row.active_key is None
        assert [(s.step_id, s.state) for s in steps] == [
            ("welcome_email", "sent"), ("wait_before_sms", "done"), ("followup_sms", "sent"),
            ("wait_before_call", "done"), ("welcome_call", "sent"),
        ]
        assert sorted(d.state for d in deliveries) == ["sent", "sent", "sent"]


class TestLeanBookkeeping:
    async def test_step_records_ride_on_the_activities_the_run_calls_anyway(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        """email, wait, sms, wait, call: no local activity, where there was one per step
        record (fifteen) and one to finish. The first snapshot of the contact comes with the run's input
        (``contact-in-input``), no decision of this definition reads it, so it is not reloaded
        after the waits (``contact-when-read``), and the records are written by the deliveries
        the run calls anyway, not before each wait (``steps-with-activities``): while it waits,
        the run's view shows the ones it holds."""
        settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
        contact_id = _contact(engine, name="Lean Person", email="lean@example.test", phone="+15555550102")

        async def client():  # type: ignore[no-untyped-def]
            return ts_env.client

        async with running_worker(ts_env.client, settings, engine):
            run, _ = await enroll(engine, client, settings, "welcome_sequence", contact_id, {})
            handle = ts_env.client.get_workflow_handle(run.workflow_id, result_type=SequenceResult)
            await ts_env.sleep(timedelta(days=1))  # in the first wait
            shown = [(s.step_id, s.state) for s in await shown_steps(engine, ts_env.client, run.id)]
            with session_scope(engine) as session:
                written = [(s.step_id, s.state) for s in runs.steps(session, run.id)]
            assert shown == [("welcome_email", "sent"), ("wait_before_sms", "active")]
            assert written == [("welcome_email", "active")]  # by the delivery's claim
            await ts_env.sleep(timedelta(days=3, minutes=1))
            assert (await handle.result()).status == "completed"
            history = await handle.fetch_history()

        # The last send's delivery ended the run (``end-with-last-send``): no ``finish_run``.
        assert local_activities(history) == []
        # Every change the run takes, with no marker (``SequenceInput.behaviour``), so no
        # ``TemporalChangeVersion`` upsert either: as many events as a bare workflow's.
        assert patch_markers(history) == 0
        assert not any(e.HasField("upsert_workflow_search_attributes_event_attributes") for e in history.events)
        with session_scope(engine) as session:
            ended = runs.get(session, run.id)
            ends = [e.kind for e in timeline.page(session, contact_id, before=None, limit=50)
                    if e.run_id == run.id and e.kind != "run.started" and e.kind.startswith("run.")]
        assert (ended.status, ended.reason, ended.active_key) == ("completed", "end_of_sequence", None)
        assert ends == ["run.completed"]
        with session_scope(engine) as session:
            steps = runs.steps(session, run.id)
        assert [(s.seq, s.step_id, s.state) for s in steps] == [
            (1, "welcome_email", "sent"), (2, "wait_before_sms", "done"), (3, "followup_sms", "sent"),
            (4, "wait_before_call", "done"), (5, "welcome_call", "sent"),
        ]
        assert all(s.finished_at is not None for s in steps)


class TestContactAfterAWait:
    async def test_a_condition_after_a_wait_sees_the_contact_as_it_is_now(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        """A definition whose decisions read the contact reloads it after each wait: a change
        made while the run waited decides the branch."""
        settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
        contact_id = _contact(engine, name="Vera Later", email="vera@example.test", attributes={"vip": False})
        document = {"name": "vip_check", "kind": "sequence", "steps": [
            {"id": "pause", "type": "wait", "duration": "PT1H"},
            {"id": "vip", "type": "if", "condition": "contact.attributes.vip", "then": "mail", "else": "done"},
            {"id": "done", "type": "exit", "reason": "not a vip"},
            {"id": "mail", "type": "send", "channel": "email", "template": "welcome"}]}
        with session_scope(engine) as session:
            definitions.save(session, "vip_check", "sequence", document, publish=True)

        async def client():  # type: ignore[no-untyped-def]
            return ts_env.client

        async with running_worker(ts_env.client, settings, engine):
            run, _ = await enroll(engine, client, settings, "vip_check", contact_id, {})
            handle = ts_env.client.get_workflow_handle(run.workflow_id, result_type=SequenceResult)
            assert await handle.query("current_step") == "pause"
            with session_scope(engine) as session:
                contacts.update(session, contacts.get(session, contact_id), {"attributes": {"vip": True}})
            await ts_env.sleep(timedelta(hours=1, minutes=1))
            assert (await handle.result()).status == "completed"
            history = await handle.fetch_history()

        assert [c.to for c in outbox.store.list(limit=None)] == ["vera@example.test"]
        assert local_activities(history) == ["load_contact"]  # the send ended the run


class TestHeldSteps:
    async def test_a_run_of_waits_without_sends_writes_what_it_holds_every_twenty_records(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        """No delivery takes the records along: the run writes them itself before a wait once it
        holds ``MAX_HELD_STEPS`` (21 records at the 11th and again at the 21st of 22 waits)."""
        settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
        contact_id = _contact(engine, name="Patient Person", email="patient@example.test")
        steps = [{"id": f"w{n}", "type": "wait", "duration": "PT1M"} for n in range(22)]
        with session_scope(engine) as session:
            definitions.save(session, "many_waits", "sequence", {"name": "many_waits", "kind": "sequence",
                                                                  "steps": steps}, publish=True)

        async def client():  # type: ignore[no-untyped-def]
            return ts_env.client

        async with running_worker(ts_env.client, settings, engine):
            run, _ = await enroll(engine, client, settings, "many_waits", contact_id, {})
            handle = ts_env.client.get_workflow_handle(run.workflow_id, result_type=SequenceResult)
            await ts_env.sleep(timedelta(minutes=30))
            assert (await handle.result()).status == "completed"
            history = await handle.fetch_history()

        assert local_activities(history) == ["record_steps", "record_steps", "finish_run"]
        with session_scope(engine) as session:
            assert [(s.step_id, s.state) for s in runs.steps(session, run.id)] == [(f"w{n}", "done") for n in range(22)]


@pytest.fixture
async def own_ts() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own: a workflow task that keeps failing stops the
    shared server's clock for the tests after it, even once its run is terminated."""
    env = await start_time_skipping()
    yield env
    await env.shutdown()


class TestBehaviour:
    async def test_a_run_of_a_behaviour_this_worker_does_not_know_waits_for_one_that_does(
        self, own_ts: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        """A run enrolled by a newer API than this worker: its workflow task fails (Temporal
        retries it) before the run does anything, and the run stays open for a newer worker."""
        ts_env = own_ts
        settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
        contact_id = _contact(engine, name="Future Person", email="future@example.test")
        start = SequenceInput(run_id="run_future", contact_id=contact_id, definition_name="welcome_sequence",
                              definition_version=1, definition={"name": "welcome_sequence", "steps": [
                                  {"id": "mail", "type": "send", "channel": "email", "template": "welcome"}]},
                              behaviour=SEQUENCE_BEHAVIOUR + 1)
        async with running_worker(ts_env.client, settings, engine):
            handle = await ts_env.client.start_workflow(
                "SequenceWorkflow", start, id=f"wf-{uuid.uuid4().hex}", task_queue=settings.task_queue)

            async def failed_task() -> list[BaseException]:
                history = await handle.fetch_history()
                return [await ts_env.client.data_converter.decode_failure(e.workflow_task_failed_event_attributes.failure)
                        for e in history.events if e.HasField("workflow_task_failed_event_attributes")]

            [failure, *_] = await eventually(failed_task)
            assert f"sequence behaviour {SEQUENCE_BEHAVIOUR + 1}" in str(failure)
            history = await handle.fetch_history()
            assert not any(e.HasField("activity_task_scheduled_event_attributes") for e in history.events)
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
            await handle.terminate("test over")
        assert outbox.store.list(limit=None) == []
