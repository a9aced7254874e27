"""A sequence run's steps as ``GET /v1/runs/{id}`` shows them: the table's, and on top of them the
records its workflow holds and has not written yet (``held_steps``), for tests that look at a
run while it waits."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio.client import Client

from followthrough.models.runs import StepRecord
from followthrough.store import runs
from followthrough.store.db import session_scope
from followthrough.store.tables import RunStep


async def shown_steps(engine: Engine, client: Client, run_id: str) -> list[RunStep | StepRecord]:
    with session_scope(engine) as session:
        run = runs.get(session, run_id)
        workflow_id, running = run.workflow_id, run.status == "running"
    held = (await client.get_workflow_handle(workflow_id).query("held_steps", result_type=list[StepRecord])
            if running else [])
    with session_scope(engine) as session:
        table = runs.steps(session, run_id)
        session.expunge_all()
    return runs.with_held(table, held)
