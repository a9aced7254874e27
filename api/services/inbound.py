"""Inbound events: validate, normalise, record on the timeline, then signal the affected runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.services.rep_replies import handle_rep_sms
from api.services.ticket_intake import carry_out, rule_opening, survey_answer
from followthrough.errors import ServiceUnavailable
from followthrough.keywords import Keyword, KeywordKind, parse_keyword
from followthrough.logging import get_logger
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import RunEvent
from followthrough.models.vocab import Channel, EventKind
from followthrough.rendering import Renderer, TemplateError
from followthrough.settings import Settings
from followthrough.store import (
    contacts,
    inbound,
    ledger,
    preferences,
    runs,
    suppressions,
    ticket_intake,
    timeline,
    users,
)
from followthrough.store.db import session_scope
from followthrough.store.tables import User
from followthrough.tickets.intake import Intake, decide_sms, same_number

log = get_logger("inbound")


@dataclass
class InboundOutcome:
    new: bool
    contact_id: int | None
    timeline_id: int | None = None
    workflow_ids: list[str] = field(default_factory=list)
    events: list[RunEvent] = field(default_factory=list)  # signalled, in order, to every run
    reply_text: str | None = None  # a keyword's confirmation, answered in the webhook's TwiML
    inbound_id: int | None = None
    matched: bool = False
    user_id: int | None = None  # the sender is this user (a rep answering a reminder)
    #: Whether the message opens or continues a ticket, or stays a reply (tickets/intake.py).
    intake: Intake | None = None
    ticket_id: int | None = None  # the ticket it opened or continued


def _sms_events(keyword: Keyword | None, outcome: InboundOutcome, form: dict[str, str]) -> list[RunEvent]:
    """A text is a ``reply``; a keyword (STOP, START, HELP in any language) is only its own
    kind: STOP revokes SMS consent, but it is no answer to the conversation, so it ends only
    the runs that ``stop_on: [stop]``, not an email sequence that stops on replies."""
    data = {"from": form.get("From"), "body": form.get("Body", "")}
    kind = EventKind.REPLY.value if keyword is None else keyword.kind.value
    return [RunEvent(kind=kind, channel=Channel.SMS, timeline_id=outcome.timeline_id, data=data)]


def _find_sender(engine: Engine, sender: str) -> ContactSnapshot | None:
    with session_scope(engine) as session:
        matches = contacts.find_by_phone(session, sender) if sender else []
        return contacts.snapshot(matches[0]) if matches else None


def _find_user(engine: Engine, sender: str) -> User | None:
    with session_scope(engine) as session:
        return users.find_by_phone(session, sender)


def _keyword_reply(renderer: Renderer | None, keyword: Keyword, contact: ContactSnapshot | None,
                   sender: str) -> tuple[str, str] | None:
    """(text, locale) of the confirmation, in the contact's locale; for an unknown sender, in the
    keyword's own language (СТОП -> ru)."""
    if renderer is None:
        return None
    target = contact or ContactSnapshot(phone=sender, locale=keyword.language)
    try:
        message = renderer.render(Channel.SMS, f"keyword_{keyword.kind}", target)
    except TemplateError as exc:
        # The consent change must still happen; Twilio's own opt-out reply covers the carrier
        # requirement when our template is broken.
        log.error("keyword reply not rendered", keyword=keyword.kind.value, error=str(exc))
        return None
    return message.text, message.locale_used


def _apply_keyword(session: Session, keyword: Keyword, sender: str) -> None:
    """STOP revokes SMS for every category (carriers block the number for all of them anyway)
    for every contact with that number, and suppresses the number: a number shared by a family or
    an office speaks for all of its contacts, and a contact created later with it is not texted.
    Voice and email keep their own consent: an SMS keyword speaks for SMS only. START grants SMS
    back to all of them and lifts a keyword or carrier (21610) suppression, never a manual one."""
    sharing = [c.id for c in contacts.find_by_phone(session, sender) if c.id is not None] if sender else []
    if keyword.kind is KeywordKind.STOP:
        for contact_id in sharing:
            preferences.revoke(session, contact_id, Channel.SMS, None, source="keyword")
        if sender:
            suppressions.add(session, Channel.SMS, sender, reason=f"SMS keyword {keyword.word}",
                             source="keyword")
    elif keyword.kind is KeywordKind.START:
        for contact_id in sharing:
            preferences.grant(session, contact_id, Channel.SMS, None, source="keyword")
        row = suppressions.find(session, Channel.SMS, sender) if sender else None
        if row is not None and row.id is not None and row.source in ("keyword", "provider"):
            suppressions.remove(session, row.id, source="keyword")


