"""Preview a definition before publishing: what it will do to this contact. A sequence: every
step with its planned time and every message rendered; a lead policy: the lead's score, stage,
owner and SLA times; an SLA policy: the ticket's category, priority, team and SLA times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Path
from sqlalchemy import Engine
from sqlmodel import Session

from api.deps import AccessDep, EngineDep, RendererDep, SettingsDep
from api.schemas.preview import (
    AnyPreview,
    LeadSample,
    PreviewRequest,
    PreviewResponse,
    TicketSample,
)
from followthrough.dsl.schema import NAME_PATTERN
from followthrough.errors import FieldError, ValidationFailed
from followthrough.leads import preview as lead_policy
from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import RunEvent
from followthrough.preview import preview_sequence
from followthrough.store import contacts, definitions
from followthrough.store.db import session_scope
from followthrough.store.tables import DefinitionVersion
from followthrough.tickets import preview as sla_policy
from followthrough.tickets.policy import SlaPolicyDefinition

router = APIRouter(prefix="/v1/definitions", tags=["definitions"])

#: The body fields only one kind reads; any other kind refuses them (422 naming the field).
ONLY_FOR = {"data": "sequence", "events": "sequence", "respect_policy": "sequence",
            "lead": "lead_policy", "ticket": "sla_policy"}


@router.post(
    "/{name}/preview",
    response_model=AnyPreview,
    summary="Simulate a definition for a contact: planned times and rendered messages (a "
            "sequence), score and owner (a lead policy), classification and SLA (an SLA policy); "
            "nothing sent or written",
)
def preview_definition(
    body: PreviewRequest,
    engine: EngineDep,
    renderer: RendererDep,
    settings: SettingsDep,
    access: AccessDep,
    name: str = Path(pattern=NAME_PATTERN),
) -> Any:
    # A sync handler: the preview reads the database and renders templates, both blocking.
    if (body.contact_id is None) == (body.contact is None):
        problem = "give either contact_id or contact (sample data), not both"
        raise ValidationFailed(
            "Preview needs exactly one contact.",
            errors=[FieldError("/contact_id", problem), FieldError("/contact", problem)],
        )
    with session_scope(engine) as session:
        if body.contact_id is not None and not access.read.everything:
            access.read.contact(session, body.contact_id)  # a manager previews their teams' contacts only
        row = definitions.get(session, name, body.version)
        session.expunge(row)
    misplaced = [FieldError(f"/{field}", f"{field} is for a {kind}; '{name}' is a {row.kind}")
                 for field, kind in ONLY_FOR.items() if field in body.model_fields_set and kind != row.kind]
    if misplaced:
        raise ValidationFailed(f"'{name}' is a {row.kind}: the body has fields of another kind.", errors=misplaced)
    sample = None
    if body.contact is not None:
        fields = body.contact.model_dump()
        fields["locale"] = fields["locale"] or settings.default_locale
        fields["time_zone"] = fields["time_zone"] or settings.default_time_zone
        sample = ContactSnapshot(**fields)
    start = body.start or datetime.now(UTC)
    if row.kind != "sequence":
        return _policy(engine, row, body, sample, start)
    events = [(e.at, RunEvent(kind=e.event, channel=e.channel, data=e.data)) for e in body.events]
    result = preview_sequence(
        engine, renderer, name, start=start, version=row.version,
        contact_id=body.contact_id, sample=sample, data=body.data, events=events,
        respect_policy=body.respect_policy,
    )
    return PreviewResponse.model_validate(result)


def _policy(engine: Engine, row: DefinitionVersion, body: PreviewRequest, sample: ContactSnapshot | None,
            now: datetime) -> dict[str, Any]:
    """A lead or SLA policy's answer. The session is never committed: whatever the preview
    touches is rolled back, so nothing is written."""
    with Session(engine) as session:
        stored = contacts.snapshot(contacts.get(session, body.contact_id)) if body.contact_id is not None else None
        seen = (stored or sample or ContactSnapshot()).model_dump(mode="json")
        if row.kind == "lead_policy":
            lead = body.lead or LeadSample()
            answer = lead_policy.preview(
                session, LeadPolicyDefinition.model_validate(row.document), contact=seen, now=now,
                lead={"source": lead.source, "attributes": lead.attributes,
                      "engagement": [{"event": e.event, "at": e.at} for e in lead.events]})
        else:
            ticket = body.ticket or TicketSample()
            answer = sla_policy.preview(
                session, SlaPolicyDefinition.model_validate(row.document), contact=seen, now=now,
                ticket=ticket.model_dump())
    return {**answer, "definition": row.name, "version": row.version, "kind": row.kind, "contact": seen}
