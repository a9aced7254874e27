"""Inbound events: validate, normalise, record on the timeline, then signal the affected runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError

from followthrough.logging import get_logger
from followthrough.models.runs import RunEvent
from followthrough.models.vocab import Channel, EventKind
from followthrough.store import contacts, inbound, ledger, runs, timeline
from followthrough.store.db import session_scope

log = get_logger("inbound")


@dataclass
class InboundOutcome:
    new: bool
    contact_id: int | None
    timeline_id: int | None = None
    workflow_ids: list[str] = field(default_factory=list)


def _record_sms(engine: Engine, form: dict[str, str]) -> InboundOutcome:
    sender = form.get("From", "")
    with session_scope(engine) as session:
        matches = contacts.find_by_phone(session, sender) if sender else []
        contact = matches[0] if matches else None
        row, new = inbound.store(
            session, channel=Channel.SMS, provider_id=form.get("MessageSid") or form.get("SmsSid"),
            from_address=sender, to_address=form.get("To"), body=form.get("Body", ""),
            contact_id=contact.id if contact else None, matched=contact is not None, raw=form,
        )
        if not new or contact is None or contact.id is None:
            return InboundOutcome(new=new, contact_id=contact.id if contact else None)
        entry = timeline.record(
            session, contact_id=contact.id, kind="inbound.sms", direction="inbound",
            channel=Channel.SMS, summary=row.body[:200],
            data={"from": sender, "message_sid": row.provider_id, "inbound_id": row.id},
        )
        active = runs.active_for_contact(session, contact.id)
        return InboundOutcome(True, contact.id, entry.id, [r.workflow_id for r in active])


async def handle_inbound_sms(engine: Engine, client_factory: Any, form: dict[str, str]) -> InboundOutcome:
    """Record an inbound SMS once (Twilio retries webhooks) and signal the contact's runs."""
    outcome = await asyncio.to_thread(_record_sms, engine, form)
    if not outcome.new or not outcome.workflow_ids:
        return outcome
    event = RunEvent(kind=EventKind.REPLY, channel=Channel.SMS, timeline_id=outcome.timeline_id,
                     data={"from": form.get("From"), "body": form.get("Body", "")})
    client: Client = await client_factory()
    await asyncio.gather(*(_signal(client, wid, event) for wid in outcome.workflow_ids))
    return outcome


async def _signal(client: Client, workflow_id: str, event: RunEvent) -> None:
    try:
        await client.get_workflow_handle(workflow_id).signal("event", event)
    except RPCError as exc:  # the run ended between the lookup and the signal
        log.info("signal not delivered", workflow_id=workflow_id, error=str(exc))


def _apply_status(engine: Engine, form: dict[str, str]) -> bool:
    sid = form.get("MessageSid") or form.get("CallSid") or ""
    status = form.get("MessageStatus") or form.get("CallStatus") or ""
    if not sid or not status:
        return False
    reason = form.get("ErrorCode")
    with session_scope(engine) as session:
        row = ledger.apply_provider_status(session, sid, status, f"twilio_{reason}" if reason else None)
        if row is None or row.contact_id is None:
            return row is not None
        timeline.record(
            session, contact_id=row.contact_id, kind=f"message.{row.state}", direction="outbound",
            channel=row.channel, run_id=row.run_id, delivery_key=row.key,
            summary=f"{row.channel} {status}", data={"provider_id": sid, "status": status},
        )
        return True


async def handle_status_callback(engine: Engine, form: dict[str, str]) -> bool:
    return await asyncio.to_thread(_apply_status, engine, form)
