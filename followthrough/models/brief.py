"""The daily brief: its workflow's input, and what the gathering activity answers (one
versionable type each). Workflow-safe: plain data."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class BriefInput(BaseModel):
    """What the user's Schedule (``brief-<user_id>``) starts the brief with: an id only."""

    user_id: int


class GatherBriefInput(BaseModel):
    user_id: int
    #: The workflow's clock when it asked (the Schedule's firing time).
    at: datetime


class BriefItem(BaseModel):
    """One line of a section: a task (later a lead, a ticket)."""

    id: int
    title: str
    kind: str = ""
    due_at: datetime | None = None
    contact_id: int | None = None


class BriefSection(BaseModel):
    """A section of the brief (``due_today``, ``overdue``; later ``new_leads``,
    ``tickets_waiting``): its name picks its heading in the template."""

    name: str
    items: list[BriefItem] = Field(default_factory=list)


class BriefPlan(BaseModel):
    """What to send, or why nothing goes (``reason``: ``no_user``, ``inactive``, ``absent``,
    ``day_off``, ``nothing_to_say``)."""

    reason: str | None = None
    #: How the brief greets the user (their name as stored).
    name: str = ""
    #: The user's local date of the brief; with the user, the ledger's run id (one a day).
    local_date: date | None = None
    sections: list[BriefSection] = Field(default_factory=list)

    @property
    def send(self) -> bool:
        return self.reason is None and any(s.items for s in self.sections)


class BriefResult(BaseModel):
    sent: bool
    reason: str | None = None
    state: str | None = None  # the ledger's final state of the message


def brief_run_id(user_id: int, local_date: date) -> str:
    """The ledger's run id of one user's brief of one day: at most one brief a day, however
    often the Schedule fires (a manual trigger, a catch-up after downtime)."""
    return f"brief-{user_id}-{local_date:%Y%m%d}"
