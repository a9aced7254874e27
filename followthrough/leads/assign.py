"""Lead assignment by the lead policy's strategy.

CONTRACT (the lead workflow's activity and preview call it):

    assign(session, policy, *, contact_id, lead, now, exclude=()) -> AssignmentResult

Sticky owner first (the contact's owner, if active, not absent now and not in ``exclude``); then the first
assignment rule whose ``when`` holds picks a team (else ``default_team``); inside the team
``followthrough.store.rotation.pick`` (weighted round robin, locked per team) among members
who are active, not absent, at work now (``working_time``), below ``capacity`` open leads and
not in ``exclude`` (the owner a lead is taken from). Nobody eligible: ``owner_id`` None and
``wait_until`` the first moment an eligible member's working time begins (the workflow sleeps
until then and asks again). ``preview=True`` decides without moving the rotation (nothing
written). ``explanation`` says rule, team and every candidate skipped and why.

Call it inside the transaction that records the owner on the lead: the team's rotation row
stays locked until that transaction ends, and the open-lead counts are read after the lock,
so concurrent assignments neither share a credit nor overfill a rep.

``wait_until`` is None with nobody eligible when waiting cannot help by itself: every member is
inactive, excluded or at capacity (ask again when a lead of theirs moves on), the team has no
members, or ``problem`` says the team does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from followthrough.dsl.expressions import holds
from followthrough.dsl.schema import MAX_USER_ID
from followthrough.errors import NotFound
from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.leads.scoring import names
from followthrough.policy.people_policy import UserRecipient, next_available
from followthrough.store import contacts, rotation, teams, users
from followthrough.store.tables import Contact, Lead, Team, TeamMember, User

#: The stages in which a lead counts toward its owner's capacity.
OPEN_STAGES: tuple[str, ...] = ("assigned", "contacted")


@dataclass(frozen=True)
class AssignmentResult:
    owner_id: int | None
    team_id: int | None
    #: "sticky", an assignment rule's id, or "default"
    rule: str
    skipped: list[tuple[int, str]] = field(default_factory=list)
    wait_until: datetime | None = None
    #: The team's name (None when no team was reached).
    team: str | None = None
    #: Why no owner could be chosen at all (a team that does not exist), else None.
    problem: str | None = None

    def explanation(self) -> dict[str, Any]:
        return {"rule": self.rule, "team_id": self.team_id, "team": self.team, "owner_id": self.owner_id,
                "skipped": [{"user_id": u, "reason": r} for u, r in self.skipped],
                "wait_until": self.wait_until.isoformat() if self.wait_until else None,
                "problem": self.problem}


def assign(session: Session, policy: LeadPolicyDefinition, *, contact_id: int,
           lead: Mapping[str, Any], now: datetime, exclude: tuple[int, ...] = (),
           preview: bool = False) -> AssignmentResult:
    """The owner the policy gives the lead now (see the module)."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist")
    return assign_contact(session, policy, contact=contacts.snapshot(contact).model_dump(mode="json"),
                          lead=lead, now=now, exclude=exclude, preview=preview)


def assign_contact(session: Session, policy: LeadPolicyDefinition, *, contact: Mapping[str, Any],
                   lead: Mapping[str, Any], now: datetime, exclude: tuple[int, ...] = (),
                   preview: bool = False) -> AssignmentResult:
    """``assign`` for a contact given as expressions see it (its ``owner_id`` is the sticky
    owner): a stored contact's snapshot, or a preview's sample contact."""
    now = now.astimezone(UTC)
    strategy = policy.assignment
    rule, team_name = _route(policy, contact, lead)
    team = session.exec(select(Team).where(Team.name == team_name)).first()
    owner_id = contact.get("owner_id")
    sticky_skip: list[tuple[int, str]] = []
    if strategy.sticky and isinstance(owner_id, int) and owner_id not in exclude:
        owner = session.get(User, owner_id) if 1 <= owner_id <= MAX_USER_ID else None
        if owner is not None and owner.id is not None and owner.active:
            person = users.recipients(session, [owner.id], now).get(owner.id)
            away = [a for a in (person.absences if person else ()) if a.starts_at <= now < a.ends_at]
            if not away:  # never to a rep on leave: an absent owner's lead goes to the team
                held = _team_of(session, owner.id, team)
                return AssignmentResult(owner.id, held.id if held else None, "sticky",
                                        team=held.name if held else None)
            sticky_skip = [(owner.id, f"sticky owner absent until {away[0].ends_at.isoformat()}")]
    if team is None or team.id is None:
        return AssignmentResult(None, None, rule, team=team_name,
                                problem=f"team '{team_name}' does not exist")
    # Who is active and at work is read before the team's rotation is locked (it does not
    # depend on other assignments): the lock is held for the open-lead counts and the pick only.
    members = [m.user_id for m in teams.members(session, team.id) if m.weight > 0 and m.user_id not in exclude]
    check = _Eligibility(session, policy, team.id, now, exclude, users.recipients(session, members, now))
    choose = rotation.peek if preview else rotation.pick
    chosen = choose(session, team.id, check)
    skipped = sticky_skip + list(chosen.skipped)
    if chosen.user_id is not None:
        return AssignmentResult(chosen.user_id, team.id, rule, skipped, team=team.name)
    return AssignmentResult(None, team.id, rule, skipped, wait_until=check.earliest, team=team.name)


