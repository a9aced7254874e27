"""Holds ("one department at a time"): defer some categories to a contact until a time or lift.

A hold never drops a message: the policy defers it, and the workflow asks again later.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BindParameter, ColumnElement, and_, or_
from sqlmodel import Session, col, select

from followthrough.errors import NotFound
from followthrough.models.vocab import Category
from followthrough.policy.contact_policy import Hold
from followthrough.store import contacts, timeline
from followthrough.store.db import as_utc
from followthrough.store.tables import HoldRow, utcnow


def create(
    session: Session,
    contact_id: int,
    categories: list[Category],
    until: datetime | None,
    reason: str,
) -> HoldRow:
    """Place a hold (404 for an unknown contact) and record it on the timeline."""
    contacts.get(session, contact_id)
    names = [str(Category(c)) for c in dict.fromkeys(categories)]
    until = as_utc(until)
    row = HoldRow(contact_id=contact_id, categories=names, until=until, reason=reason)
    session.add(row)
    session.flush()
    ends = until.isoformat() if until else None
    timeline.record(
        session,
        contact_id=contact_id,
        kind="hold.placed",
        summary=f"hold on {', '.join(names)} until {ends or 'lifted'}" + (f": {reason}" if reason else ""),
        data={"hold_id": row.id, "categories": names, "until": ends, "reason": reason},
    )
    return row


def get(session: Session, hold_id: int, *, contact_id: int | None = None) -> HoldRow:
    """One hold; 404 when unknown or (with ``contact_id``) another contact's."""
    row = session.get(HoldRow, hold_id)
    if row is None or (contact_id is not None and row.contact_id != contact_id):
        raise NotFound(f"hold {hold_id} does not exist" + (
            f" for contact {contact_id}" if contact_id is not None else ""))
    return row


def lift(session: Session, hold_id: int, *, contact_id: int | None = None) -> HoldRow:
    """End a hold now; lifting it again changes nothing (and records nothing)."""
    row = get(session, hold_id, contact_id=contact_id)
    if row.lifted_at is not None:
        return row
    row.lifted_at = utcnow()
    session.add(row)
    session.flush()
    timeline.record(
        session,
        contact_id=row.contact_id,
        kind="hold.lifted",
        summary=f"hold on {', '.join(row.categories)} lifted",
        data={"hold_id": row.id, "categories": list(row.categories)},
    )
    return row


def active(session: Session, contact_id: int, now: datetime) -> list[Hold]:
    """The holds in force at ``now``, as the policy reads them."""
    query = select(HoldRow).where(in_force(contact_id, now)).order_by(col(HoldRow.id))
    return [to_policy(row) for row in session.exec(query)]


def in_force(contact_id: int | BindParameter[int], now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """The condition of the contact's holds in force at ``now`` (neither lifted nor expired);
    either may be a bound parameter of a statement built once."""
    if isinstance(now, datetime):
        now = as_utc(now)  # type: ignore[assignment]
    return and_(col(HoldRow.contact_id) == contact_id, col(HoldRow.lifted_at).is_(None),
                or_(col(HoldRow.until).is_(None), col(HoldRow.until) > now))


def list_for_contact(session: Session, contact_id: int, *, after: int | None = None,
                     limit: int | None = None) -> list[HoldRow]:
    """The holds of the contact, lifted and expired ones too, oldest first (after the id
    ``after``, at most ``limit``)."""
    contacts.get(session, contact_id)
    query = select(HoldRow).where(HoldRow.contact_id == contact_id)
    if after is not None:
        query = query.where(col(HoldRow.id) > after)
    return list(session.exec(query.order_by(col(HoldRow.id)).limit(limit)))


def to_policy(row: HoldRow) -> Hold:
    return Hold(id=row.id, categories=[Category(c) for c in row.categories],
                until=as_utc(row.until), reason=row.reason)
