"""Inbound messages: stored first (matched or not), processed once per provider id."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from followthrough.store.scope import EVERYTHING, Visibility
from followthrough.store.tables import InboundMessage, utcnow


def find(session: Session, provider_id: str) -> InboundMessage | None:
    """The message a provider id names, if it was stored."""
    return session.exec(select(InboundMessage).where(InboundMessage.provider_id == provider_id)).first()


def store(session: Session, **fields: Any) -> tuple[InboundMessage, bool]:
    """Insert an inbound message; (existing, False) when the provider id was seen already
    (Twilio retries webhooks)."""
    provider_id = fields.get("provider_id")
    if provider_id and (existing := find(session, provider_id)) is not None:
        return existing, False
    row = InboundMessage(**fields)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = session.exec(
            select(InboundMessage).where(InboundMessage.provider_id == provider_id)
        ).one()
        return existing, False
    return row, True


def list_page(
    session: Session, *, matched: bool | None, before: int | None, limit: int,
    visible: Visibility = EVERYTHING,
) -> list[InboundMessage]:
    """Newest first: messages of visible contacts, and those matched to no contact."""
    query = visible.by_contact(select(InboundMessage), col(InboundMessage.contact_id), keep_none=True)
    if matched is not None:
        query = query.where(InboundMessage.matched == matched)
    if before is not None:
        query = query.where(col(InboundMessage.id) < before)
    return list(session.exec(query.order_by(col(InboundMessage.id).desc()).limit(limit)))


def keep_events(session: Session, row: InboundMessage, events: list[dict[str, Any]]) -> None:
    """Remember the run events of a new message until they are delivered."""
    row.events = events
    session.add(row)
    session.flush()


def pending_events(session: Session, inbound_id: int) -> tuple[int | None, list[dict[str, Any]]]:
    """(contact id, events) of a message whose events were not delivered yet; (None, []) when
    there is nothing to deliver."""
    row = session.get(InboundMessage, inbound_id)
    if row is None or row.signalled_at is not None or not row.events:
        return None, []
    return row.contact_id, list(row.events)


def mark_signalled(session: Session, inbound_id: int) -> None:
    row = session.get(InboundMessage, inbound_id)
    if row is not None and row.signalled_at is None:
        row.signalled_at = utcnow()
        session.add(row)
        session.flush()