def _route(policy: LeadPolicyDefinition, contact: Mapping[str, Any],
           lead: Mapping[str, Any]) -> tuple[str, str]:
    """The first assignment rule that holds, and its team; else ``default`` and the default
    team (a rule that errors does not hold)."""
    scope = names(contact, lead)
    for rule in policy.assignment.rules:
        held, _ = holds(rule.when, scope)
        if held:
            return rule.id, rule.team
    return "default", policy.assignment.default_team


def _team_of(session: Session, user_id: int, routed: Team | None) -> Team | None:
    """The team a sticky owner takes the lead for: the routed one when they are in it, else
    their first team (reports count the lead there), else none."""
    if routed is not None and routed.id is not None and session.get(TeamMember, (routed.id, user_id)) is not None:
        return routed
    theirs = users.teams_of(session, user_id)
    return theirs[0] if theirs else None


def open_leads(session: Session, user_ids: list[int]) -> dict[int, int]:
    """Open leads (``OPEN_STAGES``) per owner, for ``user_ids``: one grouped query."""
    if not user_ids:
        return {}
    query = (select(Lead.owner_id, func.count()).where(col(Lead.owner_id).in_(user_ids),
                                                       col(Lead.stage).in_(OPEN_STAGES))
             .group_by(col(Lead.owner_id)))
    return {int(owner): int(count) for owner, count in session.exec(query) if owner is not None}  # type: ignore[call-overload]


def _lock_users(session: Session, user_ids: list[int]) -> None:
    """Lock the members' user rows (PostgreSQL; in id order, so never a deadlock) until the
    transaction ends: the rotation lock is per team, and a rep in two teams would otherwise be
    counted below capacity by two assignments at once. SQLite's BEGIN IMMEDIATE already
    serialises them."""
    if user_ids and session.get_bind().dialect.name == "postgresql":
        session.exec(select(User.id).where(col(User.id).in_(sorted(set(user_ids))))  # type: ignore[call-overload]
                     .order_by(col(User.id)).with_for_update())


class _Eligibility:
    """Why a member may not take the lead now (None: they may), remembering when each member
    who is only away (absent, off work) is next available."""

    def __init__(self, session: Session, policy: LeadPolicyDefinition, team_id: int, now: datetime,
                 exclude: tuple[int, ...], people: dict[int, UserRecipient]) -> None:
        self.session, self.policy, self.team_id, self.now, self.exclude = session, policy, team_id, now, exclude
        self.people = people
        self._counts: dict[int, int] | None = None
        self.earliest: datetime | None = None

    def _open(self, user_id: int) -> int:
        if self._counts is None:  # read once, after ``pick`` locked the team's rotation
            members = [m.user_id for m in teams.members(self.session, self.team_id)]
            _lock_users(self.session, members)
            self._counts = open_leads(self.session, members)
        return self._counts.get(user_id, 0)

    def __call__(self, user_id: int) -> str | None:
        if user_id in self.exclude:
            return "excluded"
        if user_id not in self.people:  # joined the team since the people were read
            self.people.update(users.recipients(self.session, [user_id], self.now))
        person = self.people.get(user_id)
        if person is None:
            return "no such user"
        if not person.active:
            return "inactive"
        capacity = self.policy.assignment.capacity
        if capacity is not None and (held := self._open(user_id)) >= capacity:
            return f"at capacity ({held} of {capacity} open leads)"
        back = next_available(person, self.now, working_time=self.policy.assignment.working_time)
        if back <= self.now:
            return None
        if self.earliest is None or back < self.earliest:
            self.earliest = back
        if any(a.starts_at <= self.now < a.ends_at for a in person.absences):
            return f"absent until {back.isoformat()}"
        return f"outside working time until {back.isoformat()}"
