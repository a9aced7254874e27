"""Test data for tickets: an SLA policy published in the store, a support team, and tickets
opened through the service."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select
from temporalio.client import Client

from followthrough.settings import Settings
from followthrough.store import definitions, teams
from followthrough.store import tickets as store
from followthrough.store.db import session_scope
from followthrough.store.tables import Ticket, TicketEvent
from followthrough.tickets import service

#: Budapest office hours (09-12, 13-17, Hungarian holidays); complaints are ``high``.
POLICY: dict[str, Any] = {
    "name": "support_sla", "kind": "sla_policy", "calendar": "budapest_office",
    "classification": [
        {"id": "complaint", "keywords": ["complaint", "жалоба", "panasz"], "category": "complaint",
         "priority": "high"},
    ],
    "default_priority": "normal", "default_category": "general",
    "priorities": {
        "urgent": {"first_response": "PT1H", "resolution": "PT4H", "urgent": True},
        "high": {"first_response": "PT2H", "next_response": "PT4H", "resolution": "PT8H", "ladder": [
            {"at": {"share": 0.75}, "target": "first_response", "notify": ["assignee"], "warning": True},
            {"at": {"share": 0.5}, "target": "resolution", "notify": ["team_manager"]},
            {"at": {"share": 1.0}, "target": "resolution", "notify": ["HEAD"]},
        ]},
        "normal": {"first_response": "PT8H", "next_response": "PT8H", "resolution": "PT24H"},
    },
    "default_team": "support",
    "hold_categories": ["complaint"],
    "survey": {"delay": "PT1H", "close_after": "P7D", "reopen_at_or_below": 2},
}


def publish_policy(engine: Engine, head_id: int, **overrides: Any) -> dict[str, Any]:
    """Publish the test policy (the head of support as the last rung) under ``support_sla``."""
    document = copy.deepcopy(POLICY)
    document["priorities"]["high"]["ladder"][-1]["notify"] = [head_id]
    document.update(overrides)
    with session_scope(engine) as session:
        definitions.save(session, document["name"], "sla_policy", document, publish=True)
    return document


def support_team(engine: Engine, members: list[int], manager_id: int | None, name: str = "support") -> int:
    with session_scope(engine) as session:
        team, _ = teams.put(session, name, members_in=[(m, 1) for m in members], manager_id=manager_id,
                            calendar=None)
        return team.id  # type: ignore[return-value]


async def open_ticket(engine: Engine, client: Client, settings: Settings, now: datetime, contact_id: int,
                      **fields: Any) -> Ticket:
    values = {"channel": "email", "subject": "Broken order", "text": "This is a complaint: the parcel was empty.",
              **fields}
    ticket, created = await service.open_ticket(engine, client, contact_id=contact_id, settings=settings,
                                                now=now, **values)
    assert created
    return ticket


def ticket_row(engine: Engine, ticket_id: int) -> Ticket:
    with session_scope(engine) as session:
        return store.get(session, ticket_id)


def ticket_events(engine: Engine, ticket_id: int, kind: str | None = None) -> list[TicketEvent]:
    with session_scope(engine) as session:
        query = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
        if kind is not None:
            query = query.where(TicketEvent.kind == kind)
        return list(session.exec(query.order_by(TicketEvent.id)))  # type: ignore[arg-type]
