"""Reports: the lead figures (``GET /v1/reports/leads``) and the SLA figures
(``GET /v1/reports/sla``) of a period."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import UtcDateTime
from followthrough.store.lead_reports import LeadReport, Touch
from followthrough.store.sla_reports import Group, SlaReport


class FirstTouchFigures(BaseModel):
    """Time to first touch of one group, in business seconds on the owner's calendar."""

    #: The rep's user id (``by_rep``) or the team's id (``by_team``); null overall.
    id: int | None = None
    name: str | None = None
    leads: int
    #: Leads touched (the first-touch clock stopped); the percentiles are over these.
    touched: int
    median_seconds: float | None
    p90_seconds: float | None
    sla_breaches: int
    reassignments: int

    @classmethod
    def of(cls, touch: Touch) -> FirstTouchFigures:
        return cls(id=touch.key, name=touch.name, leads=touch.leads, touched=touch.touched,
                   median_seconds=touch.median_seconds, p90_seconds=touch.p90_seconds,
                   sla_breaches=touch.sla_breaches, reassignments=touch.reassignments)


class FirstTouchReport(BaseModel):
    overall: FirstTouchFigures
    by_rep: list[FirstTouchFigures]
    by_team: list[FirstTouchFigures]


class LeadReportPublic(BaseModel):
    """The leads created in ``[from, to)`` (UTC) that the caller's scope shows, and what
    became of them."""

    from_: UtcDateTime = Field(serialization_alias="from")
    to: UtcDateTime
    created: int
    converted: int
    #: converted / created (null when nothing was created).
    conversion: float | None
    by_stage: dict[str, int]
    by_source: dict[str, int]
    sla_breaches: int
    reassignments: int
    first_touch: FirstTouchReport

    @classmethod
    def of(cls, found: LeadReport) -> LeadReportPublic:
        return cls(from_=found.start, to=found.end, created=found.created, converted=found.converted,
                   conversion=found.conversion, by_stage=found.by_stage, by_source=found.by_source,
                   sla_breaches=found.sla_breaches, reassignments=found.reassignments,
                   first_touch=FirstTouchReport(overall=FirstTouchFigures.of(found.overall),
                                                by_rep=[FirstTouchFigures.of(t) for t in found.by_rep],
                                                by_team=[FirstTouchFigures.of(t) for t in found.by_team]))


class TimeFigures(BaseModel):
    """Business seconds (the SLA clock's elapsed time, pauses left out), over the tickets that
    have the time."""

    count: int
    median_seconds: float | None
    p90_seconds: float | None


class SlaFigures(BaseModel):
    """The SLA figures of one priority, one team, or everyone."""

    #: The priority (``by_priority``) or the team's id (``by_team``); null overall.
    key: str | int | None = None
    name: str | None = None
    tickets: int
    #: Tickets with at least one breach so far, of any target / of that target.
    breached: int
    first_response_breached: int
    resolution_breached: int
    #: (tickets - breached) / tickets; null without tickets.
    compliance: float | None
    first_response: TimeFigures
    resolution: TimeFigures

    @classmethod
    def of(cls, group: Group, key: str | int | None = None) -> SlaFigures:
        return cls(key=key, name=group.name, tickets=group.tickets, breached=group.breached,
                   first_response_breached=group.first_response_breached,
                   resolution_breached=group.resolution_breached, compliance=group.compliance,
                   first_response=TimeFigures(count=group.responded,
                                              median_seconds=group.first_response_median_seconds,
                                              p90_seconds=group.first_response_p90_seconds),
                   resolution=TimeFigures(count=group.resolved, median_seconds=group.resolution_median_seconds,
                                          p90_seconds=group.resolution_p90_seconds))


class BreachFigures(BaseModel):
    target: str
    #: The highest escalation tier told by the deadline (0: none).
    tier: int
    breaches: int


class CsatFigures(BaseModel):
    """Every satisfaction survey answer (1-5) of the period's tickets."""

    responses: int
    mean: float | None
    #: Answers of 4 or 5, and their share.
    satisfied: int
    satisfied_share: float | None


class SlaReportPublic(BaseModel):
    """The tickets created in ``[from, to)`` (UTC) that the caller's scope shows."""

    from_: UtcDateTime = Field(serialization_alias="from")
    to: UtcDateTime
    overall: SlaFigures
    by_priority: list[SlaFigures]
    by_team: list[SlaFigures]
    by_category: dict[str, int]
    breaches: list[BreachFigures]
    #: Tickets reopened at least once / tickets resolved at least once.
    reopen_rate: float | None
    reopened: int
    resolved: int
    csat: CsatFigures

    @classmethod
    def of(cls, found: SlaReport) -> SlaReportPublic:
        return cls(
            from_=found.start, to=found.end, overall=SlaFigures.of(found.overall),
            by_priority=[SlaFigures.of(g, g.key) for g in found.by_priority],
            by_team=[SlaFigures.of(g, g.key) for g in found.by_team], by_category=found.by_category,
            breaches=[BreachFigures(target=b.target, tier=b.tier, breaches=b.breaches) for b in found.breaches],
            reopen_rate=found.reopen_rate, reopened=found.reopened, resolved=found.resolved_ever,
            csat=CsatFigures(responses=found.csat.responses, mean=found.csat.mean, satisfied=found.csat.satisfied,
                             satisfied_share=found.csat.satisfied_share))
