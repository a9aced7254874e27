"""The one door for every outbound message (ARCHITECTURE contracts 3-5).

Order: look up the idempotency key (an existing outcome is returned unchanged); load the
contact and render for its locale; commit the attempt as ``pending``; call the channel; record
the outcome. A ``pending`` row found on a later attempt means a worker died mid-call: it becomes
``uncertain`` and the category's delivery policy decides whether it is sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from channels.base import (
    OutboundMessage,
    PermanentChannelError,
    SendReceipt,
    TransientChannelError,
    UnknownOutcomeError,
)
from channels.registry import ChannelRegistry
from followthrough.ids import ledger_key
from followthrough.models.runs import DeliverInput, DeliverResult, GiveUpInput
from followthrough.models.vocab import Channel, LedgerState
from followthrough.policy.delivery import resend_uncertain
from followthrough.rendering import RenderedMessage, Renderer, TemplateError
from followthrough.settings import Settings
from followthrough.store import contacts, ledger, timeline
from followthrough.store.db import session_scope
from followthrough.store.tables import Delivery, utcnow

log = activity.logger
T = TypeVar("T")

#: Must stay well under the workflow's delivery heartbeat timeout (workflows/_support.py).
HEARTBEAT_EVERY = timedelta(seconds=2)


@dataclass(frozen=True)
class _Prepared:
    """Outcome of the first transaction: either a final result or a message to send."""

    result: DeliverResult | None = None
    message: OutboundMessage | None = None
    uncertain_before: bool = False


class DeliveryActivities:
    def __init__(
        self, engine: Engine, renderer: Renderer, channels: ChannelRegistry, settings: Settings
    ) -> None:
        self._engine = engine
        self._renderer = renderer
        self._channels = channels
        self._settings = settings

    @activity.defn(name="deliver")
    async def deliver(self, input: DeliverInput) -> DeliverResult:
        key = ledger_key(input.run_id, input.step_id, input.visit)
        prepared = await asyncio.to_thread(self._prepare, input, key)
        if prepared.result is not None:
            return prepared.result
        message = prepared.message
        if message is None:
            raise ApplicationError("nothing to send", non_retryable=True)
        try:
            receipt = await _with_heartbeat(self._channels.get(input.channel).send(message))
        except TransientChannelError as exc:
            await asyncio.to_thread(self._retrying, key, exc)
            raise ApplicationError(
                f"{input.channel} transient error: {exc}",
                type="TransientChannelError",
                next_retry_delay=timedelta(seconds=exc.retry_after) if exc.retry_after else None,
            ) from exc
        except PermanentChannelError as exc:
            return await asyncio.to_thread(self._failed, input, key, exc)
        except UnknownOutcomeError as exc:
            result = await asyncio.to_thread(self._uncertain, input, key, str(exc))
            if resend_uncertain(input.category):
                raise ApplicationError(
                    f"{input.channel} outcome unknown, will resend: {exc}",
                    type="UnknownOutcomeError",
                ) from exc
            return result
        return await asyncio.to_thread(self._sent, input, key, receipt, prepared.uncertain_before)

    @activity.defn(name="give_up")
    async def give_up(self, input: GiveUpInput) -> None:
        await asyncio.to_thread(self._give_up, input)

    # -- transactions ---------------------------------------------------------------------

    def _prepare(self, input: DeliverInput, key: str) -> _Prepared:
        # 1. Look up the key; an interrupted attempt becomes ``uncertain``.
        with session_scope(self._engine) as session:
            row = ledger.get_by_key(session, key, for_update=True)
            uncertain_before = False
            if row is not None and row.state in ledger.FINAL_STATES:
                return _Prepared(result=_result(row))
            if row is not None and row.state in (LedgerState.PENDING, LedgerState.UNCERTAIN):
                if row.state == LedgerState.PENDING:
                    # The worker died between committing ``pending`` and recording the outcome.
                    _mark_uncertain(session, row, "attempt interrupted; outcome unknown")
                if not resend_uncertain(input.category):
                    return _Prepared(result=_result(row))
                uncertain_before = True
            snapshot = contacts.snapshot(contacts.get(session, input.contact_id))
        address = _address(input.channel, snapshot.email, snapshot.phone)
        # 2. Render outside any transaction (the template source reads on its own).
        rendered: RenderedMessage | None = None
        render_error: str | None = None
        if address is not None:
            try:
                rendered = self._renderer.render(
                    input.channel, input.template, snapshot, input.data,
                    run={"id": input.run_id, "definition": input.definition_name},
                )
            except TemplateError as exc:
                render_error = str(exc)
        # 3. Claim the key as ``pending`` (or close it) and commit before any provider call.
        with session_scope(self._engine) as session:
            row = ledger.get_by_key(session, key, for_update=True)
            if row is None:
                row = ledger.create(
                    session, key=key, run_id=input.run_id, step_id=input.step_id,
                    visit=input.visit, contact_id=input.contact_id, channel=input.channel,
                    category=input.category, template=input.template, to_address=address,
                    state=LedgerState.RETRYING, attempts=0,
                )
                if row is None:  # another attempt claimed the key this instant
                    raise ApplicationError("ledger key claimed concurrently", type="Busy")
            elif row.state == LedgerState.PENDING:  # a concurrent attempt is calling the channel
                raise ApplicationError("another attempt of this message is in flight", type="Busy")
            if address is None:
                ledger.update(session, row, state=LedgerState.SKIPPED, reason="no_address")
                _timeline(session, row, "message.skipped", f"{input.channel} skipped: no address")
                return _Prepared(result=_result(row))
            if rendered is None:
                ledger.update(session, row, state=LedgerState.FAILED, reason=f"render_error: {render_error}")
                _timeline(session, row, "message.failed", f"render error: {render_error}")
                return _Prepared(result=_result(row))
            ledger.update(
                session, row, state=LedgerState.PENDING, attempts=row.attempts + 1,
                locale=rendered.locale_used, to_address=address,
            )
            message = self._message(input, key, address, rendered)
        return _Prepared(message=message, uncertain_before=uncertain_before)

    def _message(
        self, input: DeliverInput, key: str, address: str, rendered: RenderedMessage
    ) -> OutboundMessage:
        callback = None
        if input.channel in (Channel.SMS, Channel.VOICE):
            callback = f"{self._settings.public_base_url}/v1/webhooks/twilio/status"
        return OutboundMessage(
            channel=input.channel, key=key, to=address, text=rendered.text or "",
            subject=rendered.subject, html=rendered.html, locale=rendered.locale_used,
            status_callback=callback,
        )

    def _sent(
        self, input: DeliverInput, key: str, receipt: SendReceipt, uncertain_before: bool
    ) -> DeliverResult:
        with session_scope(self._engine) as session:
            row = _row(session, key)
            ledger.update(
                session, row, state=LedgerState.SENT, provider_id=receipt.provider_id,
                provider_status=receipt.status, sent_at=utcnow(),
                reason="resent after uncertain attempt" if uncertain_before else None,
            )
            _timeline(session, row, "message.sent", f"{input.channel} '{input.template}' sent to {row.to_address}")
            return _result(row, uncertain_before=uncertain_before)

    def _failed(self, input: DeliverInput, key: str, exc: PermanentChannelError) -> DeliverResult:
        with session_scope(self._engine) as session:
            row = _row(session, key)
            reason = f"{exc.code or 'permanent'}: {exc}"
            ledger.update(session, row, state=LedgerState.FAILED, reason=reason)
            _timeline(session, row, "message.failed", f"{input.channel} failed: {reason}")
            return _result(row)

    def _retrying(self, key: str, exc: TransientChannelError) -> None:
        # Known not sent: the next attempt must not mistake this row for an interrupted one.
        with session_scope(self._engine) as session:
            row = _row(session, key)
            ledger.update(session, row, state=LedgerState.RETRYING, reason=f"{exc.code or 'transient'}: {exc}")

    def _uncertain(self, input: DeliverInput, key: str, reason: str) -> DeliverResult:
        with session_scope(self._engine) as session:
            row = _row(session, key)
            _mark_uncertain(session, row, reason)
            return _result(row)

    def _give_up(self, input: GiveUpInput) -> None:
        with session_scope(self._engine) as session:
            row = ledger.get_by_key(session, input.key)
            if row is not None and row.state not in ledger.FINAL_STATES:
                ledger.update(session, row, state=LedgerState.FAILED, reason=input.reason)
                _timeline(session, row, "message.failed", f"{row.channel} failed: {input.reason}")


async def _with_heartbeat(call: Awaitable[T]) -> T:
    """Heartbeat while the provider call runs, so a worker that dies mid-call is noticed within
    the heartbeat timeout instead of the whole start-to-close timeout."""
    task = asyncio.ensure_future(call)
    while True:
        done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY.total_seconds())
        if done:
            return task.result()
        activity.heartbeat()


def _row(session, key: str) -> Delivery:  # type: ignore[no-untyped-def]
    row = ledger.get_by_key(session, key, for_update=True)
    if row is None:
        raise ApplicationError(f"ledger row {key} vanished", non_retryable=True)
    return row


def _mark_uncertain(session, row: Delivery, reason: str) -> None:  # type: ignore[no-untyped-def]
    ledger.update(session, row, state=LedgerState.UNCERTAIN, reason=reason)
    _timeline(session, row, "message.uncertain", f"{row.channel} outcome unknown: {reason}")


def _timeline(session, row: Delivery, kind: str, summary: str) -> None:  # type: ignore[no-untyped-def]
    if row.contact_id is None:
        return
    timeline.record(
        session, contact_id=row.contact_id, kind=kind, summary=summary, direction="outbound",
        channel=row.channel, run_id=row.run_id, delivery_key=row.key,
        data={"state": row.state, "template": row.template, "provider_id": row.provider_id,
              "reason": row.reason},
    )


def _result(row: Delivery, *, uncertain_before: bool = False) -> DeliverResult:
    return DeliverResult(
        key=row.key, state=LedgerState(row.state), reason=row.reason,
        provider_id=row.provider_id, uncertain_before=uncertain_before,
    )


def _address(channel: Channel, email: str | None, phone: str | None) -> str | None:
    return email if channel == Channel.EMAIL else phone
