"""Business calendars as data: save (validated), read, list, delete. Admins and managers only.

A calendar is stored under its name; files under ``calendars/`` are seeded at start (source
``file``) and an edit through the API wins over its file (source ``api``). The calendars built
into the code answer for names not stored (source ``builtin``). Deleting is allowed even when an
active definition refers to the calendar: running runs keep the copy they pinned at enrollment,
and new enrollments of such a definition are refused (409) until the calendar exists again.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response, status
from pydantic import BaseModel
from sqlalchemy import Engine

from api.deps import EngineDep, SessionDep, TemporalDep
from api.schemas.common import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page, UtcDateTime, page_at
from followthrough.calendar import BUILTIN_CALENDARS, Calendar, Period, Weekday
from followthrough.errors import NotFound
from followthrough.store import calendars, tickets
from followthrough.store.db import read_scope, session_scope
from followthrough.store.tables import CalendarRow
from followthrough.tickets import service as ticket_service

router = APIRouter(prefix="/v1/calendars", tags=["calendars"])

Name = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="e.g. budapest_office")]


class CalendarPublic(BaseModel):
    name: str
    time_zone: str
    week: dict[Weekday, list[Period]]
    country: str | None
    closed_dates: list[date]
    open_dates: list[date]
    source: str  # api | file | builtin
    updated_at: UtcDateTime | None

    @classmethod
    def of(cls, name: str, document: dict[str, Any], source: str,
           updated_at: datetime | None = None) -> CalendarPublic:
        return cls(name=name, source=source, updated_at=updated_at, **document)

    @classmethod
    def of_row(cls, row: CalendarRow) -> CalendarPublic:
        return cls.of(row.name, row.document, row.source, row.updated_at)


_EXAMPLE = {"time_zone": "Europe/Budapest", "country": "HU",
            "week": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]},
            "closed_dates": ["2026-12-24"], "open_dates": []}


@router.put("/{name}", responses={201: {"description": "Created", "model": CalendarPublic}})
async def put_calendar(
    name: Name, engine: EngineDep, temporal: TemporalDep, response: Response,
    body: Annotated[dict[str, Any], Body(openapi_examples={"office": {"value": _EXAMPLE}})],
) -> CalendarPublic:
    """Save a calendar (201 created, 200 replaced): IANA ``time_zone``, ``week`` of working
    periods per weekday (a missing day is closed), ``country`` for public holidays,
    ``closed_dates`` and ``open_dates``. A 422 lists every problem with its path.

    Open tickets whose SLA clocks count on it follow the edit from now (their clocks are
    recomputed; sequences keep the calendar they started with)."""
    calendar = calendars.parse(name, body)
    public, created = await asyncio.to_thread(_put, engine, calendar)
    if await asyncio.to_thread(_has_open_tickets, engine):  # a new one may replace a built-in
        await ticket_service.calendar_edited(engine, await temporal.client(), name, calendars.document_of(calendar))
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return public


def _put(engine: Engine, calendar: Calendar) -> tuple[CalendarPublic, bool]:
    with session_scope(engine) as session:
        row, created = calendars.put(session, calendar)
        return CalendarPublic.of_row(row), created


def _has_open_tickets(engine: Engine) -> bool:
    with read_scope(engine) as session:
        return bool(tickets.open_tickets(session))


@router.get("")
def list_calendars(session: SessionDep, cursor: CursorQuery = None,
                   limit: LimitQuery = DEFAULT_LIMIT) -> Page[CalendarPublic]:
    """The stored calendars, and the built-in ones not stored, by name."""
    stored = {row.name: CalendarPublic.of_row(row) for row in calendars.list_all(session)}
    for name, calendar in BUILTIN_CALENDARS.items():
        if name not in stored:
            stored[name] = CalendarPublic.of(name, calendars.document_of(calendar), "builtin")
    return page_at([stored[name] for name in sorted(stored)], cursor, limit)


@router.get("/{name}")
def get_calendar(name: Name, session: SessionDep) -> CalendarPublic:
    row = calendars.get_row(session, name)
    if row is not None:
        return CalendarPublic.of_row(row)
    if name in BUILTIN_CALENDARS:
        return CalendarPublic.of(name, calendars.document_of(BUILTIN_CALENDARS[name]), "builtin")
    raise NotFound(f"calendar '{name}' does not exist")


@router.delete("/{name}", status_code=204)
def delete_calendar(name: Name, session: SessionDep) -> Response:
    """Remove a stored calendar (404 when not stored). Runs keep their pinned copy; a file
    calendar returns at the next start unless its file is removed too."""
    calendars.delete(session, name)
    return Response(status_code=204)
