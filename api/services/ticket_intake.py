"""Inbound messages that open or continue a ticket (the decision: followthrough/tickets/intake.py):
carried out through the ticket service, after the message was recorded. Both calls are
idempotent on the provider's message id, so a retried webhook (Temporal was down) finishes
what the first post began."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from followthrough.errors import ServiceUnavailable
from followthrough.settings import Settings
from followthrough.store.tables import Contact
from followthrough.tickets import service
from followthrough.tickets.classify import classify
from followthrough.tickets.intake import Intake


async def carry_out(engine: Engine, client_factory: Any, intake: Intake, *, contact_id: int, channel: str,
                    subject: str, text: str, message_id: str, settings: Settings | None) -> int | None:
    """Open or continue the ticket ``intake`` names; the ticket's id (None for a ``reply``)."""
    if intake.action == "reply":
        return None
    client = await client_factory()
    if intake.action == "continue" and intake.ticket_id is not None:
        await service.add_customer_message(engine, client, intake.ticket_id, channel=channel, text=text,
                                           message_key=message_id)
        return intake.ticket_id
    ticket, _created = await service.open_ticket(engine, client, contact_id=contact_id, channel=channel,
                                                 subject=subject, text=text, source_message_id=message_id,
                                                 settings=settings)
    return ticket.id


async def survey_answer(engine: Engine, client_factory: Any, *, contact_id: int, text: str) -> int | None:
    """The ticket whose pending satisfaction survey this text answers (a lone 1-5), or None."""
    return await service.survey_reply(engine, await client_factory(), contact_id=contact_id, text=text)


def rule_opening(session: Session, settings: Settings, contact_id: int, text: str) -> str | None:
    """The published SLA policy's first classification rule with ``opens_ticket`` that this
    text from the contact matches (as an SMS), or None (no such rule, or no policy published)."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        return None
    try:
        policy, _version, _document = service.active_policy(session, settings.sla_policy)
    except ServiceUnavailable:
        return None
    if not any(rule.opens_ticket for rule in policy.classification):
        return None
    found = classify(policy, subject="", text=text, channel="sms", contact=service.contact_view(contact))
    return found.opens_ticket_rule
