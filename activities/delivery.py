"""The one door for every outbound message (ARCHITECTURE contracts 3-5).

In order: look up the idempotency key (an existing outcome is returned unchanged, so a retry
never re-runs the policy nor counts against a cap); lock the contact, apply consent,
suppression and the contact policy, and store the decision on the ledger row in the same
transaction that claims it; render for the contact's locale; commit the attempt as ``pending``;
call the channel; record the outcome. "Not now" goes back to the workflow as ``deferred``.
A ``pending`` row found by a later attempt whose deadline has passed means an attempt ended
without recording its outcome: it becomes ``uncertain`` and the category's delivery policy decides
whether it is sent again. Before its deadline the earlier attempt may still be sending (a busy
worker late with its heartbeats, retried by Temporal): the retry backs off (``AttemptInFlight``)
and, once that attempt has recorded its outcome, returns it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.door import ATTEMPT_MARGIN, Door, Prepared
from activities.lead_touch import tell_lead
from channels.base import (
    OutboundMessage,
    PermanentChannelError,
    SendReceipt,
    TransientChannelError,
    UnknownOutcomeError,
)
from channels.registry import ChannelRegistry
from followthrough.ids import ledger_key
from followthrough.liveness import Liveness
from followthrough.models.runs import DeliverInput, DeliverResult, GiveUpInput
from followthrough.models.vocab import Channel, LedgerState
from followthrough.rendering import Renderer
from followthrough.settings import Settings

T = TypeVar("T")

#: Must stay well under the workflow's delivery heartbeat timeout (workflows/_support.py).
HEARTBEAT_EVERY = timedelta(seconds=2)
#: Of ``ATTEMPT_MARGIN``, what stays for recording the outcome after the provider call: the call
#: is cut off (an unknown outcome) if it runs into it, and not started if the claim left less.
RECORD_RESERVE = ATTEMPT_MARGIN / 2


class DeliveryActivities:
    def __init__(
        self, engine: Engine, renderer: Renderer, channels: ChannelRegistry, settings: Settings,
        liveness: Liveness | None = None,
    ) -> None:
        self._door = Door(engine, renderer, settings, liveness=liveness)
        self._liveness = liveness
        self._channels = channels
        self._engine = engine

    @activity.defn(name="deliver")
    async def deliver(self, input: DeliverInput) -> DeliverResult:
        """Send one message through the door. The run's held step records (``input.steps``:
        the send under way and those before it) are written by every attempt's claim, in its
        transaction: the step shows as under way from the start, and every answer comes after
        a claim that committed them (``steps_written``)."""
        result = await self._deliver(input)
        return result.model_copy(update={"steps_written": len(input.steps)}) if input.steps else result

    async def _deliver(self, input: DeliverInput) -> DeliverResult:
        key = ledger_key(input.run_id, input.step_id, input.visit)
        now = input.at or datetime.now(UTC)
        failed: list[Channel] = []
        info = activity.info()
        start_to_close, token = info.start_to_close_timeout, info.task_token
        while True:
            # Heartbeats go on while the transaction waits for the database (SQLite's busy
            # timeout is longer than the heartbeat timeout).
            prepared: Prepared = await _with_heartbeat(
                asyncio.to_thread(self._door.prepare, input, key, now, failed, start_to_close, token))
            if prepared.result is not None:
                return prepared.result
            message = prepared.message
            if message is None:
                raise ApplicationError("nothing to send", non_retryable=True)
            if activity.is_cancelled():
                # The run was cancelled while we decided: nothing goes out any more.
                return await asyncio.to_thread(self._door.withdraw, key, prepared.uncertain_before)
            log = {"key": key, "channel": message.channel, "category": input.category}
            try:
                receipt = await _with_heartbeat(self._send(message, prepared.deadline))
            except TransientChannelError as exc:
                await _with_heartbeat(asyncio.to_thread(self._door.retrying, key, exc))
                activity.logger.warning("transient channel error: %s", exc, extra=log)
                raise ApplicationError(
                    f"{message.channel} transient error: {exc}",
                    type="TransientChannelError",
                    next_retry_delay=timedelta(seconds=exc.retry_after) if exc.retry_after else None,
                ) from exc
            except PermanentChannelError as exc:
                activity.logger.info("permanent channel error: %s", exc, extra=log)
                result = await _with_heartbeat(asyncio.to_thread(self._door.failed, input, key, message, exc))
                failed.append(message.channel)
                if not _more_channels(input, failed):
                    return result
                continue  # the step's fallback channels, decided afresh by the policy
            except UnknownOutcomeError as exc:
                activity.logger.warning("outcome unknown: %s", exc, extra=log)
                result, resend = await _with_heartbeat(asyncio.to_thread(self._door.uncertain, input, key, str(exc)))
                if resend:
                    raise ApplicationError(
                        f"{message.channel} outcome unknown, will resend: {exc}",
                        type="UnknownOutcomeError",
                    ) from exc
                return result
            activity.logger.info("sent", extra=log)
            # Recording may wait for the database (a busy SQLite): heartbeats go on meanwhile.
            result, lead = await _with_heartbeat(asyncio.to_thread(
                self._door.sent_to_lead, input, key, message, receipt, prepared.uncertain_before
            ))
            await tell_lead(lead, input, result, key)  # a lead's first touch, if waiting
            return result

    async def _send(self, message: OutboundMessage, deadline: datetime | None) -> SendReceipt:
        """The provider call, ended in time for this attempt to record its outcome before its
        deadline (after which a retry may call the row ``uncertain`` and send again), and while
        this process's liveness lease lasts (after it, a retry may call the process dead)."""
        send = self._channels.get(message.channel).send(message)
        if deadline is None:
            return await send
        budget, leased = self._budget(deadline)
        if budget <= 0:  # the claim took so long (a starved worker) that no call fits any more
            send.close()
            raise TransientChannelError("attempt out of time before the provider call", code="attempt_late")
        call = asyncio.ensure_future(send)
        started = time.monotonic()
        # The channel's own whole-call timeout is shorter: this bounds a channel that has none
        # (the Twilio SDK times each connect and read, not the call). The lease moves on with
        # each beat, so the budget is asked again when it runs out.
        while budget > 0:
            done, _ = await asyncio.wait({call}, timeout=budget)
            if done:
                return call.result()
            budget, leased = self._budget(deadline)
        call.cancel()
        await asyncio.wait({call})
        if not call.cancelled():  # it ended meanwhile: its own answer is the truth
            return call.result()
        raise UnknownOutcomeError(
            "provider call cut off: this worker process's liveness lease ran out" if leased
            else f"provider call exceeded {time.monotonic() - started:.0f} s", code="provider_timeout")

    def _budget(self, deadline: datetime) -> tuple[float, bool]:
        """Seconds the provider call may still run, and whether the liveness lease (not the
        attempt's deadline) sets them."""
        now = datetime.now(UTC)
        budget = (deadline - now - RECORD_RESERVE).total_seconds()
        if self._liveness is None:
            return budget, False
        lease = self._liveness.lease_end()
        leased = (lease - now).total_seconds() if lease is not None else 0.0
        return min(budget, leased), leased < budget

    @activity.defn(name="give_up")
    def give_up(self, input: GiveUpInput) -> LedgerState | None:
        """Close the row the run stops asking about; returns its final state (None: no row).
        A synchronous local activity, on the worker's activity executor (see RunActivities)."""
        return self._door.give_up(input)


def _more_channels(input: DeliverInput, failed: list[Channel]) -> bool:
    if input.to_user_id is not None:  # the user's own channels: the door knows which are left
        return True
    return any(c not in failed for c in [input.channel, *input.fallbacks])


async def _with_heartbeat(call: Awaitable[T]) -> T:
    """Heartbeat while a call runs (the provider's, or a wait for the database), so a worker
    that dies mid-call is noticed within the heartbeat timeout instead of the start-to-close.

    A cancellation (the run was cancelled; it reaches us with a heartbeat's answer) does not cut
    the call off: a message on the wire cannot be taken back, and a call abandoned mid-way
    would leave its ledger row ``pending`` for ever. The call finishes (bounded by the
    channel's own timeout), its outcome is recorded, and the workflow, which waits for this
    answer (``WAIT_CANCELLATION_COMPLETED``), closes the step with it."""
    task = asyncio.ensure_future(call)
    while True:
        try:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY.total_seconds())
        except asyncio.CancelledError:
            continue  # activity.is_cancelled() now says so; deliver() sends nothing new
        if done:
            return task.result()
        activity.heartbeat()
