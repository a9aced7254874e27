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

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.service import RPCError

from followthrough.models.leads import OUTBOUND_SENT
from followthrough.models.runs import DeliverInput, DeliverResult, RunEvent
from followthrough.models.vocab import LeadStage, LedgerState
from followthrough.store.tables import Lead

TOUCHING_STATES = frozenset({LedgerState.SENT, LedgerState.DELIVERED})
_WAITING = (select(Lead.workflow_id)  # type: ignore[call-overload]
            .where(Lead.contact_id == bindparam("contact"),
                   Lead.stage == LeadStage.ASSIGNED).limit(1))


def waiting_lead(session: Session, input: DeliverInput, result: DeliverResult) -> str | None:
    """The workflow of the contact's lead waiting for its first touch, if ``result`` is one;
    read in the door's own transaction that records the outcome (issue 9: not a transaction
    and a thread hop of its own per message)."""
    if input.to_user_id is not None or input.contact_id is None or result.state not in TOUCHING_STATES:
        return None
    return session.execute(_WAITING, {"contact": input.contact_id}).scalar()


async def tell_lead(workflow_id: str | None, input: DeliverInput, result: DeliverResult, key: str) -> None:
    """Signal the lead workflow ``waiting_lead`` found that ``input`` went out (see the module)."""
    if workflow_id is None:
        return
    event = RunEvent(kind=OUTBOUND_SENT, channel=result.channel, data={"key": key, "run_id": input.run_id})
    try:
        await activity.client().get_workflow_handle(workflow_id).signal("event", event)
    except RPCError as exc:
        activity.logger.warning("lead %s not told of message %s: %s", workflow_id, key, exc)
