"""The delivery ledger: claim a key before the provider call, record the outcome after.

Every function here runs inside the caller's transaction; the delivery activity commits after
``claim`` so the ``pending`` row is durable before any provider is called (record before you act).
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import Insert, Table, bindparam
from sqlalchemy import insert as sa_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from followthrough.models.vocab import LedgerState
from followthrough.store.scope import EVERYTHING, Visibility
from followthrough.store.tables import Delivery, utcnow

FINAL_STATES = frozenset(
    {
        LedgerState.SENT,
        LedgerState.DELIVERED,
        LedgerState.FAILED,
        LedgerState.BOUNCED,
        LedgerState.UNDELIVERED,
        LedgerState.SKIPPED,
    }
)

# Provider status words (Twilio MessageStatus / CallStatus) mapped onto our closed vocabulary.
PROVIDER_STATES: dict[str, LedgerState] = {
    "delivered": LedgerState.DELIVERED,
    "read": LedgerState.DELIVERED,
    "undelivered": LedgerState.UNDELIVERED,
    "failed": LedgerState.FAILED,
    "completed": LedgerState.DELIVERED,
    "busy": LedgerState.UNDELIVERED,
    "no-answer": LedgerState.UNDELIVERED,
    "canceled": LedgerState.FAILED,
}


def get_by_key(session: Session, key: str, *, for_update: bool = False) -> Delivery | None:
    return session.exec(_by_key(for_update), params={"row_key": key}).first()  # type: ignore[call-overload, no-any-return]


@cache
def _by_key(for_update: bool) -> Any:
    """The row of a key (read by every delivery attempt): built and compiled once."""
    query = select(Delivery).where(Delivery.key == bindparam("row_key"))
    return query.with_for_update() if for_update else query


def create(session: Session, **fields: Any) -> Delivery | None:
    """Insert a new row; returns None when another worker inserted the key first."""
    row = Delivery(**fields)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def new_record(**fields: Any) -> Any:
    """A row not stored yet, for ``insert``: a plain record with every column at the model's
    default and ``fields`` set, without building a SQLModel instance (whose per-field default
    handling inspected each default factory's signature every time: ~7 % of a delivery's
    Python time in the burst, issue 9). Reads like a ``Delivery``; ``id`` stays None."""
    values = {name: (factory() if factory is not None else default) for name, default, factory in _defaults()}
    values.update(fields)
    return SimpleNamespace(**values)


@cache
def _defaults() -> list[tuple[str, Any, Any]]:
    """(field, default, default factory) of every field of ``Delivery``; a required field's
    default is None (the caller sets it)."""
    found = []
    for name, info in Delivery.model_fields.items():
        default = None if info.default is PydanticUndefined else info.default
        found.append((name, default, info.default_factory))
    return found


def insert(session: Session, row: Delivery, **fields: Any) -> bool:
    """Insert ``row`` with ``fields`` set; False when the key exists already. Unlike ``create``
    there is no savepoint: after False the caller's transaction is lost and must end. The row
    stays out of the session (a plain record of what was written: it has no ``id``); one Core
    INSERT, without the ORM's unit of work (issue 9)."""
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    table = _table()
    try:
        session.connection().execute(
            _insert_statement(), {c.name: getattr(row, c.name) for c in table.columns if c.name != "id"})
    except IntegrityError:
        return False
    return True


@cache
def _table() -> Table:
    return Delivery.__table__  # type: ignore[attr-defined, no-any-return]


@cache
def _insert_statement() -> Insert:
    return sa_insert(_table())


def update(session: Session, row: Delivery, **fields: Any) -> Delivery:
    if fields.get("state", LedgerState.PENDING) != LedgerState.PENDING:
        fields["attempt_token"] = None  # a task token names a pending attempt only (store/liveness.py)
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row


#: What ``mark_sent`` returns of the row: the outcome and what its timeline entry names.
SENT_COLUMNS = ("key", "state", "channel", "reason", "provider_id", "defer_until", "contact_id", "run_id",
                "template", "decision", "to_address")


def mark_sent(session: Session, key: str, *, provider_id: str | None, provider_status: str | None,
              reason: str | None = None) -> Any | None:
    """Record ``sent`` on the row of ``key`` (``reason`` replaces the row's when given); the row
    as written (``SENT_COLUMNS``), or None when there is no such row. One Core ``UPDATE ...
    RETURNING`` instead of loading the ORM object and flushing it (issue 9: the outcome's
    transaction was a twelfth of a delivery's Python time); the same values as ``update``."""
    now = utcnow()
    values: dict[str, Any] = {"row_key": key, "provider_id": provider_id, "provider_status": provider_status,
                              "now": now}
    if reason is not None:
        values["new_reason"] = reason
    return session.connection().execute(_mark_sent_statement(reason is not None), values).one_or_none()


@cache
def _mark_sent_statement(with_reason: bool) -> Any:
    """``mark_sent``'s statement, built and compiled once (per: the reason replaced or kept)."""
    table = _table()
    values: dict[str, Any] = {"state": LedgerState.SENT.value, "provider_id": bindparam("provider_id"),
                              "provider_status": bindparam("provider_status"), "sent_at": bindparam("now"),
                              "updated_at": bindparam("now"), "attempt_token": None}
    if with_reason:
        values["reason"] = bindparam("new_reason")
    return (table.update().where(table.c.key == bindparam("row_key")).values(**values)
            .returning(*(table.c[name] for name in SENT_COLUMNS)))


def apply_provider_status(
    session: Session, provider_id: str, status: str, reason: str | None = None
) -> Delivery | None:
    """A status callback: move the row found by MessageSid/CallSid; unknown ids are ignored."""
    row = session.exec(select(Delivery).where(Delivery.provider_id == provider_id)).first()
    if row is None:
        return None
    state = PROVIDER_STATES.get(status.lower())
    fields: dict[str, Any] = {"provider_status": status}
    if state is not None:
        fields["state"] = state
    if reason:
        fields["reason"] = reason
    return update(session, row, **fields)


def list_page(
    session: Session,
    *,
    contact_id: int | None = None,
    run_id: str | None = None,
    channel: str | None = None,
    state: str | None = None,
    before: int | None = None,
    limit: int = 50,
    visible: Visibility = EVERYTHING,
) -> list[Delivery]:
    query = visible.by_contact(select(Delivery), col(Delivery.contact_id))
    if contact_id is not None:
        query = query.where(Delivery.contact_id == contact_id)
    if run_id:
        query = query.where(Delivery.run_id == run_id)
    if channel:
        query = query.where(Delivery.channel == channel)
    if state:
        query = query.where(Delivery.state == state)
    if before is not None:
        query = query.where(col(Delivery.id) < before)
    return list(session.exec(query.order_by(col(Delivery.id).desc()).limit(limit)))


def by_message_id(session: Session, provider_id: str) -> Delivery | None:
    return session.exec(select(Delivery).where(Delivery.provider_id == provider_id)).first()


def latest_sent_to_user(session: Session, user_id: int, run_id_prefix: str) -> Delivery | None:
    """The last message that reached ``user_id`` from a run whose id starts with
    ``run_id_prefix`` (``task-``: the reminder a rep's SMS answer is about)."""
    query = (select(Delivery)
             .where(Delivery.to_user_id == user_id, col(Delivery.run_id).startswith(run_id_prefix),
                    col(Delivery.state).in_([LedgerState.SENT, LedgerState.DELIVERED]))
             .order_by(col(Delivery.sent_at).desc().nulls_last(), col(Delivery.id).desc()))
    return session.exec(query).first()
