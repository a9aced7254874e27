"""Object-level visibility: which contacts (and so which runs, timelines, deliveries, holds and
preferences) a caller may see or change, as one value built from the caller and applied in the
store's queries.

A role's scope is a setting (``FT_REP_SCOPE``, ``FT_MANAGER_SCOPE``): ``owned`` (contacts whose
``owner_id`` is the caller), ``team`` (owned by the caller or by a member of a team the caller is a
member or the manager of; a manager also sees those who report to them) or ``all``. Admins see
all. A rep changes only what they own, whatever they may see; a manager changes what they see.
What is not visible is "not found": existence is not leaked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, or_, union
from sqlmodel import Session, col, select

from followthrough.errors import NotFound
from followthrough.models.vocab import Role, Scope
from followthrough.store.tables import Contact, Run, Team, TeamMember, User


@dataclass(frozen=True)
class Visibility:
    """The owners whose contacts are visible (None: every contact, owned or not)."""

    owners: frozenset[int] | None = None

    @property
    def everything(self) -> bool:
        return self.owners is None

    def allows_owner(self, owner_id: int | None) -> bool:
        return self.owners is None or (owner_id is not None and owner_id in self.owners)

    def contacts(self, query: Any) -> Any:
        """``query`` (on contacts) narrowed to the visible ones."""
        if self.owners is None:
            return query
        if not self.owners:
            return query.where(false())
        return query.where(col(Contact.owner_id).in_(sorted(self.owners)))

    def by_contact(self, query: Any, contact_column: Any, *, keep_none: bool = False) -> Any:
        """``query`` narrowed to rows whose ``contact_column`` names a visible contact (and,
        with ``keep_none``, rows of no contact at all)."""
        if self.owners is None:
            return query
        visible = contact_column.in_(self.contacts(select(Contact.id)))
        return query.where(or_(contact_column.is_(None), visible) if keep_none else visible)

    def contact(self, session: Session, contact_id: int) -> Contact:
        """The contact, or NotFound when it does not exist or is not visible (same answer)."""
        contact = session.get(Contact, contact_id)
        if contact is None or not self.allows_owner(contact.owner_id):
            raise NotFound(f"contact {contact_id} does not exist")
        return contact

    def run(self, session: Session, run_id: str) -> Run:
        """The run, or NotFound when it does not exist or its contact is not visible."""
        run = session.get(Run, run_id)
        if run is not None and not self.everything:
            contact = session.get(Contact, run.contact_id) if run.contact_id is not None else None
            if contact is None or not self.allows_owner(contact.owner_id):
                run = None
        if run is None:
            raise NotFound(f"run {run_id} does not exist")
        return run


EVERYTHING = Visibility()


@dataclass(frozen=True)
class Access:
    """What a caller may see (``read``) and change (``write``)."""

    read: Visibility = EVERYTHING
    write: Visibility = EVERYTHING
    role: Role = Role.ADMIN
    #: The caller's user id (None: the admin key).
    user_id: int | None = None


def team_of(session: Session, user_id: int) -> frozenset[int]:
    """The user, the members of every team they belong to or manage, and their direct reports
    (one query: it runs on every request of a rep or a manager)."""
    their_teams: Any = union(select(TeamMember.team_id).where(TeamMember.user_id == user_id),
                        select(Team.id).where(Team.manager_id == user_id))
    query: Any = union(select(TeamMember.user_id).where(col(TeamMember.team_id).in_(their_teams)),
                  select(User.id).where(User.manager_id == user_id))
    return frozenset({user_id, *(i for i in session.execute(query).scalars() if i is not None)})


def visibility(session: Session, user_id: int, scope: Scope) -> Visibility:
    if scope == Scope.ALL:
        return EVERYTHING
    if scope == Scope.OWNED:
        return Visibility(frozenset({user_id}))
    return Visibility(team_of(session, user_id))


def access_for(session: Session, role: Role, user_id: int | None, *, rep_scope: Scope,
               manager_scope: Scope) -> Access:
    """The caller's ``Access``: admins (and the admin key) everything; a manager their scope
    for reading and changing; a rep their scope for reading and what they own for changing."""
    if role == Role.ADMIN or user_id is None:
        return Access(role=Role.ADMIN, user_id=user_id)
    if role == Role.MANAGER:
        seen = visibility(session, user_id, manager_scope)
        return Access(read=seen, write=seen, role=role, user_id=user_id)
    return Access(read=visibility(session, user_id, rep_scope),
                  write=Visibility(frozenset({user_id})), role=role, user_id=user_id)


@dataclass(frozen=True)
class TicketScope:
    """The tickets a caller sees: those routed to ``teams`` or assigned to ``users`` (None:
    every ticket). Agents and managers see their teams' tickets (a team they belong to or
    manage) and those assigned to them; admins, and a scope of ``all``, every ticket."""

    teams: frozenset[int] | None = None
    users: frozenset[int] = frozenset()

    def allows(self, team_id: int | None, assignee_id: int | None) -> bool:
        return self.teams is None or team_id in self.teams or assignee_id in self.users

    def tickets(self, query: Any, team_column: Any, assignee_column: Any) -> Any:
        """``query`` (on tickets) narrowed to the visible ones."""
        if self.teams is None:
            return query
        return query.where(or_(team_column.in_(sorted(self.teams)), assignee_column.in_(sorted(self.users))))


def ticket_scope(session: Session, access: Access) -> TicketScope:
    if access.role == Role.ADMIN or access.user_id is None or access.read.everything:
        return TicketScope()
    user_id = access.user_id
    teams: Any = union(select(TeamMember.team_id).where(TeamMember.user_id == user_id),
                       select(Team.id).where(Team.manager_id == user_id))
    return TicketScope(teams=frozenset(i for i in session.execute(teams).scalars() if i is not None),
                       users=frozenset({user_id}))
