"""The contact timeline: every outbound and inbound message, call, decision and event."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Insert
from sqlalchemy import insert as sa_insert
from sqlalchemy import update as sa_update
from sqlmodel import Session, col, select

from followthrough.store.tables import TimelineEntry, utcnow


def record(
    session: Session,
    *,
    contact_id: int,
    kind: str,
    summary: str = "",
    direction: str = "system",
    channel: str | None = None,
    run_id: str | None = None,
    delivery_key: str | None = None,
    data: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> TimelineEntry:
    entry = TimelineEntry(
        contact_id=contact_id,
        kind=kind,
        summary=summary,
        direction=direction,
        channel=channel,
        run_id=run_id,
        delivery_key=delivery_key,
        data=data or {},
        occurred_at=occurred_at or utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry


def append(session: Session, *, contact_id: int, kind: str, **fields: Any) -> None:
    """``record`` (the same keywords) as one Core INSERT, for writers that do not need the
    entry back (the door's outcome, once per message: issue 9)."""
    values = {"summary": "", "direction": "system", "channel": None, "run_id": None,
              "delivery_key": None, **fields, "contact_id": contact_id, "kind": kind}
    values["data"] = values.get("data") or {}
    values["occurred_at"] = values.get("occurred_at") or utcnow()
    session.connection().execute(_insert_statement(), values)


def replace_run_entry(session: Session, run_id: str, kind: str, *, contact_id: int, new_kind: str,
                      summary: str) -> None:
    """Replace the run's ``kind`` entry by a ``new_kind`` one (an end written when the run's
    last send was over, corrected by a stop or a cancel that came during it), in its place on
    the timeline; append it when there is none."""
    table = TimelineEntry.__table__  # type: ignore[attr-defined]
    # By the contact first: its index finds the entry (there is none on run_id).
    replaced = session.connection().execute(
        sa_update(table).where(table.c.contact_id == contact_id, table.c.run_id == run_id, table.c.kind == kind)
        .values(kind=new_kind, summary=summary))
    if not replaced.rowcount:
        append(session, contact_id=contact_id, kind=new_kind, summary=summary, run_id=run_id)


@cache
def _insert_statement() -> Insert:
    return sa_insert(TimelineEntry.__table__)  # type: ignore[attr-defined]


def page(
    session: Session, contact_id: int, *, before: int | None, limit: int
) -> list[TimelineEntry]:
    """Newest first; the cursor is the last entry id seen."""
    query = select(TimelineEntry).where(TimelineEntry.contact_id == contact_id)
    if before is not None:
        query = query.where(col(TimelineEntry.id) < before)
    query = query.order_by(col(TimelineEntry.id).desc()).limit(limit)
    return list(session.exec(query))
