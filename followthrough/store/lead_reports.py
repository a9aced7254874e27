"""Lead figures for a period, computed in the database (GROUP BY; no row is loaded one by one):
counts by stage and source, conversion, time to first touch (median and p90 of business
seconds) per rep and per team, SLA breaches and reassignments.

The period is a cohort: the leads *created* in ``[start, end)`` (UTC), and everything said about
them (converted since, first touch taken, breaches) — so conversion is converted / created of
the same leads, whenever the conversion happened.

Percentiles are ``percentile_cont`` (linear interpolation between the closest ranks): PostgreSQL
computes it itself; SQLite has no ordered-set aggregates, so one window query ranks each group's
values (``row_number`` and ``count`` over the group) and interpolates between the two ranks
around ``p * (n - 1)``, per group, in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Float, Integer, and_, case, cast, false, func, literal, or_, select
from sqlmodel import Session, col

from followthrough.store.tables import Lead, Team, User

#: The percentiles reported for time to first touch.
PERCENTILES: tuple[float, float] = (0.5, 0.9)
_CONVERTED = "converted"


@dataclass(frozen=True)
class Scope:
    """Whose leads count (None: everyone's): leads owned by ``owners`` or routed to ``teams``."""

    owners: frozenset[int] | None = None
    teams: frozenset[int] = frozenset()

    def where(self) -> Any:
        if self.owners is None:
            return literal(True)
        clauses = []
        if self.owners:
            clauses.append(col(Lead.owner_id).in_(sorted(self.owners)))
        if self.teams:
            clauses.append(col(Lead.team_id).in_(sorted(self.teams)))
        return or_(*clauses) if clauses else false()


class FirstTouchFigures(BaseModel):
    """Time to first touch of one group (a rep, a team, everyone) in business seconds on the
    owner's calendar."""

    model_config = ConfigDict(frozen=True)

    #: The rep's user id (per rep) or the team's id (per team); None overall.
    id: int | None = None
    name: str | None = None
    leads: int
    #: Leads touched (the first-touch clock stopped); the percentiles are over these.
    touched: int
    median_seconds: float | None
    p90_seconds: float | None
    sla_breaches: int
    reassignments: int


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
    overall: FirstTouchFigures
    by_rep: list[FirstTouchFigures] = field(default_factory=list)
    by_team: list[FirstTouchFigures] = field(default_factory=list)

    @property
    def conversion(self) -> float | None:
        return round(self.converted / self.created, 4) if self.created else None


def report(session: Session, start: datetime, end: datetime, scope: Scope | None = None) -> LeadReport:
    """The figures of the leads created in ``[start, end)`` that ``scope`` shows."""
    scope = scope or Scope()
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    cohort = and_(col(Lead.created_at) >= start, col(Lead.created_at) < end, scope.where())
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
    rep_names = _names(session, User, [t.id for t in reps])
    team_names = _names(session, Team, [t.id for t in teams])
    return LeadReport(
        start=start, end=end, created=int(totals[0]), sla_breaches=int(totals[1]),
        reassignments=int(totals[2]), converted=int(totals[3]), by_stage=by_stage, by_source=by_source,
        overall=overall[0] if overall else FirstTouchFigures(leads=0, touched=0, median_seconds=None, p90_seconds=None,
                                                  sla_breaches=0, reassignments=0),
        by_rep=[_named(t, rep_names) for t in reps], by_team=[_named(t, team_names) for t in teams])


def _counts(session: Session, column: Any, cohort: Any) -> dict[str, int]:
    query = select(column, func.count()).where(cohort).group_by(column).order_by(column)
    return {str(key): int(count) for key, count in session.execute(query)}


def _touches(session: Session, column: Any, cohort: Any, *, keyed: bool = True) -> list[FirstTouchFigures]:
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
        found.append(FirstTouchFigures(id=key if keyed else None, leads=int(leads),
                           touched=int(touched), median_seconds=median, p90_seconds=p90,
                           sla_breaches=int(breaches), reassignments=int(moves)))
    return found


def _percentiles(session: Session, column: Any, cohort: Any) -> dict[Any, tuple[float | None, float | None]]:
    """Per group: percentile_cont at ``PERCENTILES`` of the first-touch business seconds."""
    seconds = col(Lead.first_touch_seconds)
    where = and_(cohort, seconds.is_not(None))
    if session.get_bind().dialect.name == "postgresql":
        query = (select(column, *(func.percentile_cont(p).within_group(seconds) for p in PERCENTILES))
                 .where(where).group_by(column))
        return {key: (_round(a), _round(b)) for key, a, b in session.execute(query)}
    ranked = select(
        column.label("key"), cast(seconds, Float).label("v"),
        (func.row_number().over(partition_by=column, order_by=seconds) - 1).label("rank"),
        func.count().over(partition_by=column).label("n"),
    ).where(where).subquery()
    parts = []
    for p in PERCENTILES:
        position = literal(p, Float) * (ranked.c.n - 1)
        low = cast(position, Integer)  # SQLite's CAST truncates: the floor of a non-negative value
        high = low + case((position > low, 1), else_=0)
        parts.append((func.max(case((ranked.c.rank == low, ranked.c.v))),
                      func.max(case((ranked.c.rank == high, ranked.c.v))),
                      func.max(position - low)))
    columns = [part for triple in parts for part in triple]
    grouped = select(ranked.c.key, *columns).group_by(ranked.c.key).subquery()
    values = [grouped.c[i * 3 + 1] + (grouped.c[i * 3 + 2] - grouped.c[i * 3 + 1]) * grouped.c[i * 3 + 3]
              for i in range(len(PERCENTILES))]
    query = select(grouped.c.key, *values)
    return {key: (_round(a), _round(b)) for key, a, b in session.execute(query)}


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _names(session: Session, table: type[User] | type[Team], ids: list[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    query = select(col(table.id), col(table.name)).where(col(table.id).in_(wanted))
    return {int(i): str(n) for i, n in session.execute(query)}


def _named(touch: FirstTouchFigures, names: dict[int, str]) -> FirstTouchFigures:
    return touch.model_copy(update={"name": names.get(touch.id) if touch.id is not None else None})
