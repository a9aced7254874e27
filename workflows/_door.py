"""A message to a person, sent from an entity workflow (a task, a brief, an absence report):
through the delivery door, waiting out "not now" on a durable timer and asking again with the same
ledger key, and recording a give-up. One piece, so every such workflow handles the door alike.

Workflow code: it runs in the calling workflow (imported through ``imports_passed_through``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.delivery import DeliveryActivities
    from followthrough.ids import ledger_key
    from followthrough.models.runs import DeliverInput, DeliverResult, GiveUpInput
    from followthrough.models.vocab import LedgerState
    from workflows._support import (
        BOOKKEEPING_RETRY,
        BOOKKEEPING_START_TO_CLOSE,
        DELIVERY_HEARTBEAT,
        DELIVERY_RETRY,
        DELIVERY_SCHEDULE_TO_CLOSE,
        DELIVERY_START_TO_CLOSE,
    )

#: Waits until a deferred message may be asked again (the instant given) and answers None, or
#: answers why it should not be sent any more (it is then withdrawn, recorded as skipped).
Waiter = Callable[[datetime], Awaitable[str | None]]


@dataclass(frozen=True)
class GaveUp:
    """The message was not sent: retries ran out (``gave_up``) or it was withdrawn (a reason);
    ``state`` is what the ledger recorded."""

    reason: str
    state: LedgerState | None


async def deliver(message: DeliverInput, *, wait: Waiter | None = None,
                  schedule_to_close: timedelta = DELIVERY_SCHEDULE_TO_CLOSE) -> DeliverResult | GaveUp:
    """The door's final answer for ``message``, or GaveUp. A deferral ("not now": the person's
    working time, an absence) sleeps until the door's time, or as ``wait`` decides."""
    key = ledger_key(message.run_id, message.step_id, message.visit)
    while True:
        try:
            result: DeliverResult = await workflow.execute_activity_method(
                DeliveryActivities.deliver, message.model_copy(update={"at": workflow.now()}),
                start_to_close_timeout=DELIVERY_START_TO_CLOSE, schedule_to_close_timeout=schedule_to_close,
                heartbeat_timeout=DELIVERY_HEARTBEAT, retry_policy=DELIVERY_RETRY,
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            return await give_up(key, "gave_up", skipped=False)
        if result.state != LedgerState.DEFERRED or result.defer_until is None:
            return result
        until = max(result.defer_until, workflow.now() + timedelta(seconds=1))
        if wait is None:
            await workflow.sleep(until - workflow.now())
        elif (withdrawn := await wait(until)) is not None:
            return await give_up(key, withdrawn, skipped=True)


async def give_up(key: str, reason: str, *, skipped: bool) -> GaveUp:
    """Record that the message under ``key`` will not be sent (its row ``failed``/``skipped``)."""
    state = await workflow.execute_local_activity_method(
        DeliveryActivities.give_up, GiveUpInput(key=key, reason=reason, skipped=skipped),
        start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY,
    )
    return GaveUp(reason, state)
