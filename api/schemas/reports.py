"""Reports: the lead figures of a period (``GET /v1/reports/leads``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import UtcDateTime
from followthrough.store.lead_reports import LeadReport, Touch


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
