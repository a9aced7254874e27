"""Preview a sequence before publishing: what will happen to this contact, step by step."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Path

from api.deps import AccessDep, EngineDep, RendererDep, SettingsDep
from api.schemas.preview import PreviewRequest, PreviewResponse
from followthrough.dsl.schema import NAME_PATTERN
from followthrough.errors import FieldError, ValidationFailed
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import RunEvent
from followthrough.preview import preview_sequence
from followthrough.store.db import session_scope

router = APIRouter(prefix="/v1/definitions", tags=["definitions"])


@router.post(
    "/{name}/preview",
    response_model=PreviewResponse,
    summary="Simulate a sequence for a contact: planned times and rendered messages, nothing sent",
)
def preview_definition(
    body: PreviewRequest,
    engine: EngineDep,
    renderer: RendererDep,
    settings: SettingsDep,
    access: AccessDep,
    name: str = Path(pattern=NAME_PATTERN),
) -> PreviewResponse:
    # A sync handler: the preview reads the database and renders templates, both blocking.
    if (body.contact_id is None) == (body.contact is None):
        problem = "give either contact_id or contact (sample data), not both"
        raise ValidationFailed(
            "Preview needs exactly one contact.",
            errors=[FieldError("/contact_id", problem), FieldError("/contact", problem)],
        )
    if body.contact_id is not None and not access.read.everything:
        with session_scope(engine) as session:  # a manager previews their teams' contacts only
            access.read.contact(session, body.contact_id)
    sample = None
    if body.contact is not None:
        fields = body.contact.model_dump()
        fields["locale"] = fields["locale"] or settings.default_locale
        fields["time_zone"] = fields["time_zone"] or settings.default_time_zone
        sample = ContactSnapshot(**fields)
    events = [(e.at, RunEvent(kind=e.event, channel=e.channel, data=e.data)) for e in body.events]
    result = preview_sequence(
        engine, renderer, name, start=body.start or datetime.now(UTC), version=body.version,
        contact_id=body.contact_id, sample=sample, data=body.data, events=events,
        respect_policy=body.respect_policy,
    )
    return PreviewResponse.model_validate(result)
