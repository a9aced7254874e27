"""SLA figures for a period, computed in the database (GROUP BY; no row is loaded one by one):
compliance per priority and per team, median and p90 business seconds to the first response
and to resolution, breaches per target and tier, the reopen rate and CSAT.

The period is a cohort: the tickets *created* in ``[start, end)`` (UTC), and everything said about
them since (responses, breaches, reopenings, survey answers).

- compliance: the share of the group's tickets with no breach (``ticket_events`` of kind
  ``breach``) so far; ``first_response_breached`` and ``resolution_breached`` count the tickets
  whose first response, or resolution, breached at least once;
- first response / resolution: business seconds (``tickets.first_response_seconds``,
  ``resolution_seconds``: the SLA clocks' elapsed time, pauses left out), ``percentile_cont``;
- breaches per tier: breach events by target and by the highest tier told by the deadline;
- reopen rate: tickets reopened at least once / tickets resolved at least once (resolved now,
  with a resolution time, or reopened);
- CSAT: every survey answer (``ticket_events`` of kind ``survey``: a low score that reopened the
  ticket still counts), its mean and the share of 4 and 5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlmodel import Session, col

from followthrough.store.report_sql import Scope, names, percentiles
from followthrough.store.tables import Team, Ticket, TicketEvent

__all__ = ["Breaches", "Csat", "Group", "Scope", "SlaReport", "report"]

#: A survey score at or above this is "satisfied".
SATISFIED = 4


@dataclass(frozen=True)
class Group:
    """The figures of one priority, one team, or everyone."""

    key: Any
    tickets: int
    breached: int
    first_response_breached: int
    resolution_breached: int
    responded: int
    resolved: int
    first_response_median_seconds: float | None
    first_response_p90_seconds: float | None
    resolution_median_seconds: float | None
    resolution_p90_seconds: float | None
    name: str | None = None

    @property
    def compliance(self) -> float | None:
        return round((self.tickets - self.breached) / self.tickets, 4) if self.tickets else None


@dataclass(frozen=True)
class Breaches:
    target: str
    tier: int
    breaches: int


@dataclass(frozen=True)
class Csat:
    responses: int
    mean: float | None
    satisfied: int

    @property
    def satisfied_share(self) -> float | None:
        return round(self.satisfied / self.responses, 4) if self.responses else None


@dataclass(frozen=True)
class SlaReport:
    start: datetime
    end: datetime
    overall: Group
    by_priority: list[Group]
    by_team: list[Group]
    breaches: list[Breaches]
    resolved_ever: int
    reopened: int
    csat: Csat
    by_category: dict[str, int] = field(default_factory=dict)

    @property
    def reopen_rate(self) -> float | None:
        return round(self.reopened / self.resolved_ever, 4) if self.resolved_ever else None


def _breach_flags() -> Any:
    """Per ticket with a breach: 1 in ``any``, and in ``first_response`` / ``resolution`` when
    that target breached (one pass over ``ticket_events``, joined to the tickets)."""
    target = col(TicketEvent.detail)["target"].as_string()
    return (select(col(TicketEvent.ticket_id).label("ticket_id"), literal(1).label("any"),
                   func.max(case((target == "first_response", 1), else_=0)).label("first_response"),
                   func.max(case((target == "resolution", 1), else_=0)).label("resolution"))
            .where(col(TicketEvent.kind) == "breach").group_by(col(TicketEvent.ticket_id)).subquery())


def report(session: Session, start: datetime, end: datetime, scope: Scope | None = None) -> SlaReport:
    """The SLA figures of the tickets created in ``[start, end)`` that ``scope`` shows."""
    scope = scope or Scope()
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    cohort = and_(col(Ticket.created_at) >= start, col(Ticket.created_at) < end,
                  scope.where(col(Ticket.assignee_id), col(Ticket.team_id)))
    overall = _groups(session, literal(0), cohort)
    teams = _groups(session, col(Ticket.team_id), and_(cohort, col(Ticket.team_id).is_not(None)))
    team_names = names(session, Team, [g.key for g in teams])
    resolved_ever, reopened = session.execute(select(
        func.coalesce(func.sum(case((or_(col(Ticket.resolved_at).is_not(None), col(Ticket.resolution_seconds).is_not(None),
                            col(Ticket.reopened) > 0), 1), else_=0)), 0),
        func.coalesce(func.sum(case((col(Ticket.reopened) > 0, 1), else_=0)), 0),
    ).where(cohort)).one()
    by_category = {str(k): int(n) for k, n in session.execute(
        select(col(Ticket.category), func.count()).where(cohort).group_by(col(Ticket.category))
        .order_by(col(Ticket.category)))}
    return SlaReport(
        start=start, end=end,
        overall=overall[0] if overall else Group(None, 0, 0, 0, 0, 0, 0, None, None, None, None),
        by_priority=_groups(session, col(Ticket.priority), cohort),
        by_team=[Group(**{**g.__dict__, "name": team_names.get(g.key)}) for g in teams],
        breaches=_breaches(session, cohort), resolved_ever=int(resolved_ever), reopened=int(reopened),
        csat=_csat(session, cohort), by_category=by_category)


def _groups(session: Session, column: Any, cohort: Any) -> list[Group]:
    flags = _breach_flags()
    query = (select(column.label("key"), func.count(), func.sum(flags.c.any), func.sum(flags.c.first_response),
                    func.sum(flags.c.resolution), func.count(col(Ticket.first_response_seconds)),
                    func.count(col(Ticket.resolution_seconds)))
             .select_from(Ticket).outerjoin(flags, flags.c.ticket_id == col(Ticket.id))
             .where(cohort).group_by(column).order_by(column))
    rows = list(session.execute(query))
    first = percentiles(session, column, col(Ticket.first_response_seconds), cohort)
    resolution = percentiles(session, column, col(Ticket.resolution_seconds), cohort)
    found = []
    for key, n, breached, first_breached, resolution_breached, responded, resolved in rows:
        first_p = first.get(key, (None, None))
        resolution_p = resolution.get(key, (None, None))
        found.append(Group(key, int(n), int(breached or 0), int(first_breached or 0), int(resolution_breached or 0),
                           int(responded), int(resolved), first_p[0], first_p[1], resolution_p[0], resolution_p[1]))
    return found


def _breaches(session: Session, cohort: Any) -> list[Breaches]:
    target = col(TicketEvent.detail)["target"].as_string()
    tier = col(TicketEvent.detail)["tier"].as_integer()
    query = (select(target, tier, func.count()).select_from(TicketEvent)
             .join(Ticket, col(Ticket.id) == col(TicketEvent.ticket_id))
             .where(cohort, col(TicketEvent.kind) == "breach").group_by(target, tier).order_by(target, tier))
    return [Breaches(str(t), int(n or 0), int(count)) for t, n, count in session.execute(query)]


def _csat(session: Session, cohort: Any) -> Csat:
    score = col(TicketEvent.detail)["score"].as_integer()
    query = (select(func.count(score), func.avg(score), func.sum(case((score >= SATISFIED, 1), else_=0)))
             .select_from(TicketEvent).join(Ticket, col(Ticket.id) == col(TicketEvent.ticket_id))
             .where(cohort, col(TicketEvent.kind) == "survey"))
    responses, mean, satisfied = session.execute(query).one()
    return Csat(int(responses), None if mean is None else round(float(mean), 2), int(satisfied or 0))
