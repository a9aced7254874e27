"""Shapes shared by every resource: ids, versions and opaque cursors in the range the database
holds, pages, RFC 3339 UTC timestamps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Generic, Protocol, TypeVar

from annotated_types import Interval
from fastapi import Query
from pydantic import AfterValidator, BaseModel, PlainSerializer
from pydantic_core import PydanticCustomError

from followthrough.errors import FieldError, ValidationFailed


class _HasId(Protocol):
    @property
    def id(self) -> int | None: ...


T = TypeVar("T")
R = TypeVar("R", bound=_HasId)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

#: The largest integer every id and version column holds on both databases: they are INTEGER,
#: 32 bits in PostgreSQL (SQLite's go to 64). A larger number reaching a query overflows in the
#: driver or the server (a 500), so every id, version and cursor is bounded here, before any
#: handler runs. Raise it only with a migration of those columns to BIGINT.
MAX_ID = 2**31 - 1

#: A row id (contact, user, hold, suppression, ledger row, ...) in a path, query or body: 1 to
#: MAX_ID; anything else is a 422 naming the parameter. Add ``Path(description=...)`` or
#: ``Query(...)`` beside it in the route; the bounds stay.
Id = Annotated[int, Interval(ge=1, le=MAX_ID)]

#: A definition version number: the same range as an id.
Version = Annotated[int, Interval(ge=1, le=MAX_ID)]

_NOT_A_CURSOR = "not a cursor returned by this list"


def _cursor(value: str | None) -> str | None:
    if value is None or value == "":
        return value
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_ID:
        raise PydanticCustomError("cursor", _NOT_A_CURSOR)
    return value


#: The ``?cursor=`` of a list whose pages are cut by row id: a ``next_cursor`` of that list.
Cursor = Annotated[
    str | None,
    Query(max_length=20, description="A next_cursor from the previous page."),
    AfterValidator(_cursor),
]

#: The query parameters of every list: ``?cursor=`` (a ``next_cursor``) and ``?limit=``.
CursorQuery = Cursor
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]


def _as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rfc3339(value: datetime) -> str:
    # Always six fraction digits, so every timestamp has one shape and sorts as text.
    return _as_utc(value).isoformat(timespec="microseconds").replace("+00:00", "Z")


#: A timestamp serialized as RFC 3339 in UTC, e.g. ``2026-05-09T07:35:25.123456Z``.
UtcDateTime = Annotated[
    datetime, AfterValidator(_as_utc), PlainSerializer(_rfc3339, return_type=str)
]


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``?cursor=`` until it is null."""

    items: list[T]
    next_cursor: str | None = None


def decode_cursor(cursor: str | None) -> int | None:
    """The row id a cursor stands for; a cursor is opaque to clients (today: the last id seen)."""
    if cursor is None or cursor == "":
        return None
    try:
        _cursor(cursor)
    except ValueError as exc:  # PydanticCustomError is one; a route without ``Cursor`` gets here
        raise ValidationFailed(
            "The cursor is not valid; use a next_cursor value returned by this list.",
            errors=[FieldError("/query/cursor", _NOT_A_CURSOR)],
        ) from exc
    return int(cursor)


def page_of(rows: list[R], limit: int, public: Callable[[R], T]) -> Page[T]:
    """A page from ``limit + 1`` fetched rows (the extra row only says another page exists);
    the cursor is the id of the last row returned."""
    has_more = len(rows) > limit
    rows = rows[:limit]
    cursor = str(rows[-1].id) if has_more else None
    return Page(items=[public(row) for row in rows], next_cursor=cursor)


def page_at(items: Sequence[T], cursor: str | None, limit: int) -> Page[T]:
    """A page of a list kept in its own order (by name: templates, definitions, calendars,
    versions), which has no row id to continue after: the cursor is the next item's position."""
    start = decode_cursor(cursor) or 0
    end = start + limit
    return Page(items=list(items[start:end]), next_cursor=str(end) if end < len(items) else None)
