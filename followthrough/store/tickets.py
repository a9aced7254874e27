"""Tickets, their conversation and their events: all the SQL of tickets.

The row is the API's source of truth; the ticket's workflow keeps it current (``sync``, an
idempotent write of the workflow's values and of events keyed once each).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from followthrough.errors import NotFound
from followthrough.models.tickets import OPEN_STATUSES, TicketEventIn, TicketStatus, TicketSync
from followthrough.store.db import as_utc
from followthrough.store.scope import TicketScope
from followthrough.store.tables import Ticket, TicketEvent, TicketMessage, utcnow


def create(session: Session, fields: dict[str, Any]) -> Ticket:
    ticket = Ticket(status=TicketStatus.NEW.value, workflow_id="", **fields)
    session.add(ticket)
    session.flush()
    ticket.workflow_id = f"ticket-{ticket.id}"
    session.add(ticket)
    session.flush()
    return ticket


def get(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


def by_source(session: Session, source_message_id: str) -> Ticket | None:
    return session.exec(select(Ticket).where(Ticket.source_message_id == source_message_id)).first()


def list_page(session: Session, *, status: str | None = None, priority: str | None = None,
              team_id: int | None = None, assignee_id: int | None = None, after: int | None = None,
              limit: int = 50, visible: TicketScope | None = None) -> list[Ticket]:
    """Tickets oldest first, those ``visible`` shows."""
    query = select(Ticket).order_by(col(Ticket.id))
    if status is not None:
        query = query.where(Ticket.status == status)
    if priority is not None:
        query = query.where(Ticket.priority == priority)
    if team_id is not None:
        query = query.where(Ticket.team_id == team_id)
    if assignee_id is not None:
        query = query.where(Ticket.assignee_id == assignee_id)
    if after is not None:
        query = query.where(col(Ticket.id) > after)
    if visible is not None:
        query = visible.tickets(query, col(Ticket.team_id), col(Ticket.assignee_id))
    return list(session.exec(query.limit(limit)))


def open_tickets(session: Session) -> list[Ticket]:
    """Every ticket still worked (its clocks may count on an edited calendar)."""
    query = select(Ticket).where(col(Ticket.status).in_([s.value for s in OPEN_STATUSES]))
    return list(session.exec(query.order_by(col(Ticket.id))))


def survey_pending(session: Session, contact_id: int) -> Ticket | None:
    """The contact's latest resolved ticket whose survey went out and has no score yet."""
    query = (select(Ticket).join(TicketEvent, col(TicketEvent.ticket_id) == col(Ticket.id))
             .where(Ticket.contact_id == contact_id, Ticket.status == TicketStatus.RESOLVED.value,
                    col(Ticket.csat).is_(None), TicketEvent.kind == "survey")
             .order_by(col(Ticket.resolved_at).desc(), col(Ticket.id).desc()))
    return session.exec(query).first()


def add_message(session: Session, ticket_id: int, *, direction: str, body: str, channel: str | None,
                author_id: int | None = None, message_key: str | None = None) -> tuple[TicketMessage, bool]:
    """Record one message; a ``message_key`` already recorded returns that message (False)."""
    if message_key is not None:
        found = session.exec(select(TicketMessage).where(TicketMessage.message_key == message_key)).first()
        if found is not None:
            return found, False
    row = TicketMessage(ticket_id=ticket_id, direction=direction, body=body, channel=channel,
                        author_id=author_id, message_key=message_key)
    session.add(row)
    session.flush()
    return row, True


def messages(session: Session, ticket_id: int, *, direction: str | None = None,
             limit: int | None = None, newest_first: bool = False) -> list[TicketMessage]:
    query = select(TicketMessage).where(TicketMessage.ticket_id == ticket_id)
    if direction is not None:
        query = query.where(TicketMessage.direction == direction)
    order = col(TicketMessage.id).desc() if newest_first else col(TicketMessage.id)
    return list(session.exec(query.order_by(order).limit(limit)))


def events(session: Session, ticket_id: int, kind: str | None = None) -> list[TicketEvent]:
    query = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
    if kind is not None:
        query = query.where(TicketEvent.kind == kind)
    return list(session.exec(query.order_by(col(TicketEvent.id))))


def record(session: Session, ticket_id: int, event: TicketEventIn) -> bool:
    """Record an event once per key (a retried activity records nothing new)."""
    if session.exec(select(TicketEvent.id).where(TicketEvent.key == event.key)).first() is not None:
        return False
    try:
        with session.begin_nested():
            session.add(TicketEvent(ticket_id=ticket_id, kind=event.kind, key=event.key,
                                    detail=event.detail, at=event.at or utcnow()))
            session.flush()
    except IntegrityError:
        return False
    return True


_DEADLINES = {"first_response": "first_response_due_at", "next_response": "next_response_due_at",
              "resolution": "resolution_due_at"}


def sync(session: Session, change: TicketSync) -> Ticket:
    """The row as the workflow has it now, and its new events (each recorded once)."""
    ticket = get(session, change.ticket_id)
    ticket.status, ticket.priority, ticket.assignee_id = change.status.value, change.priority, change.assignee_id
    for target, column in _DEADLINES.items():
        if target in change.deadlines:
            setattr(ticket, column, change.deadlines[target])
    for name in ("first_response_at", "first_response_seconds", "resolved_at", "resolution_seconds",
                 "closed_at", "csat", "resolution_note"):
        value = getattr(change, name)
        if value is not None:
            setattr(ticket, name, value)
    if change.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        ticket.resolved_at, ticket.csat = None, None
    ticket.reopened = max(ticket.reopened, change.reopened)
    ticket.updated_at = utcnow()
    session.add(ticket)
    for event in change.events:
        record(session, change.ticket_id, event)
    session.flush()
    return ticket


def set_hold(session: Session, ticket_id: int, hold_id: int | None) -> None:
    ticket = get(session, ticket_id)
    ticket.hold_id = hold_id
    session.add(ticket)
    session.flush()


def touch(session: Session, ticket: Ticket, at: datetime | None = None) -> None:
    ticket.updated_at = at or utcnow()
    session.add(ticket)


def waiting_for(session: Session, user_id: int, limit: int = 50) -> list[Ticket]:
    """The user's tickets waiting on support (``new`` or ``open``), the first due first."""
    due = func.coalesce(Ticket.first_response_due_at, Ticket.next_response_due_at, Ticket.resolution_due_at)
    query = (select(Ticket).where(Ticket.assignee_id == user_id,
                                  col(Ticket.status).in_([TicketStatus.NEW.value, TicketStatus.OPEN.value]))
             .order_by(due, col(Ticket.id)).limit(limit))
    return list(session.exec(query))


def next_due(ticket: Ticket) -> datetime | None:
    """The ticket's next deadline: the response awaited, else the resolution."""
    if ticket.first_response_at is None and ticket.first_response_due_at is not None:
        return as_utc(ticket.first_response_due_at)
    return as_utc(ticket.next_response_due_at or ticket.resolution_due_at)
