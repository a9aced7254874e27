"""The ``ticket`` kind of one-click links: a satisfaction survey's scores (``1`` .. ``5``) in the
email that asks for them. Each answers the ticket's ``survey`` Update, as an SMS digit does."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine

from activities.tickets import SURVEY_SCORES
from api.temporal import TemporalGateway
from followthrough.action_links import ActionView, SubjectRejected
from followthrough.models.tickets import SurveyAnswer
from followthrough.store.db import read_scope
from followthrough.store.tables import Ticket
from followthrough.tickets import service


class TicketLinkActions:
    kind = "ticket"
    actions = frozenset(SURVEY_SCORES)
    views: frozenset[str] = frozenset()

    def __init__(self, engine: Engine, temporal: TemporalGateway) -> None:
        self._engine = engine
        self._temporal = temporal

    async def describe(self, subject_id: int) -> ActionView | None:
        ticket = await asyncio.to_thread(self._read, subject_id)
        if ticket is None:
            return None
        return ActionView(title=f"#{ticket.id} {ticket.subject}".strip(), details={"status": ticket.status})

    def _read(self, ticket_id: int) -> Ticket | None:
        with read_scope(self._engine) as session:
            return session.get(Ticket, ticket_id)

    async def perform(self, subject_id: int, action: str) -> str:
        try:
            view = await service.act(self._engine, await self._temporal.client(), subject_id, "survey",
                                     SurveyAnswer(score=int(action), via="link"))
        except service.InvalidTransition as exc:
            raise SubjectRejected(exc.message) from exc
        return view.status.value
