"""SLA reports computed in the database, on SQLite and PostgreSQL alike: compliance per priority
and team, median and p90 business seconds to first response and resolution, breaches per target
and tier, reopen rate and CSAT of the period's tickets; the period and the caller's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from followthrough.store import teams
from followthrough.store.db import session_scope
from followthrough.store.sla_reports import Breaches, Csat, Scope, report
from followthrough.store.tables import Ticket, TicketEvent
from tests.support.reports import ReportWorld, p

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)


class World(ReportWorld):
    def ticket(self, *, priority: str = "normal", team: int | None = None, assignee: int | None = None,
               first: int | None = None, resolution: int | None = None, reopened: int = 0,
               category: str = "complaint", breaches: tuple[tuple[str, int], ...] = (),
               scores: tuple[int, ...] = (), created: datetime = START + timedelta(days=2)) -> int:
        self.count += 1
        row = Ticket(contact_id=self.contact, channel="email", status="open", priority=priority,
                     category=category, team_id=team, assignee_id=assignee, policy_name="support_sla",
                     policy_version=1, workflow_id=f"ticket-{self.count}", first_response_seconds=first,
                     resolution_seconds=resolution, reopened=reopened, created_at=created,
                     resolved_at=created + timedelta(days=1) if resolution is not None else None)
        self.session.add(row)
        self.session.flush()
        for n, (target, tier) in enumerate(breaches):
            self.session.add(TicketEvent(ticket_id=row.id, kind="breach", key=f"{row.id}:b{n}",
                                         detail={"target": target, "round": 1, "tier": tier, "told": []}))
        for n, score in enumerate(scores):
            self.session.add(TicketEvent(ticket_id=row.id, kind="survey", key=f"{row.id}:s{n}",
                                         detail={"score": score, "via": "sms"}))
        return row.id  # type: ignore[return-value]


def build(engine: Engine) -> dict[str, Any]:
    with session_scope(engine) as session:
        w = World(session)
        anna, bela = w.user("Anna"), w.user("Bela")
        east = teams.put(session, "east", members_in=[(anna, 1)], manager_id=None, calendar=None)[0].id
        west = teams.put(session, "west", members_in=[(bela, 1)], manager_id=None, calendar=None)[0].id
        high_first, high_resolution = [600, 1800, 7200, 900], [14400, 28800, 57600]
        w.ticket(priority="high", team=east, assignee=anna, first=600, resolution=14400, scores=(5,))
        w.ticket(priority="high", team=east, assignee=anna, first=1800, resolution=28800,
                 reopened=1, scores=(1, 4))  # a low score reopened it; answered again later
        w.ticket(priority="high", team=east, assignee=anna, first=7200, resolution=57600,
                 breaches=(("first_response", 1), ("resolution", 2)), scores=(2,))
        w.ticket(priority="high", team=west, assignee=bela, first=900, breaches=(("resolution", 0),))
        w.ticket(priority="normal", team=west, assignee=bela, first=3000, resolution=20000, category="refund")
        w.ticket(priority="normal", team=west, assignee=bela)  # no response yet
        w.ticket(priority="urgent", breaches=(("first_response", 2), ("first_response", 2)))  # two rounds
        # Outside the period: never counted.
        w.ticket(priority="high", team=east, assignee=anna, first=1, created=START - timedelta(seconds=1),
                 breaches=(("first_response", 1),), scores=(1,))
        w.ticket(priority="high", team=east, assignee=anna, first=1, created=END)
    return {"anna": anna, "bela": bela, "east": east, "west": west,
            "high_first": high_first, "high_resolution": high_resolution}


class TestSlaReport:
    def test_compliance_percentiles_and_counts_per_priority(self, any_engine: Engine) -> None:
        world = build(any_engine)
        with session_scope(any_engine) as session:
            found = report(session, START, END)
        by = {g.key: g for g in found.by_priority}
        assert list(by) == ["high", "normal", "urgent"]
        high = by["high"]
        assert (high.tickets, high.breached, high.first_response_breached, high.resolution_breached,
                high.responded, high.resolved, high.compliance) == (4, 2, 1, 2, 4, 3, 0.5)
        assert (high.first_response_median_seconds, high.first_response_p90_seconds) == (
            p(world["high_first"], 0.5), p(world["high_first"], 0.9))
        assert (high.first_response_median_seconds, high.first_response_p90_seconds) == (1350.0, 5580.0)
        assert (high.resolution_median_seconds, high.resolution_p90_seconds) == (
            p(world["high_resolution"], 0.5), p(world["high_resolution"], 0.9))
        normal = by["normal"]
        assert (normal.tickets, normal.breached, normal.compliance, normal.responded,
                normal.first_response_median_seconds, normal.resolution_p90_seconds) == (2, 0, 1.0, 1, 3000.0, 20000.0)
        assert (by["urgent"].tickets, by["urgent"].breached, by["urgent"].compliance,
                by["urgent"].first_response_median_seconds) == (1, 1, 0.0, None)
        overall = found.overall
        assert (overall.tickets, overall.breached, overall.compliance) == (7, 3, round(4 / 7, 4))
        assert found.by_category == {"complaint": 6, "refund": 1}

    def test_per_team_with_names(self, any_engine: Engine) -> None:
        world = build(any_engine)
        with session_scope(any_engine) as session:
            found = report(session, START, END)
        assert [(g.key, g.name, g.tickets, g.breached, g.first_response_median_seconds) for g in found.by_team] == [
            (world["east"], "east", 3, 1, 1800.0), (world["west"], "west", 3, 1, 1950.0)]

    def test_breaches_per_target_and_tier_reopen_rate_and_csat(self, any_engine: Engine) -> None:
        build(any_engine)
        with session_scope(any_engine) as session:
            found = report(session, START, END)
        assert found.breaches == [Breaches("first_response", 1, 1), Breaches("first_response", 2, 2),
                                  Breaches("resolution", 0, 1), Breaches("resolution", 2, 1)]
        # Resolved at least once: the four with a resolution time; one of them was reopened.
        assert (found.resolved_ever, found.reopened, found.reopen_rate) == (4, 1, 0.25)
        # Every answer counts, the 1 that reopened a ticket too.
        assert found.csat == Csat(responses=4, mean=3.0, satisfied=2)
        assert found.csat.satisfied_share == 0.5

    def test_a_managers_scope(self, any_engine: Engine) -> None:
        world = build(any_engine)
        with session_scope(any_engine) as session:
            west = report(session, START, END, Scope(owners=frozenset(), teams=frozenset({world["west"]})))
            anna = report(session, START, END, Scope(owners=frozenset({world["anna"]})))
            nobody = report(session, START, END, Scope(owners=frozenset()))
        assert [g.key for g in west.by_team] == [world["west"]] and west.overall.tickets == 3
        assert (anna.overall.tickets, anna.csat.responses) == (3, 4)
        assert (nobody.overall.tickets, nobody.by_priority, nobody.breaches, nobody.reopen_rate,
                nobody.csat.mean) == (0, [], [], None, None)
