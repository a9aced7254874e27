"""The absence report's workflow, started and stopped with the absence (API side)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from api.temporal import TemporalGateway
from followthrough.logging import get_logger
from followthrough.models.absence import AbsenceReportInput, absence_workflow_id
from followthrough.settings import Settings
from followthrough.store.db import as_utc
from followthrough.store.tables import Absence

log = get_logger("absence")
WORKFLOW = "AbsenceReportWorkflow"


async def start_report(client: Client, settings: Settings, absence: Absence) -> None:
    """Start ``absence-<id>`` (an existing one is kept)."""
    assert absence.id is not None
    await client.start_workflow(
        WORKFLOW, AbsenceReportInput(absence_id=absence.id, starts_at=as_utc(absence.starts_at)),  # type: ignore[arg-type]
        id=absence_workflow_id(absence.id), task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)


async def report_when_it_starts(temporal: TemporalGateway, settings: Settings, absence: Absence) -> None:
    """Best effort: an absence is recorded even when Temporal is down (its messages to the user
    still wait; only the manager's report is lost)."""
    try:
        await start_report(await temporal.client(), settings, absence)
    except Exception as exc:
        log.warning("absence report not scheduled", absence_id=absence.id, error=str(exc))


async def drop_report(temporal: TemporalGateway, absence_id: int) -> None:
    """The absence was deleted: its report is cancelled (one that ran already is left alone; a
    failure here is harmless, the report then finds no absence and sends nothing)."""
    try:
        await (await temporal.client()).get_workflow_handle(absence_workflow_id(absence_id)).cancel()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            log.warning("absence report not cancelled", absence_id=absence_id, error=str(exc))
    except Exception as exc:
        log.warning("absence report not cancelled", absence_id=absence_id, error=str(exc))
