"""GET /v1/reports/sla: the SLA figures over HTTP, on both databases, for admins and managers (their
teams' tickets only); reps are refused; a bad or empty period is a 422 naming the parameter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine

from followthrough.settings import Settings
from followthrough.store import contacts, teams, users
from followthrough.store.db import session_scope
from followthrough.store.tables import Ticket, TicketEvent
from tests.conftest import ADMIN_KEY

URL = "/v1/reports/sla"
PERIOD = {"from": "2026-03-01T00:00:00+01:00", "to": "2026-04-01T00:00:00Z"}


@pytest.fixture
async def client(settings: Settings, any_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    from api.app import create_app

    transport = httpx.ASGITransport(app=create_app(settings, engine=any_engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:
        yield api


def world(engine: Engine) -> dict[str, object]:
    """East (Mia manages Rita) and west (Olga), with tickets as the workflow leaves them."""
    with session_scope(engine) as session:
        mia, mia_key = users.create(session, name="Mia", email=None, role="manager")
        rita, rita_key = users.create(session, name="Rita", email=None, role="rep")
        olga, _ = users.create(session, name="Olga", email=None, role="rep")
        east = teams.put(session, "east", members_in=[(rita.id, 1)], manager_id=mia.id, calendar=None)[0]  # type: ignore[list-item]
        west = teams.put(session, "west", members_in=[(olga.id, 1)], manager_id=None, calendar=None)[0]  # type: ignore[list-item]
        contact = contacts.create(session, {"name": "C", "attributes": {}})
        created = datetime(2026, 3, 10, 12, tzinfo=UTC)
        rows = [(rita.id, east.id, "high", 600, 7200, 0), (rita.id, east.id, "high", 1800, None, 1),
                (olga.id, west.id, "normal", 60, 3600, 0)]
        for n, (assignee, team, priority, first, resolution, reopened) in enumerate(rows):
            ticket = Ticket(contact_id=contact.id, channel="email", status="open", priority=priority,  # type: ignore[arg-type]
                            category="complaint", team_id=team, assignee_id=assignee, policy_name="support_sla",
                            policy_version=1, workflow_id=f"ticket-{n}", first_response_seconds=first,
                            resolution_seconds=resolution, reopened=reopened, created_at=created + timedelta(hours=n))
            session.add(ticket)
            session.flush()
            if n == 1:
                session.add(TicketEvent(ticket_id=ticket.id, kind="breach", key="b1",  # type: ignore[arg-type]
                                        detail={"target": "resolution", "round": 1, "tier": 1, "told": [mia.id]}))
                session.add(TicketEvent(ticket_id=ticket.id, kind="survey", key="s1",  # type: ignore[arg-type]
                                        detail={"score": 2, "via": "link"}))
        # Created a minute before the period begins (23:59 on 28 February in Budapest): outside.
        session.add(Ticket(contact_id=contact.id, channel="sms", status="open", priority="high",  # type: ignore[arg-type]
                           team_id=east.id, policy_name="support_sla", policy_version=1, workflow_id="ticket-early",
                           created_at=datetime(2026, 2, 28, 22, 59, tzinfo=UTC)))
    return {"mia": mia_key, "rita": rita_key, "east": east.id, "west": west.id}


class TestSlaReport:
    async def test_admin_sees_every_ticket(self, client: httpx.AsyncClient, any_engine: Engine) -> None:
        ids = world(any_engine)
        response = await client.get(URL, params=PERIOD)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["from"], body["to"]) == ("2026-02-28T23:00:00.000000Z", "2026-04-01T00:00:00.000000Z")
        assert {k: body["overall"][k] for k in ("tickets", "breached", "resolution_breached", "compliance")} == {
            "tickets": 3, "breached": 1, "resolution_breached": 1, "compliance": 0.6667}
        assert body["overall"]["first_response"] == {"count": 3, "median_seconds": 600.0, "p90_seconds": 1560.0}
        assert [(g["key"], g["tickets"], g["resolution"]["median_seconds"]) for g in body["by_priority"]] == [
            ("high", 2, 7200.0), ("normal", 1, 3600.0)]
        assert [(g["key"], g["name"], g["compliance"]) for g in body["by_team"]] == [
            (ids["east"], "east", 0.5), (ids["west"], "west", 1.0)]
        assert body["breaches"] == [{"target": "resolution", "tier": 1, "breaches": 1}]
        assert (body["reopen_rate"], body["reopened"], body["resolved"]) == (0.3333, 1, 3)
        assert body["csat"] == {"responses": 1, "mean": 2.0, "satisfied": 0, "satisfied_share": 0.0}

    async def test_a_manager_sees_their_teams_tickets_and_a_rep_nothing(self, client: httpx.AsyncClient,
                                                                        any_engine: Engine) -> None:
        ids = world(any_engine)
        mine = await client.get(URL, params=PERIOD, headers={"Authorization": f"Bearer {ids['mia']}"})
        assert mine.status_code == 200
        assert [g["key"] for g in mine.json()["by_team"]] == [ids["east"]]
        assert mine.json()["overall"]["tickets"] == 2
        refused = await client.get(URL, params=PERIOD, headers={"Authorization": f"Bearer {ids['rita']}"})
        assert refused.status_code == 403

    @pytest.mark.parametrize(("params", "path"), [
        ({"from": "2026-04-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "/query/from"),
        ({"from": "2026-03-01T00:00:00"}, "/query/from"),  # no offset
        ({"to": "yesterday"}, "/query/to"),
    ])
    async def test_a_bad_period_names_the_parameter(self, client: httpx.AsyncClient, params: dict[str, str],
                                                    path: str) -> None:
        response = await client.get(URL, params=params)
        assert response.status_code == 422
        assert path in [e["path"] for e in response.json()["errors"]]
