"""Ticket activities: keep the tickets row in step with its workflow, gather what a ticket's
messages show (the door renders and sends them), and place or lift the contact's hold."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity

from followthrough import action_links
from followthrough.models.tickets import HoldInput, TicketData, TicketDataInput, TicketSync
from followthrough.models.vocab import Category
from followthrough.settings import Settings
from followthrough.store import holds
from followthrough.store import tickets as store
from followthrough.store.db import as_utc, read_scope, session_scope
from followthrough.store.tables import Contact, HoldRow, Team, Ticket, User
from followthrough.wake import active_runs, wake_runs

#: The survey's one-click answers in an email (``data.links["1"]`` .. ``["5"]``).
SURVEY_SCORES = ("1", "2", "3", "4", "5")
#: The customer's last messages a notification to people shows.
LAST_MESSAGES = 3
#: What an open complaint's hold defers (service and transactional messages still go).
HELD_CATEGORIES = (Category.SALES, Category.MARKETING)


class TicketActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    @activity.defn(name="sync_ticket")
    async def sync(self, change: TicketSync) -> None:
        """Idempotent: the row gets the workflow's values; events are recorded once per key."""
        await asyncio.to_thread(self._sync, change)

    @activity.defn(name="ticket_data")
    async def data(self, input: TicketDataInput) -> TicketData:
        """The data of one message about the ticket, read when it is about to go."""
        return await asyncio.to_thread(self._data, input)

    @activity.defn(name="ticket_hold")
    async def hold(self, input: HoldInput) -> None:
        """Place the ticket's hold on its contact (once: a retry finds the hold it placed) or
        lift it, then wake the contact's runs that a hold deferred, so they ask again now."""
        contact_id = await asyncio.to_thread(self._hold, input)
        if contact_id is None or input.place:
            return
        await wake_runs(activity.client(), await asyncio.to_thread(active_runs, self._engine, contact_id))

    def _sync(self, change: TicketSync) -> None:
        with session_scope(self._engine) as session:
            store.sync(session, change)

    def _hold(self, input: HoldInput) -> int | None:
        with session_scope(self._engine) as session:
            ticket = store.get(session, input.ticket_id)
            current = session.get(HoldRow, ticket.hold_id) if ticket.hold_id is not None else None
            if input.place:
                if current is not None and current.lifted_at is None:
                    return None
                row = holds.create(session, ticket.contact_id, list(HELD_CATEGORIES), None,
                                   f"ticket {ticket.id} is open")
                store.set_hold(session, input.ticket_id, row.id)
                return ticket.contact_id
            if current is None or current.lifted_at is not None:
                return None
            holds.lift(session, current.id or 0)
            return ticket.contact_id

    def _data(self, input: TicketDataInput) -> TicketData:
        # Only the survey's links are written (action_links rows); every other message reads,
        # and a read takes no write lock on SQLite (the door and the syncs need it).
        with (session_scope if input.survey else read_scope)(self._engine) as session:
            ticket = store.get(session, input.ticket_id)
            contact = session.get(Contact, ticket.contact_id)
            data: dict[str, object] = {"ticket": _ticket_data(session, ticket)}
            if input.message_id is not None:
                found = next((m for m in store.messages(session, ticket.id or 0) if m.id == input.message_id), None)
                data["response"] = found.body if found is not None else ""
            if input.survey:
                locale = contact.locale if contact is not None else self._settings.default_locale
                data["links"] = action_links.issue_all(session, self._settings, "ticket", ticket.id or 0,
                                                       list(SURVEY_SCORES), locale)
            if input.audience == "people":
                data["contact"] = {"name": contact.name if contact else "", "email": contact.email if contact else None,
                                   "phone": contact.phone if contact else None}
                data["messages"] = [
                    {"at": as_utc(m.created_at).isoformat(), "body": m.body[:500]}  # type: ignore[union-attr]
                    for m in store.messages(session, ticket.id or 0, direction="in", limit=LAST_MESSAGES,
                                            newest_first=True)]
            inbound = [m for m in store.messages(session, ticket.id or 0, direction="in", newest_first=True)
                       if m.channel == "email" and m.message_key and m.message_key.startswith("<")]
            return TicketData(data=data, user_ids=_people(session, ticket, input.notify),
                              thread=inbound[0].message_key if inbound else None)


def _ticket_data(session: Session, ticket: Ticket) -> dict[str, object]:
    team = session.get(Team, ticket.team_id) if ticket.team_id is not None else None
    assignee = session.get(User, ticket.assignee_id) if ticket.assignee_id is not None else None
    return {
        "id": ticket.id, "number": f"#{ticket.id}", "subject": ticket.subject, "status": ticket.status,
        "priority": ticket.priority, "category": ticket.category, "team": team.name if team else None,
        "assignee": assignee.name if assignee else None, "resolution_note": ticket.resolution_note or "",
        "first_response_due_at": _iso(ticket.first_response_due_at),
        "resolution_due_at": _iso(ticket.resolution_due_at),
    }


def _iso(value: object) -> str | None:
    return as_utc(value).isoformat() if value is not None else None  # type: ignore[arg-type]


def _people(session: Session, ticket: Ticket, notify: list[str | int]) -> list[int]:
    """The users ``notify`` names: the assignee, the team's manager, or user ids."""
    found: list[int] = []
    team = session.get(Team, ticket.team_id) if ticket.team_id is not None else None
    for who in notify:
        if who == "assignee":
            user_id = ticket.assignee_id
        elif who == "team_manager":
            user_id = team.manager_id if team is not None else None
        else:
            user_id = int(who)
        if user_id is not None and user_id not in found:
            found.append(user_id)
    return found
