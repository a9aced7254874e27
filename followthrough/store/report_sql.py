"""Pieces every report computes in the database: whose rows count (``Scope``) and percentiles
of a column per group (``percentiles``), on PostgreSQL and SQLite alike.

Percentiles are ``percentile_cont`` (linear interpolation between the closest ranks): PostgreSQL
computes it itself; SQLite has no ordered-set aggregates, so one window query ranks each group's
values (``row_number`` and ``count`` over the group) and interpolates between the two ranks
around ``p * (n - 1)``, per group, in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Integer, and_, case, cast, false, func, literal, or_, select
from sqlmodel import Session

#: The percentiles reports give: the median and p90.
PERCENTILES: tuple[float, float] = (0.5, 0.9)


@dataclass(frozen=True)
class Scope:
    """Whose rows count (``owners`` None: everyone's): rows owned by (assigned to) ``owners`` or
    routed to ``teams``, as a manager's scope shows them."""

    owners: frozenset[int] | None = None
    teams: frozenset[int] = frozenset()

    def where(self, owner: Any, team: Any) -> Any:
        """The condition on a table's ``owner`` and ``team`` columns."""
        if self.owners is None:
            return literal(True)
        clauses = []
        if self.owners:
            clauses.append(owner.in_(sorted(self.owners)))
        if self.teams:
            clauses.append(team.in_(sorted(self.teams)))
        return or_(*clauses) if clauses else false()


def percentiles(session: Session, group: Any, values: Any, where: Any,
                points: Sequence[float] = PERCENTILES) -> dict[Any, tuple[float | None, ...]]:
    """Per value of ``group``: ``percentile_cont`` at each of ``points`` of ``values`` (rows
    matching ``where``; NULL values left out), rounded to 0.1."""
    where = and_(where, values.is_not(None))
    if session.get_bind().dialect.name == "postgresql":
        query = (select(group, *(func.percentile_cont(p).within_group(values) for p in points))
                 .where(where).group_by(group))
        return {key: tuple(_round(v) for v in found) for key, *found in session.execute(query)}
    ranked = select(
        group.label("key"), cast(values, Float).label("v"),
        (func.row_number().over(partition_by=group, order_by=values) - 1).label("rank"),
        func.count().over(partition_by=group).label("n"),
    ).where(where).subquery()
    parts = []
    for p in points:
        position = literal(p, Float) * (ranked.c.n - 1)
        low = cast(position, Integer)  # SQLite's CAST truncates: the floor of a non-negative value
        high = low + case((position > low, 1), else_=0)
        parts.append((func.max(case((ranked.c.rank == low, ranked.c.v))),
                      func.max(case((ranked.c.rank == high, ranked.c.v))),
                      func.max(position - low)))
    columns = [part for triple in parts for part in triple]
    grouped = select(ranked.c.key, *columns).group_by(ranked.c.key).subquery()
    interpolated = [grouped.c[i * 3 + 1] + (grouped.c[i * 3 + 2] - grouped.c[i * 3 + 1]) * grouped.c[i * 3 + 3]
                    for i in range(len(points))]
    query = select(grouped.c.key, *interpolated)
    return {key: tuple(_round(v) for v in found) for key, *found in session.execute(query)}


def names(session: Session, table: Any, ids: Sequence[Any]) -> dict[int, str]:
    """``id -> name`` of the rows of ``table`` (users, teams) among ``ids``."""
    wanted = sorted({int(i) for i in ids if i is not None})
    if not wanted:
        return {}
    query = select(table.id, table.name).where(table.id.in_(wanted))
    return {int(i): str(n) for i, n in session.execute(query)}


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)
