"""The single-use records behind one-click action links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from followthrough.store.tables import ActionLink


def create(session: Session, *, subject: str, action: str, locale: str, created_at: datetime,
           expires_at: datetime) -> ActionLink:
    row = ActionLink(subject=subject, action=action, locale=locale, created_at=created_at,
                     expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def get(session: Session, link_id: int) -> ActionLink | None:
    return session.get(ActionLink, link_id) if 1 <= link_id < 2**31 else None


def consume(session: Session, link_id: int, now: datetime) -> bool:
    """Mark the link used; False when it was used already. One conditional UPDATE, so two
    requests racing for the same link (a double click) cannot both act."""
    result = session.execute(
        update(ActionLink).where(col(ActionLink.id) == link_id, col(ActionLink.used_at).is_(None))
        .values(used_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release(session: Session, link_id: int) -> None:
    """Give a consumed link back: acting failed before anything changed (Temporal was down)."""
    session.execute(update(ActionLink).where(col(ActionLink.id) == link_id).values(used_at=None))


def record_result(session: Session, link_id: int, result: str) -> None:
    session.execute(update(ActionLink).where(col(ActionLink.id) == link_id).values(result=result[:200]))
