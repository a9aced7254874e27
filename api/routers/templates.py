"""Message templates: save (validated), read, list and preview. Admins and managers only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import AfterValidator
from sqlalchemy import Engine
from sqlmodel import Session

from api.deps import AccessDep, EngineDep, RendererDep, SessionDep, SettingsDep
from api.schemas.common import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page, page_at
from api.schemas.contacts import checked
from api.schemas.templates import (
    NAME_PATTERN,
    PreviewRequest,
    PreviewResult,
    TemplateBody,
    TemplatePublic,
    TemplateSummary,
)
from followthrough import contact_fields, rendering
from followthrough.errors import FieldError, NotFound, ValidationFailed
from followthrough.models.contact import ContactSnapshot
from followthrough.models.vocab import Channel
from followthrough.settings import Settings
from followthrough.store import contacts, templates
from followthrough.store.scope import Visibility
from followthrough.store.tables import Contact

router = APIRouter(prefix="/v1/templates", tags=["templates"])

Name = Annotated[str, Path(pattern=NAME_PATTERN, description="e.g. welcome_followup")]


def _locale(value: str) -> str:
    return checked(contact_fields.validate_locale, value) or value


Locale = Annotated[str, Path(description="BCP 47, e.g. ru-RU"), AfterValidator(_locale)]
_ONE = "/{channel}/{name}/{locale}"


@router.put(_ONE, responses={201: {"description": "Created", "model": TemplatePublic}})
def put_template(
    channel: Channel,
    name: Name,
    locale: Locale,
    body: TemplateBody,
    session: SessionDep,
    response: Response,
) -> TemplatePublic:
    """Save a template after checking every part (201 created, 200 replaced); a 422 lists every
    problem with its part's path (``/text``)."""
    # An empty part is an absent part: store null, so rendering never sees "".
    parts = rendering.TemplateParts(**{k: v or None for k, v in body.model_dump().items()})
    errors = rendering.validate_template(channel, parts)
    if errors:
        raise ValidationFailed(f"The {channel} template {name}/{locale} has errors.", errors=errors)
    row, created = templates.put(session, channel.value, name, locale, parts)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return TemplatePublic.model_validate(row)


@router.get("")
def list_templates(
    session: SessionDep, channel: Annotated[Channel | None, Query()] = None,
    cursor: CursorQuery = None, limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[TemplateSummary]:
    """Templates (without their parts), by channel, name and locale."""
    rows = page_at(templates.list_all(session, channel.value if channel else None), cursor, limit)
    return Page(items=[TemplateSummary.model_validate(row) for row in rows.items],
                next_cursor=rows.next_cursor)


@router.get(_ONE)
def get_template(
    channel: Channel, name: Name, locale: Locale, session: SessionDep
) -> TemplatePublic:
    """One template in exactly this locale (no fallback), or a 404."""
    row = templates.get_row(session, channel.value, name, locale)
    if row is None:
        raise NotFound(f"template {channel}/{name} has no {locale} version")
    return TemplatePublic.model_validate(row)


@router.post(f"{_ONE}/preview")
def preview_template(
    channel: Channel,
    name: Name,
    locale: Locale,
    body: PreviewRequest,
    engine: EngineDep,
    renderer: RendererDep,
    settings: SettingsDep,
    access: AccessDep,
) -> PreviewResult:
    """Render the stored template as ``locale`` would get it (``ru-RU`` -> ``ru`` -> default),
    for a stored or sample contact; an SMS preview adds encoding and segment count. A template
    that fails to render (unknown name, sandbox violation) is a 422 with the reason."""
    contact = _preview_contact(body, engine, settings, access.read).model_copy(update={"locale": locale})
    result = rendering.preview(renderer, channel, name, contact, body.data)
    message = result.message
    return PreviewResult(
        subject=message.subject,
        text=message.text,
        html=message.html,
        locale_used=message.locale_used,
        sms=result.sms,
    )


def _preview_contact(body: PreviewRequest, engine: Engine, settings: Settings,
                     visible: Visibility) -> ContactSnapshot:
    if body.contact_id is not None and body.contact is not None:
        raise ValidationFailed(
            "Send contact_id or contact, not both.",
            errors=[FieldError("/contact", "not allowed together with contact_id")],
        )
    if body.contact_id is not None:
        # A short session of its own, closed before rendering: the renderer reads templates
        # through its own connection, and SQLite allows one writer-transaction at a time.
        with Session(engine) as session:
            row = session.get(Contact, body.contact_id)
            if row is None or not visible.allows_owner(row.owner_id):  # another team's: unknown
                raise ValidationFailed(
                    f"contact {body.contact_id} does not exist",
                    errors=[FieldError("/contact_id", "no contact with this id")],
                )
            return contacts.snapshot(row)
    sample = body.contact.model_dump() if body.contact else {}
    sample["time_zone"] = sample.get("time_zone") or settings.default_time_zone
    sample["locale"] = sample.get("locale") or settings.default_locale
    return ContactSnapshot(**sample)
