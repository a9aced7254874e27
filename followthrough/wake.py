"""Waking the runs a hold deferred: when a hold on a contact is lifted (through the API, or by
a resolved ticket), each of the contact's active runs gets the ``wake`` signal, and a send the
hold deferred asks the door again at once instead of at its next check (an open hold is
re-checked hourly: ``policy.contact_policy``). Best effort: a run that misses the signal still
sends at that check."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from followthrough.logging import get_logger
from followthrough.store import runs
from followthrough.store.db import read_scope

log = get_logger("wake")

#: The signal a sequence run takes (workflows/sequence.py ``wake``).
WAKE_SIGNAL = "wake"


def active_runs(engine: Engine, contact_id: int) -> list[str]:
    with read_scope(engine) as session:
        return [run.workflow_id for run in runs.active_for_contact(session, contact_id)]


async def wake_runs(client: Client, workflow_ids: list[str]) -> None:
    """Signal ``wake`` to each run; one that has ended meanwhile is skipped."""
    for workflow_id in workflow_ids:
        try:
            await client.get_workflow_handle(workflow_id).signal(WAKE_SIGNAL)
        except RPCError as exc:
            if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise
            log.info("run ended before the hold was lifted", workflow_id=workflow_id)
