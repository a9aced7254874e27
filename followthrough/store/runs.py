"""The runs table: written before a workflow starts, kept current by activities."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from followthrough.errors import NotFound
from followthrough.models.runs import RunFinish, RunProblem, StepRecord
from followthrough.models.vocab import RunStatus
from followthrough.store import timeline
from followthrough.store.db import as_utc
from followthrough.store.scope import EVERYTHING, Visibility
from followthrough.store.tables import Run, RunStep, utcnow

_id_lock = threading.Lock()
_last_id: tuple[int, int] = (0, 0)  # (millis, counter) of the newest id this process made


def new_run_id() -> str:
    """Opaque, unique per run, stable across Temporal resets and continue-as-new.

    Millisecond time first (like a ULID), so ids sort by creation and serve as list cursors.
    Within one millisecond (or after the clock steps back) the random part is incremented, as
    in a monotonic ULID, so ids made by one process keep sorting by creation.
    """
    global _last_id
    millis = int(time.time() * 1000)
    with _id_lock:
        last_millis, last_counter = _last_id
        if millis <= last_millis:
            millis, counter = last_millis, last_counter + 1
        else:
            counter = secrets.randbits(63)  # 63 bits: increments never overflow 16 hex digits
        _last_id = (millis, counter)
    return f"run_{millis:012x}{counter:016x}"


def get(session: Session, run_id: str) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound(f"run '{run_id}' does not exist")
    return run


def by_active_key(session: Session, active_key: str) -> Run | None:
    return session.exec(select(Run).where(Run.active_key == active_key)).first()


def claim(
    session: Session,
    *,
    kind: str,
    workflow_id: str,
    active_key: str,
    contact_id: int | None,
    definition_name: str | None = None,
    definition_version: int | None = None,
    data: dict[str, Any] | None = None,
    entity: str | None = None,
) -> tuple[Run, bool]:
    """Insert a running row unless one is active for ``active_key``; returns (run, created).

    The unique ``active_key`` makes this safe under concurrency: of ten racing enrollments one
    inserts, the others find its row.
    """
    existing = by_active_key(session, active_key)
    if existing is not None:
        return existing, False
    run = Run(
        id=new_run_id(),
        kind=kind,
        workflow_id=workflow_id,
        active_key=active_key,
        contact_id=contact_id,
        definition_name=definition_name,
        definition_version=definition_version,
        status=RunStatus.RUNNING,
        data=data or {},
        entity=entity,
    )
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        winner = by_active_key(session, active_key)
        if winner is None:  # the winner ended between our insert and this read
            raise
        return winner, False
    return run, True


def finish(session: Session, run_id: str, status: str, reason: str | None = None) -> Run:
    """Move a run to a final status (idempotent: the first final status wins)."""
    end(session, run_id, status, reason)
    run = session.get(Run, run_id, populate_existing=True)
    if run is None:
        raise NotFound(f"run '{run_id}' does not exist")
    return run


#: What ``end`` returns of the run it ended (its timeline entry names them).
ENDED_COLUMNS = ("id", "kind", "contact_id", "definition_name", "status", "reason")


def end(session: Session, run_id: str, status: str, reason: str | None = None,
        corrects: str | None = None) -> Any | None:
    """``finish`` as one Core ``UPDATE ... RETURNING`` (issue 9: every run ends here, and the
    ORM read and flush were most of the finishing activity's time): the row's
    ``ENDED_COLUMNS`` when this call ended the run, None when it had ended already or does
    not exist. The first final status wins, but for a ``corrects`` status: an end the run's
    last delivery wrote (``RunFinish.corrects``), which this one replaces."""
    runs_table = _table(Run)
    now = utcnow()
    # A correction to the end already there is none: that end, and its time, stay.
    replaceable = [RunStatus.RUNNING.value, *([corrects] if corrects not in (None, status) else [])]
    statement = (update(runs_table)
                 .where(runs_table.c.id == run_id, runs_table.c.status.in_(replaceable))
                 .values(status=status, reason=reason, active_key=None, ended_at=now, updated_at=now,
                         # it ended: no longer stuck
                         problem_code=None, problem_message=None, problem_since=None)
                 .returning(*(runs_table.c[name] for name in ENDED_COLUMNS)))
    return session.execute(statement).one_or_none()


def close(session: Session, finish: RunFinish) -> None:
    """End a run with its last step records and the end on its contact's timeline, once: a
    repeated call changes nothing (the end is there), and a run that does not exist raises
    ``NotFound``. ``finish.corrects``: the end its last delivery wrote is replaced, on the
    timeline too."""
    record_steps(session, finish.steps)
    run = end(session, finish.run_id, finish.status, finish.reason, finish.corrects)
    if run is None:
        get(session, finish.run_id)  # ended before (a retry): nothing more; gone: NotFound
        return
    if run.contact_id is None:
        return
    summary = f"{run.definition_name or run.kind} {run.status}" + (f": {run.reason}" if run.reason else "")
    if finish.corrects is not None:
        timeline.replace_run_entry(session, run.id, f"run.{finish.corrects}", contact_id=run.contact_id,
                                   new_kind=f"run.{run.status}", summary=summary)
    else:
        timeline.append(session, contact_id=run.contact_id, kind=f"run.{run.status}", summary=summary,
                        run_id=run.id)


def set_problem(session: Session, run_id: str, problem: RunProblem | None) -> bool:
    """Record (or clear, with None) why a running run cannot make progress; True if it changed."""
    run = get(session, run_id)
    values = (problem.code, problem.message, problem.since) if problem else (None, None, None)
    current = (run.problem_code, run.problem_message, as_utc(run.problem_since))
    if current == values:
        return False
    run.problem_code, run.problem_message, run.problem_since = values
    session.add(run)
    session.flush()
    return True


def problem_of(run: Run) -> RunProblem | None:
    if run.problem_code is None:
        return None
    return RunProblem(code=run.problem_code, message=run.problem_message or "",
                      since=as_utc(run.problem_since) or run.updated_at)


def record_step(session: Session, step: StepRecord) -> None:
    """Upsert one step execution by (run id, sequence number): safe to retry."""
    record_steps(session, [step])


#: What a later record of the same (run id, seq) overwrites.
_STEP_FIELDS = ("step_id", "type", "state", "started_at", "finished_at", "due_at", "reason")


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


@cache
def _upsert_steps(dialect: str) -> Any:
    """One statement per dialect, its parameters given per call: compiled once (a statement
    built with each call's values compiled afresh every time)."""
    statement: Any
    if dialect == "postgresql":
        # Imported here: a worker on SQLite does not load the PostgreSQL dialect at start.
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        statement = postgresql_insert(_table(RunStep))
    else:
        statement = sqlite_insert(_table(RunStep))
    return statement.on_conflict_do_update(
        index_elements=["run_id", "seq"], set_={name: statement.excluded[name] for name in _STEP_FIELDS})


def record_steps(session: Session, records: list[StepRecord]) -> None:
    """Upsert step executions by (run id, sequence number), safe to retry; later records of the
    same (run id, seq) win, as if written in order. One ``INSERT ... ON CONFLICT DO UPDATE``
    and one touch of the runs, without ORM objects (issue 9: the ORM version, a read and an
    object per row, was ~9 % of the worker's CPU)."""
    if not records:
        return
    latest = {(r.run_id, r.seq): r for r in records}
    rows = [{"run_id": r.run_id, "seq": r.seq, **{name: getattr(r, name) for name in _STEP_FIELDS}}
            for r in latest.values()]
    # SQLAlchemy Core on the session's connection: the ORM's bulk paths for the same two
    # statements cost twice the CPU (no ORM object of these rows is in the session to update).
    connection = session.connection()
    connection.execute(_upsert_steps(connection.dialect.name), rows)
    now = utcnow()
    connection.execute(_touch_run(), [{"run": run_id, "now": now} for run_id in sorted({r.run_id for r in records})])


@cache
def _touch_run() -> Any:
    """``updated_at`` of one run (executed once per run id): built and compiled once."""
    runs_table = _table(Run)
    return update(runs_table).where(runs_table.c.id == bindparam("run")).values(updated_at=bindparam("now"))


def steps(session: Session, run_id: str) -> list[RunStep]:
    query = select(RunStep).where(RunStep.run_id == run_id).order_by(col(RunStep.seq))
    return list(session.exec(query))


def with_held(steps: Sequence[RunStep], held: Sequence[StepRecord]) -> list[RunStep | StepRecord]:
    """A run's steps as it shows them: the table's, and on top of them (by ``seq``) the newer
    records its workflow holds and has not written yet (``held_steps``)."""
    by_seq: dict[int, RunStep | StepRecord] = {s.seq: s for s in steps}
    by_seq.update({r.seq: r for r in held})
    return [by_seq[seq] for seq in sorted(by_seq)]


def list_page(
    session: Session,
    *,
    contact_id: int | None = None,
    kind: str | None = None,
    status: str | None = None,
    definition_name: str | None = None,
    problem: bool | None = None,
    before: str | None = None,
    limit: int = 50,
    visible: Visibility = EVERYTHING,
) -> list[Run]:
    """Newest first; the cursor is the id of the last run seen (ids sort by creation).
    ``problem``: only runs that cannot make progress (True) or only the others (False)."""
    query = visible.by_contact(select(Run), col(Run.contact_id))
    if problem is not None:
        query = query.where(col(Run.problem_code).is_not(None) if problem else col(Run.problem_code).is_(None))
    if contact_id is not None:
        query = query.where(Run.contact_id == contact_id)
    if kind:
        query = query.where(Run.kind == kind)
    if status:
        query = query.where(Run.status == status)
    if definition_name:
        query = query.where(Run.definition_name == definition_name)
    if before:
        query = query.where(col(Run.id) < before)
    return list(session.exec(query.order_by(col(Run.id).desc()).limit(limit)))


def active_for_contact(session: Session, contact_id: int) -> list[Run]:
    query = select(Run).where(Run.contact_id == contact_id, Run.status == RunStatus.RUNNING)
    return list(session.exec(query.order_by(col(Run.created_at))))


def discard(session: Session, run_id: str) -> None:
    """Remove a run that never started (Temporal refused its start): its row, its steps and its
    timeline entries, so nothing says it ran or failed."""
    from followthrough.store.tables import TimelineEntry

    for model in (TimelineEntry, RunStep):
        for row in session.exec(select(model).where(col(model.run_id) == run_id)):
            session.delete(row)
    session.flush()  # children first: run_steps refer to the run
    run = session.get(Run, run_id)
    if run is not None:
        session.delete(run)
