"""Reports for managers and admins, computed in the database. A manager's figures are those of
the leads (tickets) their scope shows (``FT_MANAGER_SCOPE``: by default their teams' members'
as owners or assignees) and of the leads (tickets) routed to a team they belong to or manage;
admins see every one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime
from sqlmodel import Session

from api.deps import AccessDep, EngineDep
from api.schemas.reports import LeadReportPublic, SlaReportPublic
from followthrough.errors import FieldError, ValidationFailed
from followthrough.store import lead_reports, sla_reports, teams
from followthrough.store.db import read_scope
from followthrough.store.report_sql import Scope
from followthrough.store.scope import Access

router = APIRouter(prefix="/v1/reports", tags=["reports"])

#: The period when ``from`` is not given: this long before ``to``.
DEFAULT_PERIOD = timedelta(days=30)


def _period(
    from_: Annotated[AwareDatetime | None, Query(alias="from", description=(
        "Created at or after (RFC 3339, with an offset); default: 30 days before `to`."))] = None,
    to: Annotated[AwareDatetime | None, Query(description=(
        "Created before (RFC 3339, with an offset); default: now."))] = None,
) -> tuple[datetime, datetime]:
    """The period ``[from, to)`` of a report, in UTC; an empty one (or one past what a UTC
    datetime holds) is a 422 naming the parameter."""
    end = _utc(to or datetime.now(UTC), "/query/to")
    start = _utc(from_, "/query/from") if from_ is not None else _since(end)
    if start >= end:
        raise ValidationFailed("The period is empty.", errors=[
            FieldError("/query/from", f"must be before to ({end.isoformat()})")])
    return start, end


def _utc(value: datetime, path: str) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed("The period is out of range.", errors=[
            FieldError(path, f"{value.isoformat()} is not an instant in years 1 to 9999 UTC")]) from None


def _since(end: datetime) -> datetime:
    try:
        return end - DEFAULT_PERIOD
    except OverflowError:
        raise ValidationFailed("The period is out of range.", errors=[
            FieldError("/query/to", f"without from, the period starts {DEFAULT_PERIOD.days} days before to, "
                                    "before year 1")]) from None


PeriodDep = Annotated[tuple[datetime, datetime], Depends(_period)]


@router.get("/leads", summary="Lead figures of a period: stages, sources, conversion, time to first touch")
def lead_report(engine: EngineDep, access: AccessDep, period: PeriodDep) -> LeadReportPublic:
    """Counts by stage and source, conversion (converted / created), median and p90 business
    seconds to first touch per rep and per team, SLA breaches and reassignments, of the leads
    created in ``[from, to)``. Times are UTC."""
    start, end = period
    with read_scope(engine) as session:
        found = lead_reports.report(session, start, end, _scope(session, access))
    return LeadReportPublic.of(found)


@router.get("/sla", summary="SLA figures of a period: compliance, response and resolution times, breaches, reopen rate, CSAT")
def sla_report(engine: EngineDep, access: AccessDep, period: PeriodDep) -> SlaReportPublic:
    """Of the tickets created in ``[from, to)``: compliance (no breach so far) and the median
    and p90 business seconds to the first response and to resolution, per priority, per team
    and overall; breaches per target and tier; the reopen rate; CSAT. Times are UTC."""
    start, end = period
    with read_scope(engine) as session:
        found = sla_reports.report(session, start, end, _scope(session, access))
    return SlaReportPublic.of(found)


def _scope(session: Session, access: Access) -> Scope | None:
    if access.read.everything or access.user_id is None:
        return None
    return Scope(owners=access.read.owners, teams=frozenset(teams.team_ids(session, access.user_id)))
