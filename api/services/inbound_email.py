"""Inbound email, from the webhook and the SMTP listener alike: store once, match, record, signal.

Matching, in order: the Message-IDs the mail answers (``In-Reply-To``, then ``References``)
against the ledger's provider ids (our own Message-IDs), then the sender address. Threading wins
because people reply from another address (a phone's mail app, a forwarding alias); the address
match catches mail that starts a new thread. An automatic reply (out of office, bounce, bulk) is
recorded as ``inbound.email.auto`` and signals nothing: it is not the contact answering.

A mail in a ticket's thread, or to the support address (``FT_SUPPORT_EMAIL``), goes to a ticket
instead of the runs (followthrough/tickets/intake.py says exactly which): it is recorded on the
timeline as any mail is, then opens or continues the ticket, and is not signalled as a reply.

Anyone can write any ``From``: a mail counts as the contact's reply (and stops runs) only when
the receiving relay's ``Authentication-Results`` pass DKIM or SPF for the sender's domain, or when
the deployment trusts its relay (``FT_INBOUND_TRUST_RELAY``). Otherwise it is recorded as
``inbound.email.unverified`` and signals nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from api.services.inbound import InboundOutcome, deliver_pending
from api.services.ticket_intake import carry_out
from channels.inbound.email import InboundEmail, from_message
from channels.inbound.smtp_listener import SmtpEnvelope
from followthrough.models.runs import RunEvent
from followthrough.models.vocab import Channel, EventKind
from followthrough.settings import Settings
from followthrough.store import contacts, inbound, ledger, ticket_intake, timeline
from followthrough.store.db import session_scope
from followthrough.store.tables import Contact, Delivery
from followthrough.tickets.intake import Intake, decide_email

#: Columns of ``inbound_messages`` are this long; the full list stays in ``raw``.
_ADDRESS_MAX = 320


def _match(session: Session, mail: InboundEmail) -> tuple[Contact | None, Delivery | None, str | None]:
    """(contact, the delivery answered, how it matched: ``thread`` | ``address``)."""
    for message_id in mail.thread_ids:
        delivery = ledger.by_message_id(session, message_id)
        # An answer to a message sent to a user (an internal alert) is the user's, not the
        # contact's: it must not stop the contact's runs as a reply.
        if delivery is not None and delivery.contact_id is not None and delivery.to_user_id is None:
            return contacts.get(session, delivery.contact_id), delivery, "thread"
    found = contacts.find_by_email(session, mail.from_address) if mail.from_address else []
    return (found[0], None, "address") if found else (None, None, None)


def recipients(mail: InboundEmail, raw: dict[str, Any]) -> list[str]:
    """Every address the mail was sent to: ``To``, ``Cc`` and the SMTP envelope's recipients."""
    cc = [value for name, value in mail.headers.items() if name.lower() == "cc"]
    return [*mail.to, *(address for _, address in getaddresses(cc) if address),
            *(str(r) for r in raw.get("rcpt_tos") or [])]


def _intake(session: Session, mail: InboundEmail, raw: dict[str, Any], contact_id: int | None,
            acts: bool, support_address: str) -> Intake:
    already = ticket_intake.message_ticket(session, mail.message_id)
    return decide_email(
        recipients=recipients(mail, raw), support_address=support_address,
        contact_known=contact_id is not None, acts=acts,
        thread=ticket_intake.thread_ticket(session, mail.thread_ids),
        already=already[0] if already else None, opened_by_it=bool(already and already[1]))


