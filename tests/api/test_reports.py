"""GET /v1/reports/leads and /v1/reports/sla: the figures over HTTP, on both databases, for admins and
managers (their teams' leads and tickets only); reps are refused; a bad or empty period is a 422
naming the parameter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine

from followthrough.settings import Settings
from followthrough.store import contacts, teams, users
from followthrough.store.db import session_scope
from followthrough.store.tables import Lead, Ticket, TicketEvent
from tests.conftest import ADMIN_KEY

URL = "/v1/reports/leads"
SLA_URL = "/v1/reports/sla"
PERIOD = {"from": "2026-03-01T00:00:00+01:00", "to": "2026-04-01T00:00:00Z"}


@pytest.fixture
async def client(settings: Settings, any_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    from api.app import create_app

    transport = httpx.ASGITransport(app=create_app(settings, engine=any_engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:
        yield api


def world(engine: Engine) -> dict[str, object]:
    """East (Mia manages Rita) and west (Olga), with leads inserted as the workflow leaves them."""
    with session_scope(engine) as session:
        mia, mia_key = users.create(session, name="Mia", email=None, role="manager")
        rita, rita_key = users.create(session, name="Rita", email=None, role="rep")
        olga, _ = users.create(session, name="Olga", email=None, role="rep")
        east = teams.put(session, "east", members_in=[(rita.id, 1)], manager_id=mia.id, calendar=None)[0]  # type: ignore[list-item]
        west = teams.put(session, "west", members_in=[(olga.id, 1)], manager_id=None, calendar=None)[0]  # type: ignore[list-item]
        contact = contacts.create(session, {"name": "C", "attributes": {}})
        created = datetime(2026, 3, 10, 12, tzinfo=UTC)
        rows = [(rita.id, east.id, "converted", "web", 600, 0, 0), (rita.id, east.id, "contacted", "crm", 1800, 1, 0),
                (None, east.id, "qualified", "web", None, 0, 0), (olga.id, west.id, "contacted", "web", 60, 3, 1),
                (None, None, "nurturing", "ad", None, 0, 0)]
        for n, (owner, team, stage, source, touch, breaches, moves) in enumerate(rows):
            session.add(Lead(contact_id=contact.id, owner_id=owner, team_id=team, stage=stage, source=source,  # type: ignore[arg-type]
                             first_touch_seconds=touch, sla_breaches=breaches, reassignments=moves,
                             created_at=created + timedelta(hours=n), policy_name="p", policy_version=1,
                             workflow_id=f"lead-{n}"))
        # Created a minute before the period begins (23:59 on 28 February in Budapest): outside.
        session.add(Lead(contact_id=contact.id, owner_id=rita.id, stage="converted", source="web",  # type: ignore[arg-type]
                         created_at=datetime(2026, 2, 28, 22, 59, tzinfo=UTC), policy_name="p", policy_version=1,
                         workflow_id="lead-early"))
    return {"mia": mia_key, "rita": rita_key, "rita_id": rita.id, "olga_id": olga.id, "east": east.id}


class TestLeadReport:
    async def test_admin_sees_every_lead_with_percentiles(self, client: httpx.AsyncClient, any_engine: Engine) -> None:
        ids = world(any_engine)
        response = await client.get(URL, params=PERIOD)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["from"], body["to"]) == ("2026-02-28T23:00:00.000000Z", "2026-04-01T00:00:00.000000Z")
        assert (body["created"], body["converted"], body["conversion"]) == (5, 1, 0.2)
        assert body["by_stage"] == {"contacted": 2, "converted": 1, "nurturing": 1, "qualified": 1}
        assert body["by_source"] == {"ad": 1, "crm": 1, "web": 3}
        assert (body["sla_breaches"], body["reassignments"]) == (4, 1)
        overall = body["first_touch"]["overall"]
        assert (overall["touched"], overall["median_seconds"], overall["p90_seconds"]) == (3, 600.0, 1560.0)
        rita = next(r for r in body["first_touch"]["by_rep"] if r["id"] == ids["rita_id"])
        assert rita == {"id": ids["rita_id"], "name": "Rita", "leads": 2, "touched": 2, "median_seconds": 1200.0,
                        "p90_seconds": 1680.0, "sla_breaches": 1, "reassignments": 0}
        assert [(t["name"], t["leads"], t["touched"]) for t in body["first_touch"]["by_team"]] == [
            ("east", 3, 2), ("west", 1, 1)]

    async def test_a_manager_sees_their_teams_figures_only(self, client: httpx.AsyncClient, any_engine: Engine) -> None:
        ids = world(any_engine)
        response = await client.get(URL, params=PERIOD, headers={"Authorization": f"Bearer {ids['mia']}"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["created"], body["by_source"]) == (3, {"crm": 1, "web": 2})
        assert [r["id"] for r in body["first_touch"]["by_rep"]] == [ids["rita_id"]]
        assert [t["name"] for t in body["first_touch"]["by_team"]] == ["east"]

    async def test_reps_are_refused(self, client: httpx.AsyncClient, any_engine: Engine) -> None:
        ids = world(any_engine)
        response = await client.get(URL, headers={"Authorization": f"Bearer {ids['rita']}"})
        assert response.status_code == 403

    @pytest.mark.parametrize(("params", "path"), [
        ({"from": "2026-04-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}, "/query/from"),
        ({"from": "2026-03-01T00:00:00"}, "/query/from"),
        ({"to": "yesterday"}, "/query/to"),
        # Instants a UTC datetime cannot hold (a 500 from an OverflowError before).
        ({"to": "9999-12-31T23:59:59-01:00"}, "/query/to"),
        ({"from": "0001-01-01T00:30:00+01:00", "to": "2026-04-01T00:00:00Z"}, "/query/from"),
        ({"to": "0001-01-10T00:00:00Z"}, "/query/to"),  # 30 days before it is no date
    ])
    async def test_a_bad_period_names_the_parameter(self, client: httpx.AsyncClient, params: dict[str, str],
                                                    path: str) -> None:
        response = await client.get(URL, params=params)
        assert response.status_code == 422, response.text
        assert [e["path"] for e in response.json()["errors"]] == [path]

    async def test_by_default_the_last_30_days(self, client: httpx.AsyncClient) -> None:
        body = (await client.get(URL)).json()
        start, end = (datetime.fromisoformat(body[k].replace("Z", "+00:00")) for k in ("from", "to"))
        assert end - start == timedelta(days=30)
        assert abs(datetime.now(UTC) - end) < timedelta(minutes=1)
        assert (body["created"], body["conversion"], body["first_touch"]["overall"]["median_seconds"]) == (0, None, None)


def ticket_world(engine: Engine) -> dict[str, object]:
    """East (Mia manages Rita) and west (Olga), with tickets as the ticket workflow leaves them."""
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
        ids = ticket_world(any_engine)
        response = await client.get(SLA_URL, params=PERIOD)
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
        ids = ticket_world(any_engine)
        mine = await client.get(SLA_URL, params=PERIOD, headers={"Authorization": f"Bearer {ids['mia']}"})
        assert mine.status_code == 200
        assert [g["key"] for g in mine.json()["by_team"]] == [ids["east"]]
        assert mine.json()["overall"]["tickets"] == 2
        refused = await client.get(SLA_URL, params=PERIOD, headers={"Authorization": f"Bearer {ids['rita']}"})
        assert refused.status_code == 403

    @pytest.mark.parametrize(("params", "path"), [
        ({"from": "2026-04-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "/query/from"),
        ({"from": "2026-03-01T00:00:00"}, "/query/from"),  # no offset
        ({"to": "yesterday"}, "/query/to"),
    ])
    async def test_a_bad_period_names_the_parameter(self, client: httpx.AsyncClient, params: dict[str, str],
                                                    path: str) -> None:
        response = await client.get(SLA_URL, params=params)
        assert response.status_code == 422
        assert path in [e["path"] for e in response.json()["errors"]]
