"""Lead figures for a period, computed in the database (GROUP BY; no row is loaded one by one):
counts by stage and source, conversion, time to first touch (median and p90 of business
seconds) per rep and per team, SLA breaches and reassignments.

The period is a cohort: the leads *created* in ``[start, end)`` (UTC), and everything said about
them (converted since, first touch taken, breaches) — so conversion is converted / created of
the same leads, whenever the conversion happened.

Percentiles are ``percentile_cont`` on PostgreSQL and SQLite alike (followthrough/store/report_sql.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlmodel import Session, col

from followthrough.store.report_sql import Scope, names, percentiles
from followthrough.store.tables import Lead, Team, User

__all__ = ["LeadReport", "Scope", "Touch", "report"]

_CONVERTED = "converted"


@dataclass(frozen=True)
class Touch:
    """Time to first touch of one group (a rep, a team, everyone) in business seconds."""

    key: int | None
    leads: int
    touched: int
    median_seconds: float | None
    p90_seconds: float | None
    sla_breaches: int
    reassignments: int
    name: str | None = None


@dataclass(frozen=True)
class LeadReport:
    start: datetime
    end: datetime
    created: int
    converted: int
    by_stage: dict[str, int]
    by_source: dict[str, int]
    sla_breaches: int
    reassignments: int
    overall: Touch
    by_rep: list[Touch] = field(default_factory=list)
    by_team: list[Touch] = field(default_factory=list)

    @property
    def conversion(self) -> float | None:
        return round(self.converted / self.created, 4) if self.created else None


def report(session: Session, start: datetime, end: datetime, scope: Scope | None = None) -> LeadReport:
    """The figures of the leads created in ``[start, end)`` that ``scope`` shows."""
    scope = scope or Scope()
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    cohort = and_(col(Lead.created_at) >= start, col(Lead.created_at) < end,
                  scope.where(col(Lead.owner_id), col(Lead.team_id)))
    by_stage = _counts(session, col(Lead.stage), cohort)
    by_source = _counts(session, col(Lead.source), cohort)
    totals = session.execute(select(
        func.count(), func.coalesce(func.sum(Lead.sla_breaches), 0),
        func.coalesce(func.sum(Lead.reassignments), 0),
        func.coalesce(func.sum(case((col(Lead.stage) == _CONVERTED, 1), else_=0)), 0),
    ).where(cohort)).one()
    overall = _touches(session, literal(0), cohort, keyed=False)
    reps = _touches(session, col(Lead.owner_id), and_(cohort, col(Lead.owner_id).is_not(None)))
    teams = _touches(session, col(Lead.team_id), and_(cohort, col(Lead.team_id).is_not(None)))
    rep_names = names(session, User, [t.key for t in reps])
    team_names = names(session, Team, [t.key for t in teams])
    return LeadReport(
        start=start, end=end, created=int(totals[0]), sla_breaches=int(totals[1]),
        reassignments=int(totals[2]), converted=int(totals[3]), by_stage=by_stage, by_source=by_source,
        overall=overall[0] if overall else Touch(None, 0, 0, None, None, 0, 0),
        by_rep=[_named(t, rep_names) for t in reps], by_team=[_named(t, team_names) for t in teams])


def _counts(session: Session, column: Any, cohort: Any) -> dict[str, int]:
    query = select(column, func.count()).where(cohort).group_by(column).order_by(column)
    return {str(key): int(count) for key, count in session.execute(query)}


def _touches(session: Session, column: Any, cohort: Any, *, keyed: bool = True) -> list[Touch]:
    """Leads, touched leads, breaches and reassignments per group of ``column``, with the
    percentiles (``keyed=False``: one group, everyone)."""
    seconds = col(Lead.first_touch_seconds)
    query = (select(column.label("key"), func.count(), func.count(seconds),
                    func.coalesce(func.sum(Lead.sla_breaches), 0), func.coalesce(func.sum(Lead.reassignments), 0))
             .where(cohort).group_by(column).order_by(column))
    rows = list(session.execute(query))
    quantiles = _percentiles(session, column, cohort)
    found = []
    for key, leads, touched, breaches, moves in rows:
        median, p90 = quantiles.get(key, (None, None))
        found.append(Touch(key=key if keyed else None, leads=int(leads),
                           touched=int(touched), median_seconds=median, p90_seconds=p90,
                           sla_breaches=int(breaches), reassignments=int(moves)))
    return found


def _percentiles(session: Session, column: Any, cohort: Any) -> dict[Any, tuple[float | None, ...]]:
    """Per group: the median and p90 of the first-touch business seconds."""
    return percentiles(session, column, col(Lead.first_touch_seconds), cohort)


def _named(touch: Touch, names: dict[int, str]) -> Touch:
    return Touch(**{**touch.__dict__, "name": names.get(touch.key) if touch.key is not None else None})
