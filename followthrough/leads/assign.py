"""Lead assignment by the lead policy's strategy.

CONTRACT (filled in by the leads-core work; the lead workflow's activity and preview call it):

    assign(session, policy, *, contact_id, lead, now, exclude=()) -> AssignmentResult

Sticky owner first (the contact's owner, if active and not in ``exclude``); then the first
assignment rule whose ``when`` holds picks a team (else ``default_team``); inside the team
``followthrough.store.rotation.pick`` (weighted round robin, locked per team) among members
who are active, not absent, at work now (``working_time``), below ``capacity`` open leads and
not in ``exclude`` (the owner a lead is taken from). Nobody eligible: ``owner_id`` None and
``wait_until`` the first moment an eligible member's working time begins (the workflow sleeps
until then and asks again). ``preview=True`` decides without moving the rotation (nothing
written). ``explanation`` says rule, team and every candidate skipped and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from followthrough.leads.policy import LeadPolicyDefinition


@dataclass(frozen=True)
class AssignmentResult:
    owner_id: int | None
    team_id: int | None
    #: "sticky", an assignment rule's id, or "default"
    rule: str
    skipped: list[tuple[int, str]] = field(default_factory=list)
    wait_until: datetime | None = None

    def explanation(self) -> dict[str, Any]:
        return {"rule": self.rule, "team_id": self.team_id, "owner_id": self.owner_id,
                "skipped": [{"user_id": u, "reason": r} for u, r in self.skipped],
                "wait_until": self.wait_until.isoformat() if self.wait_until else None}


def assign(session: Session, policy: LeadPolicyDefinition, *, contact_id: int,
           lead: Mapping[str, Any], now: datetime, exclude: tuple[int, ...] = (),
           preview: bool = False) -> AssignmentResult:
    raise NotImplementedError
