"""The leads table and the lead's events: written before a lead's workflow starts, kept current
by that workflow; and who may see which lead.

Visibility: admins see every lead; a rep only the leads they own; a manager the leads owned by
the people their scope shows (``FT_MANAGER_SCOPE``) and the leads routed to a team they manage or
belong to that wait for an owner. Anything else is "not found" (existence is not leaked).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import false, or_, union
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from followthrough import ids
from followthrough.errors import NotFound
from followthrough.models.leads import StageChange
from followthrough.models.vocab import FINAL_LEAD_STAGES, LeadStage, Role
from followthrough.store.db import as_utc
from followthrough.store.scope import Access
from followthrough.store.tables import Contact, Lead, LeadEvent, Team, TeamMember, utcnow

OPEN_STAGES = tuple(s.value for s in LeadStage if s not in FINAL_LEAD_STAGES)


def create(session: Session, fields: dict[str, Any]) -> Lead:
    """Insert a ``new`` lead and name its workflow (``lead-<id>``)."""
    lead = Lead(stage=LeadStage.NEW, workflow_id="", **fields)
    session.add(lead)
    session.flush()
    lead.workflow_id = ids.lead_workflow_id(lead.id or 0)
    session.add(lead)
    session.flush()
    return lead


def get(session: Session, lead_id: int) -> Lead:
    lead = session.get(Lead, lead_id) if 1 <= lead_id < 2**31 else None
    if lead is None:
        raise NotFound(f"lead {lead_id} does not exist")
    return lead


def by_external_id(session: Session, external_id: str) -> Lead | None:
    return session.exec(select(Lead).where(Lead.external_id == external_id)).first()


def open_for_contact(session: Session, contact_id: int) -> Lead | None:
    """The contact's open lead (the newest, should there be several)."""
    query = (select(Lead).where(Lead.contact_id == contact_id, col(Lead.stage).in_(OPEN_STAGES))
             .order_by(col(Lead.id).desc()))
    return session.exec(query).first()


def open_score(session: Session, contact_id: int) -> float | None:
    """The score of the contact's open lead (None: no open lead), as ``lead.score`` reads it."""
    lead = open_for_contact(session, contact_id)
    return lead.score if lead is not None else None


def awaiting_first_touch(session: Session, owner_id: int, limit: int = 50) -> list[tuple[Lead, str]]:
    """The owner's ``assigned`` leads (no first touch yet) with their contact's name, the one
    whose SLA runs out first first (the daily brief's "new leads")."""
    query = (select(Lead, Contact.name).join(Contact, Contact.id == Lead.contact_id)  # type: ignore[arg-type]
             .where(Lead.owner_id == owner_id, Lead.stage == LeadStage.ASSIGNED)
             .order_by(col(Lead.sla_due_at), col(Lead.id)).limit(limit))
    return [(lead, name or f"contact {lead.contact_id}") for lead, name in session.exec(query)]


def _condition(session: Session, access: Access, *, write: bool) -> Any:
    """The SQL condition on ``leads`` of what the caller may see (or, ``write``, change);
    None: everything."""
    if access.role == Role.ADMIN or access.user_id is None:
        return None
    if access.role == Role.REP:
        return Lead.owner_id == access.user_id
    seen = access.write if write else access.read
    if seen.owners is None:
        return None
    teams: Any = union(select(TeamMember.team_id).where(TeamMember.user_id == access.user_id),
                       select(Team.id).where(Team.manager_id == access.user_id))
    owned = col(Lead.owner_id).in_(sorted(seen.owners)) if seen.owners else false()
    waiting = (col(Lead.owner_id).is_(None)) & col(Lead.team_id).in_(teams)
    return or_(owned, waiting)


