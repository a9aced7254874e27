"""What the intake decision (followthrough/tickets/intake.py) reads about tickets: the ticket a
mail's thread names, the ticket an inbound message already opened or joined, and a contact's
open SMS ticket."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from followthrough.store import ledger
from followthrough.store.tables import Ticket, TicketMessage
from followthrough.tickets.intake import CLOSED, TicketRef


def _ref(ticket: Ticket | None) -> TicketRef | None:
    return None if ticket is None or ticket.id is None else (ticket.id, ticket.status)


def thread_ticket(session: Session, thread_ids: Iterable[str]) -> TicketRef | None:
    """The ticket a mail answers, by its thread's Message-IDs (most specific first): a message
    the ticket's workflow sent to the contact (the ledger's provider id; a message to a user,
    such as an escalation, is not the customer's thread), the mail that opened the ticket, or
    a mail already on it."""
    for message_id in thread_ids:
        delivery = ledger.by_message_id(session, message_id)
        if delivery is not None and delivery.run_id and delivery.to_user_id is None:
            found = session.exec(select(Ticket).where(Ticket.workflow_id == delivery.run_id)).first()
            if found is not None:
                return _ref(found)
        if (taken := message_ticket(session, message_id)) is not None:
            return taken[0]
    return None


def message_ticket(session: Session, message_key: str) -> tuple[TicketRef, bool] | None:
    """(the ticket, whether this message opened it) for a provider message id already taken
    into a ticket; None when it is on none."""
    opened = session.exec(select(Ticket).where(Ticket.source_message_id == message_key)).first()
    if opened is not None and (ref := _ref(opened)) is not None:
        return ref, True
    joined = session.exec(select(TicketMessage).where(TicketMessage.message_key == message_key)).first()
    if joined is not None and (ref := _ref(session.get(Ticket, joined.ticket_id))) is not None:
        return ref, False
    return None


def open_sms_ticket(session: Session, contact_id: int) -> TicketRef | None:
    """The contact's latest ticket opened by SMS that is not closed."""
    query = (select(Ticket).where(Ticket.contact_id == contact_id, Ticket.channel == "sms",
                                  Ticket.status != CLOSED)
             .order_by(col(Ticket.id).desc()))
    return _ref(session.exec(query).first())
