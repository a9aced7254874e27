"""Leads: take in (an existing contact or a new one), upsert by external id (CRM sync), list,
read with the explanation of every change, and the stage updates.

A rep sees and changes only the leads they own, a manager their team's (``store.leads``); any
other lead is a 404. Updates are the lead workflow's Temporal Updates: the answer is the lead
after the change, and a change the stage does not allow is a 409 naming the stage.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel
from sqlalchemy import Engine

from api.deps import AccessDep, EngineDep, SettingsDep, TemporalDep
from api.schemas.common import (
    DEFAULT_LIMIT,
    CursorQuery,
    Id,
    LimitQuery,
    Page,
    decode_cursor,
    page_of,
)
from api.schemas.leads import (
    SOURCE_PATTERN,
    CloseBody,
    ContactedBody,
    ConvertBody,
    DisqualifyBody,
    LeadCreate,
    LeadPublic,
    LeadReassignBody,
    LeadUpsert,
)
from api.services.contacts import check_owner, with_defaults
from followthrough.errors import FieldError, NotFound, ValidationFailed
from followthrough.leads import service
from followthrough.leads.service import LeadDraft
from followthrough.models.leads import (
    CloseInput,
    ContactedInput,
    ConvertInput,
    DisqualifyInput,
    LeadReassignInput,
)
from followthrough.models.vocab import LeadStage
from followthrough.settings import Settings
from followthrough.store import leads
from followthrough.store.db import read_scope, session_scope
from followthrough.store.scope import Access
from followthrough.tasks.service import user_or_422

router = APIRouter(tags=["leads"])
LeadId = Annotated[Id, Path(description="The lead's id.")]
LeadExternalId = Annotated[str, Path(min_length=1, max_length=200, description="The CRM's id of the lead.")]


def _draft(engine: Engine, settings: Settings, access: Access, body: LeadUpsert,
           external_id: str | None) -> LeadDraft:
    """The lead to take in; its contact must be one the caller may change (else a 422 naming
    ``/contact_id``, as for an unknown one), a new
    contact gets the contacts API's defaults and owner checks."""
    if (problem := body.contact_problem()) is not None:
        raise ValidationFailed("The lead has invalid fields.", errors=[problem])
    with read_scope(engine) as session:
        contact = None
        if body.contact is not None:
            contact = with_defaults(body.contact, settings)
            check_owner(session, access, contact, default=True, at="/contact")
        elif body.contact_id is not None:
            try:
                access.write.contact(session, body.contact_id)
            except NotFound as exc:  # unknown, or not the caller's to change: the same answer
                raise ValidationFailed("The lead has invalid fields.", errors=[
                    FieldError("/contact_id", f"contact {body.contact_id} does not exist")]) from exc
    return LeadDraft(contact_id=body.contact_id, contact=contact, source=body.source,
                     attributes=dict(body.attributes), external_id=external_id)


def _public(engine: Engine, lead_id: int, *, events: bool = False) -> LeadPublic:
    with read_scope(engine) as session:
        lead = leads.get(session, lead_id)
        return LeadPublic.of(lead, leads.events(session, lead_id) if events else None)


async def _take(engine: Engine, settings: Settings, temporal, access: Access,  # type: ignore[no-untyped-def]
                body: LeadUpsert, external_id: str | None, response: Response) -> LeadPublic:
    draft = await asyncio.to_thread(_draft, engine, settings, access, body, external_id)
    lead, created = await service.take(engine, await temporal.client(), settings, draft)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return await asyncio.to_thread(_public, engine, lead.id or 0)


@router.post("/v1/leads", status_code=status.HTTP_201_CREATED, summary="Take in a lead",
             responses={200: {"description": "The lead with this external_id, which exists"}})
async def create_lead(body: LeadCreate, engine: EngineDep, settings: SettingsDep, temporal: TemporalDep,
                      access: AccessDep, response: Response) -> LeadPublic:
    """Of an existing contact (``contact_id``) or a new one (``contact``); the lead is scored by
    the active lead policy (``FT_LEAD_POLICY``), which it pins, and runs as ``lead-<id>``. An
    ``external_id`` that names a lead already answers with that lead (200)."""
    return await _take(engine, settings, temporal, access, body, body.external_id, response)


