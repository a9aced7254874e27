"""Worker processes' liveness: which process owns a ``pending`` attempt, and whether that
attempt can still be running (issue 9, "a worker that heals fast").

A process is known dead when:

- ``stopped``: it stopped after its in-flight attempts finished (worker.run_worker);
- ``gone``: a process on the same machine (boot id and pid namespace) finds its pid free or
  taken by another process (``alive`` answers this; followthrough/liveness.py reads /proc);
- ``silent``: it has not beaten for the silence (``FT_WORKER_SILENCE``); such a process cuts its
  own provider calls off at half of it (followthrough/liveness.py), so none is still sending.

Every function runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, update
from sqlmodel import Session, col, select

from followthrough.models.vocab import LedgerState
from followthrough.store.db import as_utc
from followthrough.store.tables import Delivery, WorkerProcess

#: Whether the process of a row is alive, where the caller can tell (same machine); else None.
Alive = Callable[[WorkerProcess], bool | None]


def register(session: Session, row: WorkerProcess) -> None:
    session.add(row)
    session.flush()


def beat(session: Session, process_id: str, now: datetime) -> bool:
    """Record a beat; False when the process was meanwhile declared dead (it must stop)."""
    result = session.execute(
        update(WorkerProcess)
        .where(and_(col(WorkerProcess.id) == process_id, col(WorkerProcess.ended_at).is_(None)))
        .values(beat_at=now))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def end(session: Session, process_id: str, reason: str, now: datetime) -> None:
    session.execute(
        update(WorkerProcess)
        .where(and_(col(WorkerProcess.id) == process_id, col(WorkerProcess.ended_at).is_(None)))
        .values(ended_at=now, end_reason=reason))


def death(row: WorkerProcess, now: datetime, silence: timedelta, alive: Alive) -> str | None:
    """Why the process of ``row`` is known dead (``stopped``, ``gone``, ``silent``), or None."""
    if row.ended_at is not None:
        return row.end_reason or "stopped"
    if alive(row) is False:
        return "gone"
    beat_at = as_utc(row.beat_at)
    if beat_at is not None and now - beat_at > silence:
        return "silent"
    return None


def owner_death(session: Session, owner: str | None, now: datetime, silence: timedelta,
                alive: Alive) -> str | None:
    """Why the process that owns an attempt is known dead; None while it may be running (or
    the attempt names no process: a row claimed before liveness, or by a test's door)."""
    row = session.get(WorkerProcess, owner) if owner is not None else None
    return death(row, now, silence, alive) if row is not None else None


def dead(session: Session, now: datetime, silence: timedelta, alive: Alive) -> list[tuple[str, str]]:
    """(id, reason) of every process known dead whose row is not ended yet (reads only)."""
    rows = session.exec(select(WorkerProcess).where(col(WorkerProcess.ended_at).is_(None)))
    found = ((row.id, death(row, now, silence, alive)) for row in rows)
    return [(process_id, reason) for process_id, reason in found if reason is not None]


def orphans(session: Session, limit: int = 200) -> list[tuple[str, bytes]]:
    """(ledger key, task token) of ``pending`` attempts whose process has ended: Temporal still
    waits for them (until their heartbeat timeout) unless someone fails them by their token."""
    query = (select(Delivery.key, Delivery.attempt_token)
             .join(WorkerProcess, col(WorkerProcess.id) == col(Delivery.attempt_owner))
             .where(col(Delivery.state) == LedgerState.PENDING, col(Delivery.attempt_token).is_not(None),
                    col(WorkerProcess.ended_at).is_not(None))
             .limit(limit))
    return [(key, token) for key, token in session.exec(query) if token is not None]


def forget_tokens(session: Session, keys: list[str]) -> None:
    """These orphaned attempts were failed (or had already ended): no one fails them again."""
    session.execute(update(Delivery).where(col(Delivery.key).in_(keys)).values(attempt_token=None))
