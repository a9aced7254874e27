"""Reports: the lead figures of a period (``GET /v1/reports/leads``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import UtcDateTime
from followthrough.store.lead_reports import FirstTouchFigures, LeadReport


class FirstTouchReport(BaseModel):
    """Time to first touch in business seconds: everyone's, per rep and per team."""

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
                   first_touch=FirstTouchReport(overall=found.overall, by_rep=found.by_rep,
                                                by_team=found.by_team))
