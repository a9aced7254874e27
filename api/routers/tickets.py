"""Tickets: open, list, read (with the conversation, the events and the clocks' time left), and
work them: responses (sent to the customer through the door) and internal notes, assign,
priority, hold, status, resolve, reopen.

Agents see their teams' tickets and those assigned to them, managers their teams', admins all;
any other ticket is a 404. Changes are the ticket workflow's Updates: the answer is the ticket
after the change, and a change its status does not allow is a 409 naming the status.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.client import Client
from temporalio.service import RPCError

from api.deps import AccessDep, EngineDep, PrincipalDep, SettingsDep, TemporalDep
from api.schemas.common import (
    DEFAULT_LIMIT,
    CursorQuery,
    Id,
    LimitQuery,
    Page,
    decode_cursor,
    page_of,
)
from api.schemas.tickets import (
    AssignBody,
    ClockPublic,
    EventPublic,
    HoldBody,
    MessagePublic,
    PriorityBody,
    ReopenBody,
    ResolveBody,
    ResponseBody,
    StatusBody,
    TicketCreate,
    TicketPublic,
)
from followthrough import ids
from followthrough.errors import FieldError, NotFound, ValidationFailed
from followthrough.models.tickets import (
    AssignInput,
    PriorityInput,
    ReopenInput,
    ResolveInput,
    RespondInput,
    StatusInput,
    TicketStatus,
    TicketView,
)
from followthrough.store import scope
from followthrough.store import tickets as store
from followthrough.store.db import read_scope, session_scope
from followthrough.store.scope import Access
from followthrough.store.tables import Team, Ticket, User
from followthrough.tickets import service

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])
TicketId = Annotated[Id, Path(description="The ticket's id.")]


def _team(session, team_id: int | None) -> str | None:  # type: ignore[no-untyped-def]
    team = session.get(Team, team_id) if team_id is not None else None
    return team.name if team is not None else None


def _visible(engine: Engine, ticket_id: int, access: Access) -> Ticket:
    """The ticket, or 404 when the caller may not see it."""
    with read_scope(engine) as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None or not scope.ticket_scope(session, access).allows(ticket.team_id, ticket.assignee_id):
            raise NotFound(f"ticket {ticket_id} does not exist")
        return ticket


def _public(engine: Engine, ticket_id: int, view: TicketView | None = None, *, full: bool = False) -> TicketPublic:
    with read_scope(engine) as session:
        ticket = store.get(session, ticket_id)
        public = TicketPublic.of(ticket, _team(session, ticket.team_id))
        if not full:
            return public
        public.messages = [MessagePublic.of(m) for m in store.messages(session, ticket_id)]
        public.events = [EventPublic.of(e) for e in store.events(session, ticket_id)]
    if view is not None:
        public.clocks = {target: ClockPublic(time_left_seconds=view.time_left.get(target), due_at=due)
                         for target, due in view.deadlines.items()}
    return public


@router.post("", status_code=status.HTTP_201_CREATED, summary="Open a ticket")
async def open_ticket(body: TicketCreate, engine: EngineDep, settings: SettingsDep, temporal: TemporalDep,
                      access: AccessDep) -> TicketPublic:
    """Classified by the published SLA policy (``FT_SLA_POLICY``) unless ``priority`` or
    ``category`` are given, routed to a team, assigned inside it; the customer is acknowledged."""
    await asyncio.to_thread(_contact_visible, engine, access, body.contact_id)
    ticket, _created = await service.open_ticket(
        engine, await temporal.client(), contact_id=body.contact_id, channel=body.channel, subject=body.subject,
        text=body.text, priority=body.priority, category=body.category, settings=settings)
    return await asyncio.to_thread(_public, engine, ticket.id or 0)


def _contact_visible(engine: Engine, access: Access, contact_id: int) -> None:
    with read_scope(engine) as session:
        try:
            access.read.contact(session, contact_id)
        except NotFound as exc:
            raise ValidationFailed("The contact does not exist.", errors=[
                FieldError("/contact_id", f"contact {contact_id} does not exist")]) from exc


@router.get("", summary="Tickets, oldest first")
def list_tickets(
    engine: EngineDep, access: AccessDep,
    status_: Annotated[TicketStatus | None, Query(alias="status")] = None,
    priority: Annotated[str | None, Query(max_length=16)] = None,
    team: Annotated[str | None, Query(max_length=64, description="A team's name.")] = None,
    assignee: Annotated[Id | None, Query(description="Only this user's tickets.")] = None,
    cursor: CursorQuery = None, limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[TicketPublic]:
    with read_scope(engine) as session:
        team_id = None
        if team is not None:
            found = session.exec(select(Team).where(Team.name == team)).first()
            team_id = found.id if found is not None else -1
        rows = store.list_page(session, status=status_.value if status_ else None, priority=priority,
                               team_id=team_id, assignee_id=assignee, after=decode_cursor(cursor),
                               limit=limit + 1, visible=scope.ticket_scope(session, access))
        return page_of(rows, limit, lambda row: TicketPublic.of(row, _team(session, row.team_id)))


@router.get("/{ticket_id}", summary="A ticket with its messages, events and clocks")
async def get_ticket(ticket_id: TicketId, engine: EngineDep, temporal: TemporalDep, access: AccessDep) -> TicketPublic:
    await asyncio.to_thread(_visible, engine, ticket_id, access)
    view = await _view(await temporal.client(), ticket_id)
    return await asyncio.to_thread(_public, engine, ticket_id, view, full=True)


async def _view(client: Client, ticket_id: int) -> TicketView | None:
    """The workflow's view (the clocks' time left now); None once it has ended."""
    try:
        return await client.get_workflow_handle(ids.ticket_workflow_id(ticket_id)).query("view", result_type=TicketView)
    except RPCError:
        return None


async def _act(engine: Engine, temporal, access: Access, ticket_id: int, action: str,  # type: ignore[no-untyped-def]
               input: BaseModel) -> TicketPublic:
    await asyncio.to_thread(_visible, engine, ticket_id, access)
    view = await service.act(engine, await temporal.client(), ticket_id, action, input)
    return await asyncio.to_thread(_public, engine, ticket_id, view, full=True)


def _record_response(engine: Engine, ticket_id: int, body: ResponseBody, author_id: int | None) -> int:
    with session_scope(engine) as session:
        ticket = store.get(session, ticket_id)
        row, _ = store.add_message(session, ticket_id, direction="note" if body.internal else "out", body=body.text,
                                   channel=None if body.internal else ticket.channel, author_id=author_id)
        return row.id or 0


@router.post("/{ticket_id}/responses", status_code=status.HTTP_201_CREATED,
             summary="Answer the customer, or add an internal note")
async def respond(ticket_id: TicketId, body: ResponseBody, engine: EngineDep, temporal: TemporalDep,
                  principal: PrincipalDep, access: AccessDep) -> TicketPublic:
    """An answer goes to the customer on the ticket's channel (``ticket_response`` wraps the
    text; an email threads under the customer's mail) and counts as the first or next
    response. ``internal: true`` is a note: recorded, never sent."""
    ticket = await asyncio.to_thread(_visible, engine, ticket_id, access)
    if not body.internal and ticket.status == TicketStatus.CLOSED.value:
        raise service.InvalidTransition(f"ticket {ticket_id} is closed; respond is not allowed")
    message_id = await asyncio.to_thread(_record_response, engine, ticket_id, body, principal.user_id)
    if body.internal:
        return await asyncio.to_thread(_public, engine, ticket_id, None, full=True)
    wanted = TicketStatus(body.status) if body.status else None
    return await _act(engine, temporal, access, ticket_id, "respond",
                      RespondInput(message_id=message_id, author_id=principal.user_id, status=wanted))


@router.post("/{ticket_id}/assign", summary="Give a ticket to an agent")
async def assign(ticket_id: TicketId, body: AssignBody, engine: EngineDep, temporal: TemporalDep,
                 access: AccessDep) -> TicketPublic:
    await asyncio.to_thread(_user_exists, engine, body.assignee_id)
    return await _act(engine, temporal, access, ticket_id, "assign", AssignInput(assignee_id=body.assignee_id))


def _user_exists(engine: Engine, user_id: int) -> None:
    with read_scope(engine) as session:
        user = session.get(User, user_id)
        if user is None or not user.active:
            raise ValidationFailed("The assignee does not exist.", errors=[
                FieldError("/assignee_id", f"user {user_id} does not exist or is not active")])


@router.post("/{ticket_id}/priority", summary="Change a ticket's priority (its clocks are recomputed)")
async def change_priority(ticket_id: TicketId, body: PriorityBody, engine: EngineDep, temporal: TemporalDep,
                          access: AccessDep) -> TicketPublic:
    return await _act(engine, temporal, access, ticket_id, "priority", PriorityInput(priority=body.priority))


@router.post("/{ticket_id}/hold", summary="Put a ticket on hold (its clocks pause)")
async def hold(ticket_id: TicketId, body: HoldBody, engine: EngineDep, temporal: TemporalDep,
               access: AccessDep) -> TicketPublic:
    return await _act(engine, temporal, access, ticket_id, "status",
                      StatusInput(status=TicketStatus.ON_HOLD, note=body.note))


@router.post("/{ticket_id}/status", summary="Set open, waiting_on_customer or on_hold")
async def change_status(ticket_id: TicketId, body: StatusBody, engine: EngineDep, temporal: TemporalDep,
                        access: AccessDep) -> TicketPublic:
    return await _act(engine, temporal, access, ticket_id, "status",
                      StatusInput(status=TicketStatus(body.status), note=body.note))


@router.post("/{ticket_id}/resolve", summary="Resolve a ticket with a resolution note")
async def resolve(ticket_id: TicketId, body: ResolveBody, engine: EngineDep, temporal: TemporalDep,
                  access: AccessDep) -> TicketPublic:
    return await _act(engine, temporal, access, ticket_id, "resolve", ResolveInput(note=body.note))


@router.post("/{ticket_id}/reopen", summary="Reopen a resolved ticket")
async def reopen(ticket_id: TicketId, body: ReopenBody, engine: EngineDep, temporal: TemporalDep,
                 access: AccessDep) -> TicketPublic:
    return await _act(engine, temporal, access, ticket_id, "reopen", ReopenInput(reason=body.reason))