def _record(engine: Engine, mail: InboundEmail, raw: dict[str, Any], trust_relay: bool,
            support_address: str = "") -> InboundOutcome:
    with session_scope(engine) as session:
        contact, delivery, matched_by = _match(session, mail)
        contact_id = contact.id if contact else None
        verified = mail.verified_by or ("relay" if trust_relay else None)
        intake = _intake(session, mail, raw, contact_id, not mail.auto_submitted and verified is not None,
                         support_address)
        row, new = inbound.store(
            session, channel=Channel.EMAIL, provider_id=mail.message_id,
            from_address=mail.from_address[:_ADDRESS_MAX],
            to_address=", ".join(mail.to)[:_ADDRESS_MAX] or None, body=mail.text,
            contact_id=contact_id, matched=contact_id is not None, raw=raw,
        )
        outcome = InboundOutcome(new=new, contact_id=contact_id, inbound_id=row.id,
                                 matched=contact_id is not None, intake=intake)
        if not new or contact_id is None:
            return outcome  # a re-post (processed once) or an unknown sender (kept, listed)
        data: dict[str, Any] = {
            "from": mail.from_address, "subject": mail.subject, "message_id": mail.message_id,
            "inbound_id": row.id, "matched_by": matched_by,
        }
        if mail.auto_submitted:
            data["auto_reason"] = mail.auto_reason
        data["verified_by"] = verified
        if intake.action != "reply":
            data["ticket"] = {"action": intake.action, "ticket_id": intake.ticket_id, "reason": intake.reason}
        if mail.auto_submitted:
            kind = "inbound.email.auto"
        elif verified is None:
            kind = "inbound.email.unverified"
            data["unverified_reason"] = (
                "Authentication-Results pass neither DKIM nor SPF for the sender's domain")
        else:
            kind = "inbound.email"
        entry = timeline.record(
            session, contact_id=contact_id, kind=kind,
            direction="inbound", channel=Channel.EMAIL, summary=(mail.subject or mail.text)[:200],
            run_id=delivery.run_id if delivery else None,
            delivery_key=delivery.key if delivery else None, data=data,
        )
        outcome.timeline_id = entry.id
        if mail.auto_submitted or verified is None:
            return outcome  # not the contact answering, or not provably the contact
        if intake.action != "reply":
            return outcome  # the ticket's message, not an answer to the runs
        # Every active run of the contact hears the reply, not only the run whose message was
        # answered: the contact answered us, and each run's stop_on decides what that means.
        outcome.events = [RunEvent(
            kind=EventKind.REPLY.value, channel=Channel.EMAIL, timeline_id=entry.id,
            data={"from": mail.from_address, "subject": mail.subject, "text": mail.text[:2000],
                  "in_reply_to": delivery.key if delivery else None},
        )]
        inbound.keep_events(session, row, [e.model_dump(mode="json") for e in outcome.events])
        return outcome


async def handle_inbound_email(
    engine: Engine, client_factory: Any, mail: InboundEmail, raw: dict[str, Any], *,
    trust_relay: bool = False, settings: Settings | None = None,
) -> InboundOutcome:
    """Record an inbound email once per Message-ID, then open or continue its ticket, or signal
    the contact's runs (not for an automatic reply, nor for a mail not verified as the sender's
    unless ``trust_relay``). ``raw`` is the payload as received, kept on the inbound row;
    ``settings`` name the support address (none: no mail opens a ticket)."""
    support = settings.support_email if settings is not None else ""
    outcome = await asyncio.to_thread(_record, engine, mail, raw, trust_relay, support)
    if outcome.intake is not None and outcome.contact_id is not None:
        outcome.ticket_id = await carry_out(
            engine, client_factory, outcome.intake, contact_id=outcome.contact_id, channel="email",
            subject=mail.subject, text=mail.text, message_id=mail.message_id, settings=settings)
    if outcome.inbound_id is not None:
        outcome.workflow_ids = await deliver_pending(engine, client_factory, outcome.inbound_id)
    return outcome


def smtp_callback(
    engine: Engine, client_factory: Any, *, trust_relay: bool = False, settings: Settings | None = None,
) -> Callable[[EmailMessage, SmtpEnvelope], Awaitable[None]]:
    """The SMTP listener's callback: the same pipeline as the webhook."""

    async def on_message(message: EmailMessage, envelope: SmtpEnvelope) -> None:
        mail = from_message(message)
        raw = {"source": "smtp", "mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
               "peer": envelope.peer, "headers": mail.headers, "text": mail.text,
               "html": mail.html}
        await handle_inbound_email(engine, client_factory, mail, raw, trust_relay=trust_relay, settings=settings)

    return on_message