def visible(session: Session, access: Access, lead_id: int, *, write: bool = False) -> Lead:
    """The lead, or NotFound when it does not exist or the caller may not see (change) it."""
    condition = _condition(session, access, write=write)
    query = select(Lead).where(Lead.id == lead_id)
    if condition is not None:
        query = query.where(condition)
    lead = session.exec(query).first() if 1 <= lead_id < 2**31 else None
    if lead is None:
        raise NotFound(f"lead {lead_id} does not exist")
    return lead


def list_page(session: Session, access: Access, *, stage: LeadStage | None = None,
              owner_id: int | None = None, source: str | None = None, after: int | None = None,
              limit: int = 50) -> list[Lead]:
    """Oldest first by id; the cursor is the last id seen."""
    query = select(Lead).order_by(col(Lead.id))
    condition = _condition(session, access, write=False)
    if condition is not None:
        query = query.where(condition)
    if stage is not None:
        query = query.where(Lead.stage == stage)
    if owner_id is not None:
        query = query.where(Lead.owner_id == owner_id)
    if source is not None:
        query = query.where(Lead.source == source)
    if after is not None:
        query = query.where(col(Lead.id) > after)
    return list(session.exec(query.limit(limit)))


def events(session: Session, lead_id: int) -> list[LeadEvent]:
    """Every change of the lead with its explanation, oldest first."""
    query = select(LeadEvent).where(LeadEvent.lead_id == lead_id).order_by(col(LeadEvent.id))
    return list(session.exec(query))


def record_event(session: Session, *, lead_id: int, key: str, kind: str, at: datetime,
                 rule: str | None = None, points: float | None = None, score: float | None = None,
                 detail: dict[str, Any] | None = None) -> tuple[LeadEvent, bool]:
    """Record one change under ``key`` once; returns (event, created). A retried activity finds
    the event its first attempt recorded."""
    existing = session.exec(select(LeadEvent).where(LeadEvent.key == key)).first()
    if existing is not None:
        return existing, False
    event = LeadEvent(lead_id=lead_id, key=key, kind=kind, rule=rule, points=points, score=score,
                      detail=detail or {}, at=at)
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        winner = session.exec(select(LeadEvent).where(LeadEvent.key == key)).first()
        if winner is None:
            raise
        return winner, False
    return event, True


def apply(session: Session, change: StageChange) -> tuple[Lead, bool]:
    """Write the fields the workflow owns as given and record the stage change under its key
    (idempotent: a retry writes the same values and records nothing new)."""
    lead = get(session, change.lead_id)
    lead.stage = change.stage
    lead.owner_id, lead.team_id, lead.task_id = change.owner_id, change.team_id, change.task_id
    lead.nurture_run_id = change.nurture_run_id
    lead.sla_due_at = change.sla_due_at
    lead.sla_breaches, lead.reassignments = change.sla_breaches, change.reassignments
    if change.reason is not None:
        lead.reason = change.reason
    at = change.at
    if change.stage == LeadStage.QUALIFIED and lead.qualified_at is None:
        lead.qualified_at = at
    if change.stage == LeadStage.ASSIGNED and change.previous != LeadStage.ASSIGNED:
        lead.assigned_at = at
    if change.first_touch_seconds is not None and lead.first_touch_at is None:
        lead.first_touch_at, lead.first_touch_seconds = at, change.first_touch_seconds
    if change.stage == LeadStage.CONVERTED and lead.converted_at is None:
        lead.converted_at = at
    if change.stage in FINAL_LEAD_STAGES and lead.closed_at is None:
        lead.closed_at = at
    lead.updated_at = utcnow()
    session.add(lead)
    created = False
    if change.previous != change.stage:
        _, created = record_event(session, lead_id=lead.id or 0, key=change.key, kind="stage", at=at,
                                  rule=change.stage.value, score=lead.score,
                                  detail={"from": change.previous.value if change.previous else None,
                                          "to": change.stage.value, "reason": change.reason,
                                          **change.detail})
    session.flush()
    return lead, created


def assigned_at(lead: Lead) -> datetime | None:
    return as_utc(lead.assigned_at)
