"""The daily brief's one read: who the user is today (active, present, working) and what their
day holds, section by section."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from followthrough.calendar import zone
from followthrough.models.brief import BriefItem, BriefPlan, BriefSection, GatherBriefInput
from followthrough.store import leads, tasks, tickets, users
from followthrough.store.db import as_utc, read_scope
from followthrough.store.tables import Absence, Task, User


@dataclass(frozen=True)
class BriefDay:
    """The user's local day of the brief, in UTC, and the brief's moment."""

    start: datetime
    end: datetime
    now: datetime


#: Reads one section of a user's day. Later issues add theirs (``new_leads``,
#: ``tickets_waiting``) to ``SECTIONS``; the templates give each known name its heading.
SectionReader = Callable[[Session, int, BriefDay], list[BriefItem]]


def _task_items(lines: list[Task]) -> list[BriefItem]:
    return [BriefItem(id=t.id or 0, title=t.title, kind=str(t.kind), due_at=tasks.due_at(t), contact_id=t.contact_id)
            for t in lines]


def due_today(session: Session, user_id: int, day: BriefDay) -> list[BriefItem]:
    """Open tasks due from now to the end of the user's day, in time order."""
    return _task_items(tasks.open_due_between(session, user_id, day.now, day.end))


def overdue(session: Session, user_id: int, day: BriefDay) -> list[BriefItem]:
    """Open tasks whose due time has passed, the oldest first."""
    return _task_items(tasks.open_overdue(session, user_id, day.now))


def new_leads(session: Session, user_id: int, day: BriefDay) -> list[BriefItem]:
    """The user's leads waiting for their first touch, each with its SLA due time, the most
    pressing first."""
    return [BriefItem(id=lead.id or 0, title=f"{name} ({lead.source})", kind="lead",
                      due_at=as_utc(lead.sla_due_at), contact_id=lead.contact_id)
            for lead, name in leads.awaiting_first_touch(session, user_id)]


def tickets_waiting(session: Session, user_id: int, day: BriefDay) -> list[BriefItem]:
    """The user's tickets waiting on them (new or open), the first due first."""
    return [BriefItem(id=t.id or 0, title=f"#{t.id} {t.subject}".strip(), kind=t.priority,
                      due_at=tickets.next_due(t), contact_id=t.contact_id)
            for t in tickets.waiting_for(session, user_id)]


SECTIONS: list[tuple[str, SectionReader]] = [("due_today", due_today), ("overdue", overdue),
                                             ("new_leads", new_leads), ("tickets_waiting", tickets_waiting)]


def plan_brief(session: Session, user_id: int, at: datetime,
               sections: list[tuple[str, SectionReader]] | None = None) -> BriefPlan:
    user = session.get(User, user_id) if 1 <= user_id < 2**31 else None
    if user is None or user.id is None:
        return BriefPlan(reason="no_user")
    local = at.astimezone(zone(user.time_zone))
    if not user.active:
        return BriefPlan(reason="inactive", local_date=local.date())
    away = session.exec(select(Absence.id).where(Absence.user_id == user.id, col(Absence.starts_at) <= at,
                                                 col(Absence.ends_at) > at)).first()
    if away is not None:
        return BriefPlan(reason="absent", local_date=local.date())
    calendar = users.working_calendar(session, user)
    if calendar is not None and not calendar.periods_on(local.date()):
        return BriefPlan(reason="day_off", local_date=local.date())
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # Wall-clock arithmetic: the next local midnight, also on a 23- or 25-hour day (DST).
    end = (midnight + timedelta(days=1)).astimezone(UTC)
    day = BriefDay(start=midnight.astimezone(UTC), end=end, now=at.astimezone(UTC))
    found = [BriefSection(name=name, items=read(session, user.id, day))
             for name, read in (sections if sections is not None else SECTIONS)]
    plan = BriefPlan(name=user.name, local_date=local.date(), sections=[s for s in found if s.items])
    return plan if plan.sections else plan.model_copy(update={"reason": "nothing_to_say"})


class BriefActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="gather_brief")
    async def gather_brief(self, input: GatherBriefInput) -> BriefPlan:
        """What the user's brief says today, or why there is none."""
        return await asyncio.to_thread(self._plan, input)

    def _plan(self, input: GatherBriefInput) -> BriefPlan:
        with read_scope(self._engine) as session:
            return plan_brief(session, input.user_id, input.at)