def _sms_intake(session: Session, form: dict[str, str], contact_id: int | None, keyword: Keyword | None,
                settings: Settings | None) -> Intake:
    message_id = form.get("MessageSid") or form.get("SmsSid") or ""
    already = ticket_intake.message_ticket(session, message_id) if message_id else None
    support_number = settings.support_sms_number if settings is not None else ""
    rule = None
    if settings is not None and contact_id is not None and keyword is None \
            and not same_number(form.get("To", ""), support_number):
        rule = rule_opening(session, settings, contact_id, form.get("Body", ""))
    return decide_sms(
        to=form.get("To", ""), support_number=support_number, contact_known=contact_id is not None,
        keyword=keyword is not None,
        open_ticket=ticket_intake.open_sms_ticket(session, contact_id) if contact_id is not None else None,
        already=already[0] if already else None, opened_by_it=bool(already and already[1]), rule_opens=rule)


def _record_sms(
    engine: Engine, form: dict[str, str], contact: ContactSnapshot | None,
    keyword: Keyword | None, reply: tuple[str, str] | None, settings: Settings | None = None,
) -> InboundOutcome:
    sender = form.get("From", "")
    contact_id = contact.id if contact else None
    with session_scope(engine) as session:
        intake = _sms_intake(session, form, contact_id, keyword, settings)
        row, new = inbound.store(
            session, channel=Channel.SMS, provider_id=form.get("MessageSid") or form.get("SmsSid"),
            from_address=sender, to_address=form.get("To"), body=form.get("Body", ""),
            contact_id=contact_id, matched=contact_id is not None, raw=form,
        )
        outcome = InboundOutcome(new=new, contact_id=contact_id, inbound_id=row.id,
                                 matched=contact_id is not None,
                                 reply_text=reply[0] if reply else None, intake=intake)
        if not new:
            return outcome  # Twilio retried: answer again (the first answer was lost), change nothing
        if keyword is not None:
            _apply_keyword(session, keyword, sender)
        if contact_id is None:
            return outcome
        data: dict[str, Any] = {"from": sender, "message_sid": row.provider_id, "inbound_id": row.id}
        if keyword is not None:
            data.update(keyword=keyword.kind.value, word=keyword.word)
        if intake.action != "reply":
            data["ticket"] = {"action": intake.action, "ticket_id": intake.ticket_id, "reason": intake.reason}
        entry = timeline.record(
            session, contact_id=contact_id, kind="inbound.keyword" if keyword else "inbound.sms",
            direction="inbound", channel=Channel.SMS, summary=row.body[:200], data=data,
        )
        if keyword is not None and reply is not None:
            timeline.record(
                session, contact_id=contact_id, kind="keyword.reply", direction="outbound",
                channel=Channel.SMS, summary=reply[0],
                data={"keyword": keyword.kind.value, "locale": reply[1], "via": "twiml",
                      "in_reply_to": row.provider_id},
            )
        outcome.timeline_id = entry.id
        if intake.action != "reply":
            return outcome  # the ticket's message, not an answer to the runs
        outcome.events = _sms_events(keyword, outcome, form)
        inbound.keep_events(session, row, [e.model_dump(mode="json") for e in outcome.events])
        return outcome


async def handle_inbound_sms(
    engine: Engine, client_factory: Any, form: dict[str, str], renderer: Renderer | None = None,
    settings: Settings | None = None,
) -> InboundOutcome:
    """Record an inbound SMS once (Twilio retries webhooks), act on a keyword, answer a pending
    satisfaction survey, open or continue a ticket (a text to ``FT_SUPPORT_SMS_NUMBER``, see
    followthrough/tickets/intake.py) or signal the contact's runs. ``reply_text`` is the
    keyword confirmation for the TwiML answer.

    A sender who is a user (a rep answering a reminder) is matched before contacts: their text
    acts on their task (api/services/rep_replies.py) and never reaches a customer's runs. STOP
    and START stay keywords for everyone, since the carrier acts on them whoever sends them."""
    keyword = parse_keyword(form.get("Body", ""))
    if keyword is None or keyword.kind is KeywordKind.HELP:
        user = await asyncio.to_thread(_find_user, engine, form.get("From", ""))
        if user is not None:
            inbound_id, text = await handle_rep_sms(engine, client_factory, form, user, renderer)
            return InboundOutcome(new=inbound_id is not None, contact_id=None, inbound_id=inbound_id,
                                  reply_text=text, user_id=user.id)
    contact = await asyncio.to_thread(_find_sender, engine, form.get("From", ""))
    # Rendered before the write transaction: on SQLite the renderer's own read would wait for
    # the write lock our transaction holds.
    reply = None
    if keyword is not None:
        reply = await asyncio.to_thread(_keyword_reply, renderer, keyword, contact, form.get("From", ""))
    outcome = await asyncio.to_thread(_record_sms, engine, form, contact, keyword, reply, settings)
    if outcome.intake is not None and outcome.intake.action != "reply" and contact is not None \
            and contact.id is not None:
        await _ticket_sms(engine, client_factory, outcome, outcome.intake, form, contact.id, settings)
    if outcome.inbound_id is not None:
        outcome.workflow_ids = await deliver_pending(engine, client_factory, outcome.inbound_id)
    return outcome


