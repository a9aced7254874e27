"""Enrolling many contacts in one sequence: each one exactly like a single enrollment
(``enrollment.enroll``: run row first, business-key workflow id), a bounded number
at a time, one outcome per contact.

A batch, once accepted, runs to its end even if the caller goes away: a start cut off between
its row and its workflow would leave a run that never runs, and every enrollment is idempotent,
so sending the batch again gives each contact's answer without creating anything new.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from followthrough.enrollment import enroll, sequence_ready
from followthrough.errors import FieldError, FollowthroughError, NotFound
from followthrough.logging import get_logger
from followthrough.settings import Settings
from followthrough.store.db import session_scope
from followthrough.store.scope import EVERYTHING, Visibility
from followthrough.store.tables import Contact

log = get_logger("enrollment")

#: Enrollments started at once. Each holds a database write and a Temporal start; more than
#: this only queues them on SQLite's write lock and the thread pool.
CONCURRENCY = 16
#: The most contacts in one batch.
MAX_BATCH = 1000


@dataclass(frozen=True)
class BatchItem:
    """One contact of a batch: by id or by external id, with its data (already merged over the
    batch's shared data)."""

    contact_id: int | None
    external_id: str | None
    data: dict[str, Any]


@dataclass
class Outcome:
    """What happened to one contact: ``created`` (a new run), ``existing`` (its active run) or
    ``failed`` (``problem`` says why: status, code, detail, errors, as a problem+json body)."""

    index: int
    contact_id: int | None
    external_id: str | None
    outcome: str
    run_id: str | None = None
    workflow_id: str | None = None
    problem: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "contact_id": self.contact_id, "external_id": self.external_id,
                "outcome": self.outcome, "run_id": self.run_id, "workflow_id": self.workflow_id,
                "problem": self.problem}


@dataclass
class Summary:
    total: int = 0
    created: int = 0
    existing: int = 0
    failed: int = 0

    def add(self, outcome: Outcome) -> None:
        self.total += 1
        setattr(self, outcome.outcome, getattr(self, outcome.outcome) + 1)

    def to_json(self) -> dict[str, int]:
        return {"total": self.total, "created": self.created, "existing": self.existing,
                "failed": self.failed}


def problem_of(exc: FollowthroughError) -> dict[str, Any]:
    """The problem+json body a single enrollment would have answered with."""
    return {"status": exc.status_code, "code": exc.code, "detail": exc.message,
            "errors": [{"path": e.path, "message": e.message} for e in exc.errors]}


def _resolve_external_ids(engine: Engine, external_ids: set[str], contact_ids: set[int],
                          visible: Visibility) -> Known:
    """External id -> contact id, in one query for the whole batch; and which of
    ``contact_ids`` the caller may not enroll (None: all allowed)."""
    found: dict[str, int] = {}
    hidden: set[int] | None = None
    with session_scope(engine) as session:
        if external_ids:
            query = select(Contact.external_id, Contact.id).where(col(Contact.external_id).in_(sorted(external_ids)))
            rows = session.exec(visible.contacts(query)).all()
            found = {str(external): int(contact_id) for external, contact_id in rows if contact_id is not None}
        if contact_ids and not visible.everything:
            query = visible.contacts(select(Contact.id).where(col(Contact.id).in_(sorted(contact_ids))))
            hidden = contact_ids - {int(i) for i in session.exec(query).all() if i is not None}
    return Known(found, hidden or set())


@dataclass(frozen=True)
class Known:
    by_external_id: dict[str, int]
    hidden: set[int]


async def enroll_many(
    engine: Engine, client_factory: Any, settings: Settings, name: str,
    items: Sequence[BatchItem], visible: Visibility = EVERYTHING,
) -> AsyncIterator[Outcome]:
    """Starts the batch and returns its outcomes, one per item as each is done (``index`` gives
    its place in ``items``).

    Whole-batch problems (no such sequence, no published version) raise here, before anything
    is enrolled; a problem of one contact is that contact's outcome. A contact the caller may
    not change (``visible``) is not found, as an unknown one."""
    await asyncio.to_thread(sequence_ready, engine, name)
    known = await asyncio.to_thread(
        _resolve_external_ids, engine, {i.external_id for i in items if i.external_id is not None},
        {i.contact_id for i in items if i.contact_id is not None}, visible)
    queue: asyncio.Queue[Outcome] = asyncio.Queue()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int, item: BatchItem) -> None:
        async with gate:
            await queue.put(await _enroll_one(engine, client_factory, settings, name, index, item, known))

    # The tasks are not tied to the caller: if it stops reading, they still finish (see above).
    runner = asyncio.ensure_future(asyncio.gather(*(one(i, item) for i, item in enumerate(items))))
    _RUNNING.add(runner)
    runner.add_done_callback(_RUNNING.discard)
    return _drain(queue, len(items))


async def _drain(queue: asyncio.Queue[Outcome], count: int) -> AsyncIterator[Outcome]:
    for _ in range(count):
        yield await queue.get()


#: Batches still running, kept referenced so the event loop does not drop them.
_RUNNING: set[asyncio.Future[Any]] = set()


async def _enroll_one(
    engine: Engine, client_factory: Any, settings: Settings, name: str, index: int,
    item: BatchItem, known: Known,
) -> Outcome:
    contact_id = item.contact_id
    outcome = Outcome(index, contact_id, item.external_id, "failed")
    try:
        if contact_id is not None and contact_id in known.hidden:
            raise NotFound(f"contact {contact_id} does not exist",
                           errors=[FieldError(f"/contacts/{index}/contact_id", "unknown")])
        if contact_id is None:
            contact_id = known.by_external_id.get(item.external_id or "")
            if contact_id is None:
                raise NotFound(f"no contact has external_id '{item.external_id}'",
                               errors=[FieldError(f"/contacts/{index}/external_id", "unknown")])
            outcome.contact_id = contact_id
        run, created = await enroll(engine, client_factory, settings, name, contact_id, item.data)
    except FollowthroughError as exc:
        outcome.problem = problem_of(exc)
        return outcome
    except Exception:  # one contact's surprise must not lose the others' answers
        log.exception("batch enrollment failed", sequence=name, contact_id=contact_id)
        outcome.problem = {"status": 500, "code": "internal", "errors": [],
                           "detail": "An internal error occurred; it has been logged."}
        return outcome
    outcome.outcome = "created" if created else "existing"
    outcome.run_id, outcome.workflow_id = run.id, run.workflow_id
    return outcome
