"""Lead reports computed in the database: counts by stage and source, conversion, median and
p90 time to first touch per rep and team (percentile_cont on PostgreSQL, ranked windows on
SQLite: the same numbers), SLA breaches and reassignments; the period and the caller's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from followthrough.store import teams
from followthrough.store.db import session_scope
from followthrough.store.lead_reports import LeadReport, Scope, report
from followthrough.store.tables import Lead
from tests.support.reports import ReportWorld, p

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)


class World(ReportWorld):
    def lead(self, *, stage: str = "assigned", source: str = "web", owner: int | None = None,
             team: int | None = None, touch: int | None = None, breaches: int = 0, moves: int = 0,
             created: datetime = START + timedelta(days=3)) -> None:
        self.count += 1
        self.session.add(Lead(contact_id=self.contact, stage=stage, source=source, owner_id=owner, team_id=team,
                              first_touch_seconds=touch, sla_breaches=breaches, reassignments=moves,
                              created_at=created, policy_name="p", policy_version=1,
                              workflow_id=f"lead-{self.count}"))


def build(engine: Engine) -> dict[str, Any]:
    with session_scope(engine) as session:
        w = World(session)
        anna, bela, cili = w.user("Anna"), w.user("Bela"), w.user("Cili")
        east = teams.put(session, "east", members_in=[(anna, 1), (bela, 1)], manager_id=None, calendar=None)[0].id
        west = teams.put(session, "west", members_in=[(cili, 1)], manager_id=None, calendar=None)[0].id
        anna_touches = [300, 60, 900, 120, 3600]
        for i, seconds in enumerate(anna_touches):
            w.lead(owner=anna, team=east, touch=seconds, stage="converted" if i < 2 else "contacted",
                   breaches=1 if seconds > 600 else 0)
        bela_touches = [45, 4000]
        for seconds in bela_touches:
            w.lead(owner=bela, team=east, touch=seconds, source="crm", breaches=2, moves=1)
        w.lead(owner=bela, team=east, stage="assigned")  # not touched yet
        w.lead(owner=cili, team=west, touch=7200, source="crm", stage="converted")
        w.lead(stage="nurturing", source="ad")  # no owner, no team
        w.lead(team=west, stage="qualified", source="ad")  # waiting for a rep
        # Outside the period: never counted.
        w.lead(owner=anna, team=east, touch=1, created=START - timedelta(seconds=1), stage="converted")
        w.lead(owner=anna, team=east, touch=1, created=END, stage="converted")
    return {"anna": anna, "bela": bela, "cili": cili, "east": east, "west": west,
            "anna_touches": anna_touches, "bela_touches": bela_touches}


class TestLeadReport:
    def test_counts_conversion_and_sums(self, any_engine: Engine) -> None:
        build(any_engine)
        with session_scope(any_engine) as session:
            found = report(session, START, END)
        assert found.created == 11
        assert found.by_stage == {"assigned": 3, "contacted": 3, "converted": 3, "nurturing": 1, "qualified": 1}
        assert found.by_source == {"ad": 2, "crm": 3, "web": 6}
        assert (found.converted, found.conversion) == (3, round(3 / 11, 4))
        assert (found.sla_breaches, found.reassignments) == (2 + 4, 2)

    def test_percentiles_per_rep_team_and_overall(self, any_engine: Engine) -> None:
        ids = build(any_engine)
        with session_scope(any_engine) as session:
            found = report(session, START, END)
        anna_values, bela_values = ids["anna_touches"], ids["bela_touches"]
        reps = {t.key: t for t in found.by_rep}
        assert set(reps) == {ids["anna"], ids["bela"], ids["cili"]}
        anna, bela, cili = reps[ids["anna"]], reps[ids["bela"]], reps[ids["cili"]]
        assert (anna.name, anna.leads, anna.touched, anna.sla_breaches) == ("Anna", 5, 5, 2)
        assert (anna.median_seconds, anna.p90_seconds) == (p(anna_values, 0.5), p(anna_values, 0.9)) == (300.0, 2520.0)
        assert (bela.leads, bela.touched, bela.reassignments) == (3, 2, 2)
        assert (bela.median_seconds, bela.p90_seconds) == (2022.5, 3604.5)
        assert (cili.median_seconds, cili.p90_seconds) == (7200.0, 7200.0)
        teams = {t.name: t for t in found.by_team}
        east_values = anna_values + bela_values
        assert (teams["east"].leads, teams["east"].touched) == (8, 7)
        assert (teams["east"].median_seconds, teams["east"].p90_seconds) == (p(east_values, 0.5), p(east_values, 0.9))
        # The waiting lead counts for its team, untouched.
        assert (teams["west"].leads, teams["west"].touched, teams["west"].median_seconds) == (2, 1, 7200.0)
        every = [*east_values, 7200]
        assert (found.overall.leads, found.overall.touched) == (11, 8)
        assert (found.overall.median_seconds, found.overall.p90_seconds) == (p(every, 0.5), p(every, 0.9))

    def test_a_managers_scope_shows_their_teams_figures(self, any_engine: Engine) -> None:
        ids = build(any_engine)
        with session_scope(any_engine) as session:
            west = report(session, START, END, Scope(owners=frozenset({ids["cili"]}), teams=frozenset({ids["west"]})))
            nobody = report(session, START, END, Scope(owners=frozenset()))
        assert (west.created, west.by_source, [t.name for t in west.by_team]) == (2, {"ad": 1, "crm": 1}, ["west"])
        assert [t.key for t in west.by_rep] == [ids["cili"]]
        assert (nobody.created, nobody.by_stage, nobody.overall.median_seconds, nobody.conversion) == (0, {}, None, None)

    @pytest.mark.parametrize("size", [1, 2, 3, 10, 11])
    def test_percentiles_match_the_reference_for_any_group_size(self, any_engine: Engine, size: int) -> None:
        values = [(i * 7919) % 10_007 for i in range(1, size + 1)]
        with session_scope(any_engine) as session:
            w = World(session)
            rep = w.user("R")
            for seconds in values:
                w.lead(owner=rep, touch=seconds)
        with session_scope(any_engine) as session:
            found: LeadReport = report(session, START, END)
        assert (found.by_rep[0].median_seconds, found.by_rep[0].p90_seconds) == (p(values, 0.5), p(values, 0.9))
