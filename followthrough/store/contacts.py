"""Contacts: create, read, update, upsert by external id, find by address."""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol, cast

from sqlalchemy import bindparam
from sqlalchemy import select as select_core
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from followthrough.errors import Conflict, NotFound
from followthrough.models.contact import ContactSnapshot
from followthrough.store.scope import EVERYTHING, Visibility
from followthrough.store.tables import Contact, utcnow


class ContactFields(Protocol):
    """What readers of a contact read: a ``Contact`` or the row ``read`` returns."""

    @property
    def id(self) -> int | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def given_name(self) -> str | None: ...
    @property
    def family_name(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def locale(self) -> str: ...
    @property
    def time_zone(self) -> str: ...
    @property
    def attributes(self) -> dict[str, Any]: ...
    @property
    def owner_id(self) -> int | None: ...


def read(session: Session, contact_id: int) -> ContactFields:
    """The contact's columns in one Core SELECT, without an ORM object: for readers that only
    read (the delivery door, once per message: issue 9)."""
    row = session.connection().execute(_read_statement(), {"id": contact_id}).one_or_none()
    if row is None:
        raise NotFound(f"contact {contact_id} does not exist")
    return cast(ContactFields, row)


@cache
def _read_statement() -> Any:
    table = Contact.__table__  # type: ignore[attr-defined]
    return select_core(table).where(table.c.id == bindparam("id"))


def get(session: Session, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist")
    return contact


def create(session: Session, fields: dict[str, Any]) -> Contact:
    contact = Contact(**fields)
    session.add(contact)
    _flush_unique(session, fields.get("external_id"))
    return contact


def update(session: Session, contact: Contact, fields: dict[str, Any]) -> Contact:
    for name, value in fields.items():
        setattr(contact, name, value)
    contact.updated_at = utcnow()
    session.add(contact)
    _flush_unique(session, fields.get("external_id"))
    return contact


def by_external_id(session: Session, external_id: str) -> Contact | None:
    return session.exec(select(Contact).where(Contact.external_id == external_id)).first()


def upsert_by_external_id(
    session: Session, external_id: str, fields: dict[str, Any]
) -> tuple[Contact, bool]:
    existing = by_external_id(session, external_id)
    if existing is None:
        return create(session, {**fields, "external_id": external_id}), True
    return update(session, existing, fields), False


def list_page(session: Session, *, after: int | None, limit: int,
              visible: Visibility = EVERYTHING) -> list[Contact]:
    query = visible.contacts(select(Contact).order_by(col(Contact.id)))
    if after is not None:
        query = query.where(col(Contact.id) > after)
    return list(session.exec(query.limit(limit)))


def find_by_phone(session: Session, phone: str) -> list[Contact]:
    return list(session.exec(select(Contact).where(Contact.phone == phone).order_by(col(Contact.id))))


def find_by_email(session: Session, email: str) -> list[Contact]:
    # Case-insensitive equality: escape LIKE wildcards, or "j_doe@x" would also find "jxdoe@x".
    pattern = email.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (
        select(Contact)
        .where(col(Contact.email).ilike(pattern, escape="\\"))
        .order_by(col(Contact.id))
    )
    return list(session.exec(query))


def snapshot(contact: ContactFields, lead_score: float | None = None) -> ContactSnapshot:
    """The contact as runs and messages see it; ``lead_score``: its open lead's score."""
    return ContactSnapshot(
        id=contact.id,
        name=contact.name,
        given_name=contact.given_name,
        family_name=contact.family_name,
        email=contact.email,
        phone=contact.phone,
        locale=contact.locale,
        time_zone=contact.time_zone,
        attributes=dict(contact.attributes or {}),
        owner_id=contact.owner_id,
        lead_score=lead_score,
    )


def _flush_unique(session: Session, external_id: str | None) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(f"a contact with external_id '{external_id}' already exists") from exc
