"""Runs that cannot make progress: found in Temporal, recorded on the runs table.

A workflow whose workflow task keeps failing (a payload over Temporal's size limit, a
nondeterminism after a bad deploy, a bug that raises in workflow code) stays ``running`` in
Temporal and in our table, for ever, while nothing happens. Temporal retries such a task without
writing each attempt to the history: the newest workflow-task outcome in the history is a
``WorkflowTaskFailed`` event, with no ``WorkflowTaskCompleted`` after it. ``check_runs`` looks
that up for every running run and records the problem (cause, message, since when) on its row,
or clears it once a task completes again; the API shows it and lists such runs
(``GET /v1/runs?problem=true``). Visibility cannot filter on this, so the table holds it.

The worker process runs ``watch`` (every ``FT_RUN_CHECK_INTERVAL`` seconds): a Python
interceptor never sees these failures, since some (payload sizes) are raised by the SDK core
after the workflow code completed its task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC

from sqlalchemy import Engine
from sqlmodel import select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client
from temporalio.service import RPCError

from followthrough.logging import get_logger
from followthrough.models.runs import RunProblem
from followthrough.models.vocab import RunStatus
from followthrough.store import runs
from followthrough.store.db import session_scope
from followthrough.store.tables import Run

log = get_logger("run_watch")

_CAUSE_PREFIX = "WORKFLOW_TASK_FAILED_CAUSE_"
#: Enough to reach the last workflow task's outcome past a burst of signals or markers.
_PAGE = 100
_MESSAGE_LIMIT = 500
#: Failures that are part of normal operation: a signal arrived while the task completed (the
#: server asks again at once), or a worker lost its sticky cache.
_BENIGN = frozenset({WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
                     WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE})
#: Runs looked at concurrently: one history read each.
_CONCURRENCY = 8


async def workflow_problem(client: Client, workflow_id: str) -> RunProblem | None:
    """The problem of the workflow's current run, or None when its last workflow task completed
    (or it has none yet)."""
    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id),
        maximum_page_size=_PAGE,
    )
    response = await client.workflow_service.get_workflow_execution_history_reverse(request)
    for event in response.history.events:  # newest first
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return None
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failed = event.workflow_task_failed_event_attributes
            if failed.cause in _BENIGN:
                return None
            cause = WorkflowTaskFailedCause.Name(failed.cause).removeprefix(_CAUSE_PREFIX)
            return RunProblem(code=cause, message=failed.failure.message[:_MESSAGE_LIMIT],
                              since=event.event_time.ToDatetime(tzinfo=UTC))
    return None


async def check_runs(engine: Engine, client: Client) -> list[str]:
    """Look at every running run; record or clear its problem. Returns the ids of the runs that
    have one now."""
    rows = await asyncio.to_thread(_running, engine)
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def check(run_id: str, workflow_id: str) -> str | None:
        async with limit:
            try:
                problem = await workflow_problem(client, workflow_id)
            except RPCError as exc:  # gone, or Temporal unavailable: try again next time
                log.info("run check skipped", run_id=run_id, error=str(exc))
                return None
            await asyncio.to_thread(_record, engine, run_id, problem)
            return run_id if problem is not None else None

    found = await asyncio.gather(*(check(run_id, workflow_id) for run_id, workflow_id in rows))
    return [run_id for run_id in found if run_id is not None]


async def watch(engine: Engine, client: Client, interval: float) -> None:
    """Check the running runs every ``interval`` seconds until cancelled."""
    while True:
        try:
            await check_runs(engine, client)
        except Exception:  # a broken check must not stop the worker; it is logged
            log.exception("run check failed")
        await asyncio.sleep(interval)


def _running(engine: Engine) -> Sequence[tuple[str, str]]:
    with session_scope(engine) as session:
        query = select(Run.id, Run.workflow_id).where(Run.status == RunStatus.RUNNING)
        return [(run_id, workflow_id) for run_id, workflow_id in session.exec(query)]


def _record(engine: Engine, run_id: str, problem: RunProblem | None) -> None:
    with session_scope(engine) as session:
        run = runs.get(session, run_id)
        if run.status != RunStatus.RUNNING:
            return
        if runs.set_problem(session, run_id, problem):
            log.warning("run cannot make progress" if problem else "run makes progress again",
                        run_id=run_id, code=problem.code if problem else None)
