"""Inbound messages: stored first (matched or not), processed once per provider id."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from followthrough.store.tables import InboundMessage


def store(session: Session, **fields: Any) -> tuple[InboundMessage, bool]:
    """Insert an inbound message; (existing, False) when the provider id was seen already
    (Twilio retries webhooks)."""
    provider_id = fields.get("provider_id")
    if provider_id:
        existing = session.exec(
            select(InboundMessage).where(InboundMessage.provider_id == provider_id)
        ).first()
        if existing is not None:
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
    session: Session, *, matched: bool | None, before: int | None, limit: int
) -> list[InboundMessage]:
    query = select(InboundMessage)
    if matched is not None:
        query = query.where(InboundMessage.matched == matched)
    if before is not None:
        query = query.where(col(InboundMessage.id) < before)
    return list(session.exec(query.order_by(col(InboundMessage.id).desc()).limit(limit)))
