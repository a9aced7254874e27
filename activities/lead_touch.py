"""An outbound message is a lead's first touch: a non-internal delivery (to the contact, not to
a user) that the door records as sent, by any run, while the contact's lead is ``assigned``
(after assignment, before the first touch) stops that lead's first-touch SLA. The door tells the
lead's workflow (``outbound.sent``); the workflow checks the stage again, so a message that
crosses a stage change counts only while the lead waits for its first touch.

Best effort by design: the message has been sent whatever happens here, so a failure to tell the
lead is logged, not raised (a retried delivery would not send again, but its result would be
delayed). The owner's task and the ``contacted`` update remain the sure ways to stop the clock.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from sqlmodel import select
from temporalio import activity
from temporalio.service import RPCError

from followthrough.models.leads import OUTBOUND_SENT
from followthrough.models.runs import DeliverInput, DeliverResult, RunEvent
from followthrough.models.vocab import LeadStage, LedgerState
from followthrough.store.db import read_scope
from followthrough.store.tables import Lead

TOUCHING_STATES = frozenset({LedgerState.SENT, LedgerState.DELIVERED})


def _waiting_lead(engine: Engine, contact_id: int) -> str | None:
    with read_scope(engine) as session:
        query = select(Lead.workflow_id).where(Lead.contact_id == contact_id, Lead.stage == LeadStage.ASSIGNED)
        return session.exec(query).first()


async def tell_lead(engine: Engine, input: DeliverInput, result: DeliverResult, key: str) -> None:
    """Signal the contact's assigned lead that ``input`` went out (see the module)."""
    if input.to_user_id is not None or input.contact_id is None or result.state not in TOUCHING_STATES:
        return
    workflow_id = await asyncio.to_thread(_waiting_lead, engine, input.contact_id)
    if workflow_id is None:
        return
    event = RunEvent(kind=OUTBOUND_SENT, channel=result.channel, data={"key": key, "run_id": input.run_id})
    try:
        await activity.client().get_workflow_handle(workflow_id).signal("event", event)
    except RPCError as exc:
        activity.logger.warning("lead %s not told of message %s: %s", workflow_id, key, exc)
