from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import Engine
from temporalio.service import RPCError, RPCStatusCode

from api.deps import AccessDep, EngineDep, TemporalDep
from api.schemas.common import Id, Page
from api.schemas.runs import RunPublic
from api.temporal import TemporalGateway
from followthrough.logging import get_logger
from followthrough.models.runs import StepRecord
from followthrough.models.vocab import RunStatus
from followthrough.store import runs
from followthrough.store.db import session_scope
from followthrough.store.tables import Run, RunStep

router = APIRouter(prefix="/v1/runs", tags=["runs"])
log = get_logger("api.runs")


#: ``created`` belongs to enrollment answers and ``steps`` to a single run: left out, not null.
_LIST_FIELDS = {"items": {"__all__": {"created", "steps"}}}


@router.get("", response_model=Page[RunPublic], response_model_exclude=_LIST_FIELDS,  # type: ignore[arg-type]
            summary="Runs, newest first")
def list_runs(
    engine: EngineDep,
    access: AccessDep,
    contact_id: Annotated[Id | None, Query()] = None,
    kind: str | None = None,
    status: RunStatus | None = None,
    definition: str | None = None,
    problem: bool | None = Query(None, description="true: only runs that cannot make progress "
                                 "(their workflow task keeps failing); false: only the others"),
    cursor: Annotated[str | None, Query(max_length=40, description="A next_cursor (a run id).")] = None,
    limit: int = Query(50, ge=1, le=200),
) -> Page[RunPublic]:
    with session_scope(engine) as session:
        rows = runs.list_page(
            session, contact_id=contact_id, kind=kind, status=status, definition_name=definition,
            problem=problem, before=cursor, limit=limit + 1, visible=access.read,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=[RunPublic.of(r) for r in rows], next_cursor=rows[-1].id if more else None)


#: How long a run's view waits for its workflow's held step records before it shows the table's.
HELD_STEPS_TIMEOUT = timedelta(seconds=2)


@router.get("/{run_id}", response_model=RunPublic, response_model_exclude={"created"},
            summary="A run with its step executions")
async def get_run(run_id: str, engine: EngineDep, temporal: TemporalDep) -> RunPublic:
    """The steps as the runs table holds them, and, while a sequence runs, the newest ones its
    workflow holds and has not written yet (a run writes its records with the activities it
    calls anyway, not before every wait). When the workflow does not answer in time (no worker,
    Temporal down), the table's steps alone: the newest may then be missing."""
    run, steps = await asyncio.to_thread(_run_with_steps, engine, run_id)
    held: list[StepRecord] = []
    if run.status == RunStatus.RUNNING and run.kind == "sequence":
        held = await _held_steps(temporal, run.workflow_id)
    return RunPublic.of(run, steps=steps, held=held)


def _run_with_steps(engine: Engine, run_id: str) -> tuple[Run, list[RunStep]]:
    with session_scope(engine) as session:
        run = runs.get(session, run_id)
        steps = runs.steps(session, run_id)
        session.expunge_all()
        return run, steps


async def _held_steps(temporal: TemporalGateway, workflow_id: str) -> list[StepRecord]:
    """Best effort, within ``HELD_STEPS_TIMEOUT`` in all (connecting, the SDK's retries of an
    unavailable server, a worker replaying the run to answer): whatever goes wrong, the view
    shows the table's steps, and the log says why."""
    try:
        async with asyncio.timeout(HELD_STEPS_TIMEOUT.total_seconds()):
            client = await temporal.client()
            return await client.get_workflow_handle(workflow_id).query(
                "held_steps", result_type=list[StepRecord], rpc_timeout=HELD_STEPS_TIMEOUT)
    except Exception as exc:
        log.warning("held steps of %s not read: %s", workflow_id, type(exc).__name__)
        return []


@router.post("/{run_id}/cancel", response_model=RunPublic, response_model_exclude={"created", "steps"},
             status_code=202, summary="Cancel a run")
async def cancel_run(
    run_id: str, engine: EngineDep, temporal: TemporalDep
) -> RunPublic:
    """Asks the workflow to cancel; it records ``cancelled`` itself. An ended run is returned
    unchanged; a run whose workflow is gone is marked cancelled here."""
    run = await asyncio.to_thread(_get, engine, run_id)
    if run.status != RunStatus.RUNNING:
        return RunPublic.of(run)
    client = await temporal.client()
    try:
        await client.get_workflow_handle(run.workflow_id).cancel()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        await asyncio.to_thread(_finish, engine, run_id)
    return RunPublic.of(await asyncio.to_thread(_get, engine, run_id))


def _get(engine, run_id: str):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return runs.get(session, run_id)


def _finish(engine, run_id: str) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        runs.finish(session, run_id, RunStatus.CANCELLED, "cancelled (workflow not found)")
