"""A long-lived run continues as new at a wait boundary and goes on where it was: the same run
in our table, its timeline and ledger keys continuing, no message sent twice (time-skipping
server, real loopback SMTP)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import Engine
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.enrollment import enroll
from followthrough.models.runs import SequenceResult
from followthrough.settings import Settings
from followthrough.store import contacts, definitions, ledger, runs
from followthrough.store.db import session_scope
from tests.support.stack import running_worker

LOOPS = 6
LOOPING = {
    "name": "looping", "kind": "sequence", "category": "service", "locales": ["en"],
    "steps": [
        {"id": "mail", "type": "send", "channel": "email", "template": "welcome"},
        {"id": "pause", "type": "wait", "duration": "PT1H"},
        {"id": "again", "type": "if", "condition": f"run.visits.mail < {LOOPS}", "then": "mail",
         "else": "done"},
        {"id": "done", "type": "exit", "reason": "looped"},
    ],
}


class TestContinueAsNew:
    async def test_a_looping_run_continues_as_new_and_goes_on_with_its_timeline(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        # About 20 events per loop: the run continues as new every loop or two.
        settings = edge_settings.model_copy(update={
            "task_queue": f"q-{uuid.uuid4().hex}", "workflow_history_limit": 30})
        with session_scope(engine) as session:
            definitions.save(session, "looping", "sequence", LOOPING, publish=True)
            contact_id = contacts.create(session, {"name": "Loop", "email": "loop@example.test"}).id
        assert contact_id is not None

        async def client():  # type: ignore[no-untyped-def]
            return ts_env.client

        async with running_worker(ts_env.client, settings, engine):
            run, _ = await enroll(engine, client, settings, "looping", contact_id, {})
            await ts_env.sleep(timedelta(hours=LOOPS + 1))
            handle = ts_env.client.get_workflow_handle(run.workflow_id, result_type=SequenceResult)
            result = await handle.result()
            history = await handle.fetch_history()

        assert (result.status, result.reason) == ("completed", "looped")
        started = history.events[0].workflow_execution_started_event_attributes
        assert started.continued_execution_run_id != ""  # this run is a continuation
        first = ts_env.client.get_workflow_handle(run.workflow_id, run_id=started.first_execution_run_id)
        assert (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW

        with session_scope(engine) as session:
            row = runs.get(session, run.id)
            steps = runs.steps(session, run.id)
            rows = ledger.list_page(session, run_id=run.id)
            assert runs.list_page(session, contact_id=contact_id) == [row]
        assert (row.status, row.reason) == ("completed", "looped")
        assert [s.seq for s in steps] == list(range(1, 3 * LOOPS + 2))
        assert [(s.step_id, s.state) for s in steps] == [
            *[(step, state) for _ in range(LOOPS)
              for step, state in (("mail", "sent"), ("pause", "done"), ("again", "done"))],
            ("done", "done")]
        assert sorted((r.visit, r.state) for r in rows) == [(v, "sent") for v in range(1, LOOPS + 1)]
        assert [c.to for c in outbox.store.list(limit=None)] == ["loop@example.test"] * LOOPS