@router.put("/v1/leads/by-external-id/{lead_external_id}", summary="Create or update a lead by the CRM's id",
            responses={201: {"description": "Created", "model": LeadPublic}})
async def upsert_lead(lead_external_id: LeadExternalId, body: LeadUpsert, engine: EngineDep,
                      settings: SettingsDep, temporal: TemporalDep, access: AccessDep,
                      response: Response) -> LeadPublic:
    """The same external id never makes a second lead or a second run, also when sent
    concurrently: an existing lead takes the source and attributes sent and is scored again."""
    return await _take(engine, settings, temporal, access, body, lead_external_id, response)


@router.get("/v1/leads", summary="Leads, oldest first")
def list_leads(
    engine: EngineDep, access: AccessDep, stage: LeadStage | None = None,
    owner: Annotated[Id | None, Query(description="Only this user's leads.")] = None,
    source: Annotated[str | None, Query(pattern=SOURCE_PATTERN, description="Only leads from this source.")] = None,
    cursor: CursorQuery = None, limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[LeadPublic]:
    with read_scope(engine) as session:
        rows = leads.list_page(session, access, stage=stage, owner_id=owner, source=source,
                               after=decode_cursor(cursor), limit=limit + 1)
        return page_of(rows, limit, LeadPublic.of)


@router.get("/v1/leads/{lead_id}", summary="A lead with its score and the explanation of every change")
def get_lead(lead_id: LeadId, engine: EngineDep) -> LeadPublic:
    return _public(engine, lead_id, events=True)


async def _act(engine: Engine, temporal, lead_id: int, action: str, input: BaseModel) -> LeadPublic:  # type: ignore[no-untyped-def]
    await service.act(engine, await temporal.client(), lead_id, action, input)
    return await asyncio.to_thread(_public, engine, lead_id, events=True)


@router.post("/v1/leads/{lead_id}/contacted", summary="The first touch was made (stops the SLA clock)")
async def lead_contacted(lead_id: LeadId, body: ContactedBody, engine: EngineDep, temporal: TemporalDep) -> LeadPublic:
    return await _act(engine, temporal, lead_id, "contacted", ContactedInput(note=body.note))


@router.post("/v1/leads/{lead_id}/convert", summary="The lead became a customer")
async def convert_lead(lead_id: LeadId, body: ConvertBody, engine: EngineDep, temporal: TemporalDep) -> LeadPublic:
    return await _act(engine, temporal, lead_id, "convert", ConvertInput(note=body.note))


@router.post("/v1/leads/{lead_id}/disqualify", summary="Disqualify a lead (cancels everything it owns)")
async def disqualify_lead(lead_id: LeadId, body: DisqualifyBody, engine: EngineDep,
                          temporal: TemporalDep) -> LeadPublic:
    return await _act(engine, temporal, lead_id, "disqualify", DisqualifyInput(reason=body.reason))


@router.post("/v1/leads/{lead_id}/close", summary="Close a lead (cancels everything it owns)")
async def close_lead(lead_id: LeadId, body: CloseBody, engine: EngineDep, temporal: TemporalDep) -> LeadPublic:
    return await _act(engine, temporal, lead_id, "close", CloseInput(reason=body.reason))


@router.post("/v1/leads/{lead_id}/reassign", summary="Give a lead to a user, or to the next rep by the strategy")
async def reassign_lead(lead_id: LeadId, body: LeadReassignBody, engine: EngineDep, temporal: TemporalDep,
                        access: AccessDep) -> LeadPublic:
    if body.owner_id is not None:
        await asyncio.to_thread(_new_owner, engine, access, body.owner_id)
    return await _act(engine, temporal, lead_id, "reassign", LeadReassignInput(owner_id=body.owner_id))


def _new_owner(engine: Engine, access: Access, owner_id: int) -> None:
    """A user who exists and whose work the caller may hand out (a rep: themselves)."""
    with session_scope(engine) as session:
        user_or_422(session, owner_id, "/owner_id")
    if not access.write.allows_owner(owner_id) and access.user_id != owner_id:
        raise ValidationFailed("The owner cannot be used.", errors=[
            FieldError("/owner_id", f"you may not give leads to user {owner_id}")])