async def _ticket_sms(engine: Engine, client_factory: Any, outcome: InboundOutcome, intake: Intake,
                      form: dict[str, str], contact_id: int, settings: Settings | None) -> None:
    """A text to the support number: a lone 1-5 answering a pending survey is that answer;
    anything else opens or continues the ticket."""
    body = form.get("Body", "")
    if (answered := await survey_answer(engine, client_factory, contact_id=contact_id, text=body)) is not None:
        outcome.ticket_id = answered
        return
    outcome.ticket_id = await carry_out(
        engine, client_factory, intake, contact_id=contact_id, channel="sms", subject="", text=body,
        message_id=form.get("MessageSid") or form.get("SmsSid") or "", settings=settings)


async def deliver_pending(engine: Engine, client_factory: Any, inbound_id: int) -> list[str]:
    """Signal a message's events to every active run of its contact, once. Raises when Temporal
    is unavailable: the webhook then fails, the provider retries, and the retry (a duplicate,
    recorded nothing new) delivers what is still pending. Returns the workflow ids signalled."""
    workflow_ids, events = await asyncio.to_thread(_pending, engine, inbound_id)
    await signal_runs(client_factory, workflow_ids, events)
    await asyncio.to_thread(_mark_signalled, engine, inbound_id)
    return workflow_ids


def _pending(engine: Engine, inbound_id: int) -> tuple[list[str], list[RunEvent]]:
    with session_scope(engine) as session:
        contact_id, stored = inbound.pending_events(session, inbound_id)
        if contact_id is None:
            return [], []
        active = runs.active_for_contact(session, contact_id)
        return [r.workflow_id for r in active], [RunEvent.model_validate(e) for e in stored]


def _mark_signalled(engine: Engine, inbound_id: int) -> None:
    with session_scope(engine) as session:
        inbound.mark_signalled(session, inbound_id)


async def signal_runs(client_factory: Any, workflow_ids: list[str], events: list[RunEvent]) -> None:
    """Deliver ``events`` to every run, in order per run (a STOP's reply lands before its stop)."""
    if not workflow_ids or not events:
        return
    client: Client = await client_factory()

    async def one(workflow_id: str) -> None:
        for event in events:
            await _signal(client, workflow_id, event)

    await asyncio.gather(*(one(wid) for wid in workflow_ids))


async def _signal(client: Client, workflow_id: str, event: RunEvent) -> None:
    try:
        await client.get_workflow_handle(workflow_id).signal("event", event)
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise ServiceUnavailable(f"Temporal did not take the signal: {exc}") from exc
        # The run ended between the lookup and the signal: nothing left to tell it.
        log.info("signal not delivered", workflow_id=workflow_id, error=str(exc))


def _record_event(engine: Engine, contact_id: int, name: str, data: dict[str, Any]) -> InboundOutcome:
    with session_scope(engine) as session:
        contacts.get(session, contact_id)  # 404 for an unknown contact
        entry = timeline.record(session, contact_id=contact_id, kind=f"event.{name}",
                                direction="inbound", summary=name, data=data)
        active = runs.active_for_contact(session, contact_id)
        event = RunEvent(kind=name, timeline_id=entry.id, data=data)
        return InboundOutcome(True, contact_id, entry.id, [r.workflow_id for r in active], [event],
                              matched=True)


async def handle_contact_event(
    engine: Engine, client_factory: Any, contact_id: int, name: str, data: dict[str, Any]
) -> InboundOutcome:
    """A custom event posted for a contact: on the timeline as ``event.<name>``, then signalled
    to every active run as ``RunEvent(kind=name)``; ``stop_on`` decides what it does there."""
    outcome = await asyncio.to_thread(_record_event, engine, contact_id, name, data)
    await signal_runs(client_factory, outcome.workflow_ids, outcome.events)
    return outcome


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
