"""Opening tickets and acting on them, for the API and the inbound pipeline: the row is written
first (classified by the pinned SLA policy, routed to a team, assigned inside it), then
``ticket-<id>`` starts; changes are the workflow's Updates, customer messages its signals."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from followthrough import entity_updates, ids
from followthrough.enrollment import holidays_for
from followthrough.entity_updates import InvalidTransition
from followthrough.errors import FieldError, ServiceUnavailable, ValidationFailed
from followthrough.models.tickets import (
    CalendarChanged,
    CustomerMessage,
    SurveyAnswer,
    TicketEntity,
    TicketEventIn,
    TicketInput,
    TicketView,
)
from followthrough.settings import Settings
from followthrough.store import calendars, contacts, definitions, rotation
from followthrough.store import tickets as store
from followthrough.store.db import as_utc, read_scope, session_scope
from followthrough.store.tables import Absence, Contact, Team, Ticket, User
from followthrough.temporal import CONTACT_ID, RUN_ID, RUN_KIND
from followthrough.tickets import lifecycle
from followthrough.tickets.classify import Classification, classify
from followthrough.tickets.policy import SlaPolicyDefinition
from followthrough.tickets.route import route

TICKET_WORKFLOW = "TicketWorkflow"
#: Channels an answer can go back on; a ticket opened through the API answers by email.
REPLY_CHANNELS = ("email", "sms")
#: A survey answer by SMS: one digit 1-5, alone (spaces and a full stop allowed).
_SURVEY_REPLY = re.compile(r"^\s*([1-5])\s*\.?\s*$")


def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else Settings()


def active_policy(session: Session, name: str) -> tuple[SlaPolicyDefinition, int, dict[str, Any]]:
    """The published version of the SLA policy ``name``: (parsed, version, document)."""
    found = definitions.active(session, name)
    if found is None or found.kind != "sla_policy":
        raise ServiceUnavailable(f"no published sla_policy named '{name}' (FT_SLA_POLICY)")
    return SlaPolicyDefinition.model_validate(found.document), found.version, dict(found.document)


def contact_view(contact: Contact) -> dict[str, Any]:
    """What classification and routing rules read of the contact."""
    attributes = dict(contact.attributes or {})
    return {"id": contact.id, "locale": contact.locale, "language": contact.locale.split("-")[0].lower(),
            "time_zone": contact.time_zone, "owner_id": contact.owner_id, "attributes": attributes,
            "tier": attributes.get("tier")}


def _eligible(session: Session, now: datetime):  # type: ignore[no-untyped-def]
    def reason(user_id: int) -> str | None:
        user = session.get(User, user_id)
        if user is None or not user.active:
            return "inactive"
        absent = session.exec(select(Absence.id).where(
            Absence.user_id == user_id, col(Absence.starts_at) <= now, col(Absence.ends_at) > now)).first()
        return "absent" if absent is not None else None
    return reason


def pick_assignee(session: Session, team_id: int, now: datetime) -> tuple[int | None, list[tuple[int, str]]]:
    """The next member of the team by weighted round robin, among the active and present."""
    chosen = rotation.pick(session, team_id, _eligible(session, now))
    return chosen.user_id, chosen.skipped


def peek_assignee(session: Session, team_id: int, now: datetime) -> tuple[int | None, list[tuple[int, str]]]:
    """Whom ``pick_assignee`` would choose now, nothing written (the policy's preview)."""
    chosen = rotation.peek(session, team_id, _eligible(session, now))
    return chosen.user_id, chosen.skipped


def _claim(engine: Engine, settings: Settings, *, contact_id: int, channel: str, subject: str, text: str,
           source_message_id: str | None, priority: str | None, category: str | None,
           now: datetime) -> tuple[Ticket, bool, TicketInput | None]:
    with session_scope(engine) as session:
        if source_message_id is not None and (made := store.by_source(session, source_message_id)) is not None:
            return made, False, None
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise ValidationFailed("The contact does not exist.", errors=[
                FieldError("/contact_id", f"contact {contact_id} does not exist")])
        policy, version, document = active_policy(session, settings.sla_policy)
        if priority is not None and priority not in policy.priorities:
            raise ValidationFailed("The priority is not one of the policy's.", errors=[FieldError(
                "/priority", f"'{priority}' is not among {', '.join(policy.priorities)}")])
        seen = contact_view(contact)
        found: Classification = classify(policy, subject=subject, text=text, channel=channel, contact=seen)
        ticket_fields = {"subject": subject, "channel": channel, "category": category or found.category,
                         "priority": priority or found.priority}
        routing = route(policy, contact=seen, ticket=ticket_fields)
        team_name, rule = routing.team, routing.rule or "default"
        team = session.exec(select(Team).where(Team.name == team_name)).first()
        assignee, skipped = pick_assignee(session, team.id, now) if team is not None and team.id else (None, [])
        ticket = store.create(session, {
            "contact_id": contact_id, "channel": channel, "subject": subject,
            "priority": ticket_fields["priority"], "category": ticket_fields["category"],
            "team_id": team.id if team else None, "assignee_id": assignee,
            "policy_name": policy.name, "policy_version": version, "source_message_id": source_message_id,
            "created_at": now, "updated_at": now,
        })
        ticket_id = ticket.id or 0
        store.add_message(session, ticket_id, direction="in", body=text, channel=channel,
                          message_key=source_message_id)
        store.record(session, ticket_id, lifecycle_event(ticket_id, "classification", now, {
            "category": ticket_fields["category"], "priority": ticket_fields["priority"],
            "matched": found.matched, "words": found.words, "given": {"priority": priority, "category": category}}))
        store.record(session, ticket_id, lifecycle_event(ticket_id, "assignment", now, {
            "team": team_name, "rule": rule, "assignee_id": assignee,
            "skipped": [{"user_id": u, "reason": r} for u, r in skipped]}))
        documents, _missing = calendars.resolve(session, lifecycle.calendar_names(policy))
        entity = TicketEntity(ticket_id=ticket_id, contact_id=contact_id,
                              channel=channel if channel in REPLY_CHANNELS else "email",
                              priority=ticket.priority, category=ticket.category, team_id=ticket.team_id,
                              assignee_id=assignee, opened_at=now)
        start = TicketInput(entity=entity, policy=document, calendars=documents,
                            holidays=holidays_for(documents, now.year),
                            history_limit=settings.workflow_history_limit)
        return ticket, True, start


def lifecycle_event(ticket_id: int, kind: str, at: datetime, detail: dict[str, Any]) -> TicketEventIn:
    return TicketEventIn(kind=kind, key=f"ticket-{ticket_id}:{kind}", at=at, detail=detail)


async def open_ticket(engine: Engine, client: Client, *, contact_id: int, channel: str, subject: str, text: str,
                      source_message_id: str | None = None, priority: str | None = None,
                      category: str | None = None, settings: Settings | None = None,
                      now: datetime | None = None) -> tuple[Ticket, bool]:
    """Open a ticket (or find the one ``source_message_id`` opened: created False) and start
    ``ticket-<id>``. A start that fails leaves the row for a retry to start (503)."""
    settings = _settings(settings)
    now = now or datetime.now(UTC)
    ticket, created, start = await asyncio.to_thread(
        _claim, engine, settings, contact_id=contact_id, channel=channel, subject=subject, text=text,
        source_message_id=source_message_id, priority=priority, category=category, now=now)
    if start is None:
        start = await asyncio.to_thread(_restart_input, engine, settings, ticket.id or 0)
    try:
        await _start(client, settings, ticket, start)
    except RPCError as exc:
        raise ServiceUnavailable(f"the ticket could not be started: {exc}") from exc
    return ticket, created


def _restart_input(engine: Engine, settings: Settings, ticket_id: int) -> TicketInput | None:
    """A retried intake whose first start may have failed: the same start input again."""
    with read_scope(engine) as session:
        ticket = store.get(session, ticket_id)
        found = definitions.get(session, ticket.policy_name, ticket.policy_version)
        policy = SlaPolicyDefinition.model_validate(found.document)
        documents, _ = calendars.resolve(session, lifecycle.calendar_names(policy))
        created = ticket.created_at
        entity = TicketEntity(ticket_id=ticket_id, contact_id=ticket.contact_id,
                              channel=ticket.channel if ticket.channel in REPLY_CHANNELS else "email",
                              priority=ticket.priority, category=ticket.category, team_id=ticket.team_id,
                              assignee_id=ticket.assignee_id, opened_at=as_utc(ticket.created_at))
        return TicketInput(entity=entity, policy=dict(found.document), calendars=documents,
                           holidays=holidays_for(documents, created.year),
                           history_limit=settings.workflow_history_limit)


async def _start(client: Client, settings: Settings, ticket: Ticket, start: TicketInput | None) -> None:
    pairs = [SearchAttributePair(RUN_KIND, "ticket"), SearchAttributePair(RUN_ID, ticket.workflow_id),
             SearchAttributePair(CONTACT_ID, str(ticket.contact_id))]
    await client.start_workflow(TICKET_WORKFLOW, start, id=ticket.workflow_id, task_queue=settings.task_queue,
                                search_attributes=TypedSearchAttributes(pairs),
                                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)


async def act(engine: Engine, client: Client, ticket_id: int, action: str, input: BaseModel) -> TicketView:
    """Run one change (a workflow Update) and return the ticket after it. A refused one is a
    409 naming the status; a ticket whose workflow has ended is refused likewise."""
    return await entity_updates.execute(
        client, ids.ticket_workflow_id(ticket_id), action, input, TicketView, subject=f"ticket {ticket_id}",
        final_state=lambda: asyncio.to_thread(_status, engine, ticket_id))


def _status(engine: Engine, ticket_id: int) -> str:
    with read_scope(engine) as session:
        return store.get(session, ticket_id).status


async def _signal(client: Client, ticket_id: int, name: str, payload: BaseModel) -> bool:
    try:
        await client.get_workflow_handle(ids.ticket_workflow_id(ticket_id)).signal(name, payload)
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise ServiceUnavailable(f"Temporal did not take the signal: {exc}") from exc
        return False  # the ticket is closed: its workflow has ended
    return True


def _add_customer_message(engine: Engine, ticket_id: int, channel: str, text: str,
                          message_key: str) -> tuple[int, bool]:
    with session_scope(engine) as session:
        store.get(session, ticket_id)
        row, new = store.add_message(session, ticket_id, direction="in", body=text, channel=channel,
                                     message_key=message_key)
        return row.id or 0, new


async def add_customer_message(engine: Engine, client: Client, ticket_id: int, *, channel: str, text: str,
                               message_key: str) -> bool:
    """Record the customer's message on the ticket once (idempotent on ``message_key``) and
    tell the workflow: a paused clock resumes, a resolved ticket reopens. False: a duplicate."""
    message_id, new = await asyncio.to_thread(_add_customer_message, engine, ticket_id, channel, text, message_key)
    # A duplicate is signalled again too: the first delivery may have failed after the write;
    # the workflow drops a key it has seen.
    await _signal(client, ticket_id, "customer_message", CustomerMessage(message_key=message_key,
                                                                         message_id=message_id))
    return new


def _pending_survey(engine: Engine, contact_id: int) -> int | None:
    with read_scope(engine) as session:
        found = store.survey_pending(session, contact_id)
        return found.id if found is not None else None


async def survey_reply(engine: Engine, client: Client, *, contact_id: int, text: str) -> int | None:
    """An SMS from a contact whose survey is pending: a lone digit 1-5 answers it (the ticket's
    id is returned); anything else is not a survey answer (None) and goes on as a reply."""
    match = _SURVEY_REPLY.match(text or "")
    if match is None:
        return None
    ticket_id = await asyncio.to_thread(_pending_survey, engine, contact_id)
    if ticket_id is None:
        return None
    try:
        await act(engine, client, ticket_id, "survey", SurveyAnswer(score=int(match.group(1)), via="sms"))
    except InvalidTransition:
        return None
    return ticket_id


def _on_calendar(engine: Engine, name: str) -> list[int]:
    """Open tickets whose pinned policy counts on the calendar ``name``."""
    with read_scope(engine) as session:
        counts: dict[tuple[str, int], bool] = {}
        found = []
        for ticket in store.open_tickets(session):
            key = (ticket.policy_name, ticket.policy_version)
            if key not in counts:
                document = definitions.get(session, *key).document
                counts[key] = name in lifecycle.calendar_names(SlaPolicyDefinition.model_validate(document))
            if counts[key]:
                found.append(ticket.id or 0)
        return found


async def calendar_edited(engine: Engine, client: Client, name: str, document: dict[str, Any]) -> list[int]:
    """Tell every open ticket whose clocks may count on calendar ``name`` its new document
    (SLA clocks follow their calendar). Returns the tickets told."""
    told = []
    for ticket_id in await asyncio.to_thread(_on_calendar, engine, name):
        if await _signal(client, ticket_id, "calendar_changed", CalendarChanged(name=name, document=document)):
            told.append(ticket_id)
    return told


def contact_of(session: Session, ticket: Ticket) -> Contact:
    return contacts.get(session, ticket.contact_id)


def team_name(session: Session, team_id: int | None) -> str | None:
    team = session.get(Team, team_id) if team_id is not None else None
    return team.name if team is not None else None

