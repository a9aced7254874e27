"""Templates stored in the database; files under ``templates/`` are seeded, the database wins."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache

from sqlalchemy import Engine, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from followthrough.rendering import TemplateParts
from followthrough.store.db import read_scope
from followthrough.store.tables import TemplateRow, utcnow


def put(
    session: Session, channel: str, name: str, locale: str, parts: TemplateParts, *,
    source: str = "api",
) -> tuple[TemplateRow, bool]:
    row = get_row(session, channel, name, locale)
    created = row is None
    if row is None:
        row = TemplateRow(channel=channel, name=name, locale=locale)
    row.subject, row.text, row.html = parts.subject, parts.text, parts.html
    row.source = source
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row, created


def seed(session: Session, items: Sequence[tuple[str, str, str, TemplateParts]]) -> int:
    """Insert file templates that the database does not have yet, and refresh rows that still
    come from files; rows saved through the API are never overwritten."""
    count = 0
    for channel, name, locale, parts in items:
        row = get_row(session, channel, name, locale)
        if row is None or row.source == "file":
            put(session, channel, name, locale, parts, source="file")
            count += 1
    return count


def get_row(session: Session, channel: str, name: str, locale: str) -> TemplateRow | None:
    query = select(TemplateRow).where(
        TemplateRow.channel == channel, TemplateRow.name == name, TemplateRow.locale == locale
    )
    return session.exec(query).first()


def list_all(session: Session, channel: str | None = None) -> list[TemplateRow]:
    query = select(TemplateRow)
    if channel:
        query = query.where(TemplateRow.channel == channel)
    order = (col(TemplateRow.channel), col(TemplateRow.name), col(TemplateRow.locale))
    return list(session.exec(query.order_by(*order)))


class DbTemplateSource:
    """The template source the renderer reads in production."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()

    @contextmanager
    def reading_through(self, session: Session) -> Iterator[None]:
        """Templates this thread reads meanwhile go through ``session`` (the caller's open
        transaction) instead of a connection of their own: a thread that holds a pooled
        connection must never wait for a second one (threads that all did would exhaust the
        pool and wait for each other), and one unit of work is cheaper than two."""
        previous = getattr(self._local, "session", None)
        self._local.session = session
        try:
            yield
        finally:
            self._local.session = previous

    @contextmanager
    def _session(self) -> Iterator[Session]:
        current: Session | None = getattr(self._local, "session", None)
        if current is not None:
            yield current
        else:
            with read_scope(self._engine) as session:
                yield session

    def get(self, channel: str, name: str, locale: str) -> TemplateParts | None:
        with self._session() as session:
            # Three columns as a Core row, not the ORM object (read for every message: issue 9).
            row = session.connection().execute(_parts_statement(), {"channel": channel, "name": name, "locale": locale}).first()
            if row is None:
                return None
            return TemplateParts(subject=row.subject, text=row.text, html=row.html)

    def locales(self, channel: str, name: str) -> list[str]:
        with self._session() as session:
            query = select(TemplateRow.locale).where(
                TemplateRow.channel == channel, TemplateRow.name == name
            )
            return sorted(session.exec(query))


@cache
def _parts_statement():  # type: ignore[no-untyped-def]
    table = TemplateRow.__table__  # type: ignore[attr-defined]
    return (sa_select(table.c.subject, table.c.text, table.c.html)
            .where(table.c.channel == bindparam("channel"), table.c.name == bindparam("name"),
                   table.c.locale == bindparam("locale")).limit(1))
