"""Inbound email webhook, the inbound message list, and custom contact events.

- ``POST /v1/webhooks/email/inbound``: a mail-parsing service posts a parsed email (manager or
  admin key: it is a machine integration, and it can stop runs).
- ``GET /v1/inbound``: every inbound message, matched or not (manager+).
- ``POST /v1/contacts/{id}/events``: any role records an event and signals the contact's runs.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from api.deps import AccessDep, EngineDep, SettingsDep, TemporalDep
from api.limits import limit_contact_events
from api.schemas.bounded import FreeObject
from api.schemas.common import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    Id,
    Page,
    UtcDateTime,
    decode_cursor,
    page_of,
)
from api.services.inbound import handle_contact_event
from api.services.inbound_email import handle_inbound_email
from channels.inbound.email import InboundEmailPayload, from_payload
from followthrough.dsl.schema import EVENT_NAME_MAX, EVENT_PATTERN
from followthrough.models.vocab import Channel
from followthrough.store import inbound
from followthrough.store.db import session_scope
from followthrough.store.scope import Visibility
from followthrough.store.tables import InboundMessage

router = APIRouter(tags=["inbound"])


class InboundAccepted(BaseModel):
    id: int | None
    new: bool  # false: this Message-ID was processed before; nothing was done again
    matched: bool
    contact_id: int | None
    auto_submitted: bool
    #: Authentication-Results passed DKIM or SPF for the sender's domain, or the relay is trusted;
    #: an unverified mail is recorded but signals nothing.
    verified: bool
    signalled_runs: int


class InboundPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    provider_id: str | None
    from_address: str
    to_address: str | None
    body: str
    contact_id: int | None
    matched: bool
    #: The user who sent it (a rep answering a reminder); such a message has no contact.
    user_id: int | None = None
    received_at: UtcDateTime


class ContactEventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The names a definition's ``stop_on``, ``wait_for`` and lead engagement accept.
    event: str = Field(pattern=EVENT_PATTERN, max_length=EVENT_NAME_MAX,
                       description="e.g. 'demo.booked'")
    data: FreeObject = Field(default_factory=dict)


class ContactEventAccepted(BaseModel):
    timeline_id: int | None
    workflow_ids: list[str]


@router.post("/v1/webhooks/email/inbound", status_code=status.HTTP_202_ACCEPTED,
             summary="Inbound email (parsed, as JSON)")
async def inbound_email(
    body: InboundEmailPayload, engine: EngineDep, temporal: TemporalDep, settings: SettingsDep
) -> InboundAccepted:
    """Record the email once per Message-ID, match it to a contact, and signal a reply to the
    contact's runs unless it is an automatic reply or not verified (its Authentication-Results
    pass neither DKIM nor SPF for the sender's domain, and FT_INBOUND_TRUST_RELAY is off)."""
    mail = from_payload(body)
    raw = body.model_dump(mode="json", by_alias=True)
    outcome = await handle_inbound_email(engine, temporal.client, mail, raw,
                                         trust_relay=settings.inbound_trust_relay)
    return InboundAccepted(id=outcome.inbound_id, new=outcome.new, matched=outcome.matched,
                           contact_id=outcome.contact_id, auto_submitted=mail.auto_submitted,
                           verified=mail.verified_by is not None or settings.inbound_trust_relay,
                           signalled_runs=len(outcome.workflow_ids))


def _inbound_page(engine: Engine, matched: bool | None, channel: Channel | None,
                  before: int | None, limit: int, visible: Visibility) -> list[InboundMessage]:
    """``limit + 1`` rows newest first. The store filters ``matched``; the channel is filtered
    here, reading on in batches, so pages stay exact and cursors stay plain ids."""
    found: list[InboundMessage] = []
    with session_scope(engine) as session:
        while len(found) <= limit:
            batch = inbound.list_page(session, matched=matched, before=before, limit=limit + 1,
                                      visible=visible)
            found += [row for row in batch if channel is None or row.channel == channel]
            if len(batch) <= limit:
                break
            before = batch[-1].id
    return found[: limit + 1]


@router.get("/v1/inbound", summary="Inbound messages, newest first (unknown senders too)",
            description="A manager sees those of the contacts in their scope and those matched to none.")
async def list_inbound(
    engine: EngineDep,
    access: AccessDep,
    matched: bool | None = None,
    channel: Channel | None = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[InboundPublic]:
    rows = await asyncio.to_thread(_inbound_page, engine, matched, channel,
                                   decode_cursor(cursor), limit, access.read)
    return page_of(rows, limit, InboundPublic.model_validate)


@router.post("/v1/contacts/{contact_id}/events", status_code=status.HTTP_202_ACCEPTED,
             summary="Record a custom event and signal it to the contact's runs",
             dependencies=[Depends(limit_contact_events)])
async def post_contact_event(
    contact_id: Annotated[Id, Path(description="The contact's id.")],
    body: ContactEventCreate,
    engine: EngineDep,
    temporal: TemporalDep,
) -> ContactEventAccepted:
    """On the timeline as ``event.<name>``; every active run gets ``RunEvent(kind=<name>)``."""
    outcome = await handle_contact_event(engine, temporal.client, contact_id, body.event, body.data)
    return ContactEventAccepted(timeline_id=outcome.timeline_id, workflow_ids=outcome.workflow_ids)
