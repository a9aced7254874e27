"""Test data for leads: a published lead policy, a sales team with its manager, leads through the
intake service, and the lead read back from the store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client

from followthrough.leads import service
from followthrough.leads.service import LeadDraft
from followthrough.settings import Settings
from followthrough.store import definitions, leads, teams
from followthrough.store.db import session_scope
from followthrough.store.tables import Lead, LeadEvent, User
from tests.support.tasks import person

POLICY: dict[str, Any] = {
    "name": "default_leads", "kind": "lead_policy",
    "fit": [{"id": "big_budget", "when": "(lead.attributes.budget or 0) >= 1000", "points": 60}],
    "engagement": {"form.submitted": 30, "reply": 20},
    "thresholds": {"qualified": 50},
    "nurture": {"sequence": "lead_nurture"},
    "assignment": {"default_team": "sales", "sticky": False},
    "sla": {"within": "PT1H", "business": True},
}


def publish_policy(engine: Engine, **changes: Any) -> None:
    with session_scope(engine) as session:
        definitions.save(session, "default_leads", "lead_policy", {**POLICY, **changes}, publish=True)


def sales_team(engine: Engine, *reps: str, calendar: str | None = "budapest_office") -> tuple[int, list[int]]:
    """(the manager, the reps in order), the reps in team ``sales`` with weight 1, working on
    ``calendar`` in Budapest."""
    manager = person(engine, "Maria", role="manager")
    ids = [person(engine, name, manager_id=manager) for name in reps]
    with session_scope(engine) as session:
        for user_id in ids:
            user = session.get(User, user_id)
            assert user is not None
            user.calendar = calendar
            session.add(user)
        teams.put(session, "sales", members_in=[(i, 1) for i in ids], manager_id=manager, calendar=None)
    return manager, ids


async def new_lead(engine: Engine, client: Client, settings: Settings, **fields: Any) -> Lead:
    draft = LeadDraft(**{"contact": {"name": "Anna Kovács", "email": "anna@example.test", "phone": "+36301234567",
                                     "locale": "hu", "time_zone": "Europe/Budapest", "attributes": {}},
                         "source": "web", **fields})
    lead, _ = await service.take(engine, client, settings, draft)
    return lead


def lead_row(engine: Engine, lead_id: int) -> Lead:
    with session_scope(engine) as session:
        return leads.get(session, lead_id)


def lead_events(engine: Engine, lead_id: int, kind: str | None = None) -> list[LeadEvent]:
    with session_scope(engine) as session:
        return [e for e in leads.events(session, lead_id) if kind is None or e.kind == kind]
