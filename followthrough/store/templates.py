"""Templates stored in the database; files under ``templates/`` are seeded, the database wins."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine
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

    def get(self, channel: str, name: str, locale: str) -> TemplateParts | None:
        with read_scope(self._engine) as session:
            row = get_row(session, channel, name, locale)
            if row is None:
                return None
            return TemplateParts(subject=row.subject, text=row.text, html=row.html)

    def locales(self, channel: str, name: str) -> list[str]:
        with read_scope(self._engine) as session:
            query = select(TemplateRow.locale).where(
                TemplateRow.channel == channel, TemplateRow.name == name
            )
            return sorted(session.exec(query))
