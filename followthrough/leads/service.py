"""Taking leads in and acting on them, for the API and the ``lead`` step: the row (and the lead's
own ``runs`` row, through which the contact's events reach it) is written first, then the
workflow ``lead-<id>`` starts; actions are the workflow's Updates.

Idempotent intake: a lead with an external id is made once. Concurrent upserts of one external id
race on the unique ``leads.external_id``: one inserts, the others find its row; every caller then
starts ``lead-<id>`` with ``USE_EXISTING``, so there is one lead and one run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from followthrough import entity_updates, ids
from followthrough.errors import Conflict, ServiceUnavailable
from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.models.leads import LEAD_UPDATED, LeadInput, LeadState, LeadView
from followthrough.models.runs import RunEvent
from followthrough.models.vocab import LeadStage
from followthrough.settings import Settings
from followthrough.store import contacts, definitions, leads, runs, timeline
from followthrough.store.db import session_scope
from followthrough.store.tables import DefinitionVersion, Lead, LeadEvent, utcnow
from followthrough.temporal import CONTACT_ID, DEFINITION, RUN_ID, RUN_KIND

LEAD_WORKFLOW = "LeadWorkflow"


#: The lead's stage does not allow the update: the one refusal of every entity workflow.
InvalidLeadTransition = entity_updates.InvalidTransition


@dataclass(frozen=True)
class LeadDraft:
    """A lead to take in: an existing contact, or the fields of a new one (``contact``)."""

    contact_id: int | None = None
    contact: dict[str, Any] | None = None
    source: str = "api"
    attributes: dict[str, Any] = field(default_factory=dict)
    external_id: str | None = None


def active_policy(session: Session, name: str) -> DefinitionVersion:
    """The published lead policy new leads pin (409 when there is none)."""
    version = definitions.active(session, name)
    if version is None or version.kind != "lead_policy":
        raise Conflict(f"lead policy '{name}' has no published version (save and publish a "
                       f"definition of kind lead_policy named '{name}', or set FT_LEAD_POLICY)")
    return version


def parse_policy(document: dict[str, Any]) -> LeadPolicyDefinition:
    """A stored (validated when saved) lead policy document as the model."""
    try:
        return LeadPolicyDefinition.model_validate(document)
    except ValidationError as exc:  # saved by an older version of the schema
        raise Conflict(f"the lead policy '{document.get('name')}' no longer validates: {exc}") from exc


@dataclass
class Claimed:
    lead: Lead
    created: bool
    start: LeadInput


def _start_input(lead: Lead, run_id: str, policy: DefinitionVersion, settings: Settings) -> LeadInput:
    state = LeadState(lead_id=lead.id or 0, contact_id=lead.contact_id, run_id=run_id,
                      policy_name=lead.policy_name, policy_version=lead.policy_version)
    return LeadInput(state=state, policy=policy.document, history_limit=settings.workflow_history_limit)


def _run_of(session: Session, lead: Lead, policy: DefinitionVersion) -> str:
    run, _ = runs.claim(session, kind="lead", workflow_id=lead.workflow_id,
                        active_key=ids.lead_entity(lead.id or 0), contact_id=lead.contact_id,
                        definition_name=policy.name, definition_version=policy.version)
    return run.id


def _claim(engine: Engine, settings: Settings, draft: LeadDraft) -> Claimed:
    with session_scope(engine) as session:
        if draft.external_id is not None and (found := leads.by_external_id(session, draft.external_id)):
            return _existing(session, settings, found, draft)
        policy = active_policy(session, settings.lead_policy)
        try:
            with session.begin_nested():
                contact_id = draft.contact_id
                if contact_id is None:
                    contact_id = contacts.create(session, dict(draft.contact or {})).id
                else:
                    contacts.get(session, contact_id)
                lead = leads.create(session, {
                    "contact_id": contact_id, "external_id": draft.external_id, "source": draft.source,
                    "attributes": dict(draft.attributes), "policy_name": policy.name,
                    "policy_version": policy.version,
                })
        except IntegrityError:
            # Another request took the external id first: its lead is this one.
            found = leads.by_external_id(session, draft.external_id) if draft.external_id else None
            if found is None:
                raise
            return _existing(session, settings, found, draft)
        run_id = _run_of(session, lead, policy)
        timeline.record(session, contact_id=lead.contact_id, kind="lead.created", run_id=run_id,
                        summary=f"lead {lead.id} from {lead.source} (policy {policy.name} v{policy.version})",
                        data={"lead_id": lead.id, "source": lead.source})
        return Claimed(lead, True, _start_input(lead, run_id, policy, settings))


def _existing(session: Session, settings: Settings, lead: Lead, draft: LeadDraft | None) -> Claimed:
    """A lead that exists (an upsert: its source and attributes as the CRM sends them now), with
    what starts its workflow should it not run (a lead migrated from ``lead_score``)."""
    if draft is not None and (lead.source, lead.attributes) != (draft.source, draft.attributes):
        lead.source, lead.attributes = draft.source, dict(draft.attributes)
        session.add(lead)
        session.flush()
    policy = definitions.get(session, lead.policy_name, lead.policy_version)
    run = runs.by_active_key(session, ids.lead_entity(lead.id or 0))
    run_id = run.id if run is not None else _run_of(session, lead, policy)
    return Claimed(lead, False, _start_input(lead, run_id, policy, settings))


async def take(engine: Engine, client: Client, settings: Settings, draft: LeadDraft) -> tuple[Lead, bool]:
    """Returns (lead, created). The workflow is started (or found) in both cases: a first
    attempt whose start failed is completed by the retry."""
    claimed = await asyncio.to_thread(_claim, engine, settings, draft)
    lead = claimed.lead
    if lead.stage in (LeadStage.CONVERTED, LeadStage.DISQUALIFIED, LeadStage.CLOSED):
        return lead, False
    try:
        await start(client, settings, lead, claimed.start)
        if not claimed.created:
            await _tell(client, lead)
    except RPCError as exc:
        raise ServiceUnavailable(f"the lead's workflow could not be started: {exc}") from exc
    return lead, claimed.created


def _handed(engine: Engine, settings: Settings, contact_id: int, key: str) -> Claimed | None:
    """The lead a ``lead`` step (``key``) handed the contact to before, else the contact's open
    lead (recorded under ``key``), else None: a new one is due."""
    with session_scope(engine) as session:
        found = session.exec(select(LeadEvent).where(LeadEvent.key == key)).first()
        if found is not None:
            return _existing(session, settings, leads.get(session, found.lead_id), None)
        lead = leads.open_for_contact(session, contact_id)
        if lead is not None:
            leads.record_event(session, lead_id=lead.id or 0, key=key, kind="handover", at=utcnow(),
                               detail={"step": key})
            return _existing(session, settings, lead, None)
        contacts.get(session, contact_id)
        return None


def _mark(engine: Engine, lead_id: int, key: str) -> None:
    with session_scope(engine) as session:
        leads.record_event(session, lead_id=lead_id, key=key, kind="handover", at=utcnow(), detail={"step": key})


async def hand_over(engine: Engine, client: Client, settings: Settings, contact_id: int, *, key: str,
                    source: str, attributes: dict[str, Any]) -> tuple[Lead, bool]:
    """A ``lead`` step: the contact's open lead (told to score again), else a new lead with
    ``source`` and ``attributes``; (lead, created). ``key`` (run, step, visit) makes it once: a
    retry finds the lead its first attempt handed the contact to."""
    claimed = await asyncio.to_thread(_handed, engine, settings, contact_id, key)
    if claimed is not None:
        lead = claimed.lead
        if lead.stage not in (LeadStage.CONVERTED, LeadStage.DISQUALIFIED, LeadStage.CLOSED):
            await start(client, settings, lead, claimed.start)  # running: kept (USE_EXISTING)
            await _tell(client, lead)
        return lead, False
    lead, created = await take(engine, client, settings, LeadDraft(
        contact_id=contact_id, source=source, attributes=attributes))
    await asyncio.to_thread(_mark, engine, lead.id or 0, key)
    return lead, created


async def _tell(client: Client, lead: Lead) -> None:
    try:
        await client.get_workflow_handle(lead.workflow_id).signal(
            "event", RunEvent(kind=LEAD_UPDATED, data={"lead_id": lead.id}))
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


async def start(client: Client, settings: Settings, lead: Lead, start_input: LeadInput) -> None:
    attributes = TypedSearchAttributes([
        SearchAttributePair(CONTACT_ID, str(lead.contact_id)),
        SearchAttributePair(RUN_KIND, "lead"),
        SearchAttributePair(DEFINITION, lead.policy_name),
        SearchAttributePair(RUN_ID, start_input.state.run_id),
    ])
    await client.start_workflow(LEAD_WORKFLOW, start_input, id=lead.workflow_id, task_queue=settings.task_queue,
                                search_attributes=attributes,
                                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)


async def act(engine: Engine, client: Client, lead_id: int, action: str, input: BaseModel) -> LeadView:
    """Run one update and return the lead's new state; a refused one is a 409 naming the
    stage. A lead whose workflow has ended answers with its final stage (409)."""
    async def final_stage() -> str:
        return await asyncio.to_thread(_stage, engine, lead_id)

    return await entity_updates.execute(client, ids.lead_workflow_id(lead_id), action, input, LeadView,
                                        subject="the lead", final_state=final_stage)


def _stage(engine: Engine, lead_id: int) -> str:
    with session_scope(engine) as session:
        return LeadStage(leads.get(session, lead_id).stage).value

