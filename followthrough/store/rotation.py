"""Weighted round robin inside a team, locked per team: the one place leads and tickets pick an
owner among a team's members.

Smooth weighted round robin (as nginx balances upstreams): at each pick every *eligible* member
gains its weight in credit, the member with the most credit wins and pays back the eligible
total. Over any run of picks with the same eligible members the shares are exact (weights 1, 2, 2
give 20, 40, 40 of 100), and the order is interleaved (no rep gets five in a row). A member who
is skipped (inactive, absent, off work, at capacity) gains nothing while skipped, so a rep back
from leave is not flooded to "catch up".

The team's ``team_rotations`` row is read ``FOR UPDATE`` (PostgreSQL) inside the caller's
transaction; on SQLite every write transaction is ``BEGIN IMMEDIATE`` and so already alone. So
concurrent picks for one team are serialised and no two take the same credit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, select

from followthrough.store import teams
from followthrough.store.tables import TeamMember, TeamRotation, utcnow

#: Why a member was passed over, or None when they may take the work.
Eligibility = Callable[[int], str | None]


@dataclass(frozen=True)
class Pick:
    """The member chosen (None: nobody eligible) and every member passed over, with why."""

    user_id: int | None
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _locked_row(session: Session, team_id: int) -> TeamRotation:
    # Imported here: a worker on SQLite does not load the PostgreSQL dialect at start.
    statement: Any
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        statement = postgresql_insert(TeamRotation)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(TeamRotation)
    statement = statement.values(team_id=team_id, state={}, updated_at=utcnow())
    session.exec(statement.on_conflict_do_nothing(index_elements=["team_id"]))  # type: ignore[call-overload]
    query = select(TeamRotation).where(TeamRotation.team_id == team_id).with_for_update()
    row = session.exec(query.execution_options(populate_existing=True)).one()
    return row


def _choose(members: list[TeamMember], state: dict[str, Any] | None,
            eligible: Eligibility) -> tuple[Pick, dict[str, int]]:
    """The pick and the credits after it, from the credits before it (decides, writes nothing)."""
    credit = {str(k): int(v) for k, v in (state or {}).items()}
    candidates: list[tuple[int, int]] = []
    skipped: list[tuple[int, str]] = []
    for member in members:
        if member.weight <= 0:
            skipped.append((member.user_id, "weight 0"))
            continue
        reason = eligible(member.user_id)
        if reason is None:
            candidates.append((member.user_id, member.weight))
        else:
            skipped.append((member.user_id, reason))
    # Former members' credit goes with them.
    credit = {k: v for k, v in credit.items() if int(k) in {m.user_id for m in members}}
    if not candidates:
        return Pick(None, skipped), credit
    total = sum(weight for _, weight in candidates)
    for user_id, weight in candidates:
        credit[str(user_id)] = credit.get(str(user_id), 0) + weight
    chosen = max(candidates, key=lambda c: (credit[str(c[0])], -c[0]))[0]
    credit[str(chosen)] -= total
    return Pick(chosen, skipped), credit


def pick(session: Session, team_id: int, eligible: Eligibility) -> Pick:
    """Choose the next member of ``team_id`` by weight among those ``eligible`` says may take
    it, and record the new credits. Call inside the transaction that records the assignment.
    ``eligible`` is asked after the team's row is locked, so what it reads (open leads) is
    what the previous pick committed."""
    row = _locked_row(session, team_id)
    chosen, credit = _choose(teams.members(session, team_id), row.state, eligible)
    if chosen.user_id is None:
        return chosen
    row.state, row.updated_at = credit, utcnow()
    session.add(row)
    session.flush()
    return chosen


def peek(session: Session, team_id: int, eligible: Eligibility) -> Pick:
    """The member ``pick`` would choose now, without locking or writing anything (previews)."""
    row = session.get(TeamRotation, team_id)
    return _choose(teams.members(session, team_id), row.state if row is not None else None, eligible)[0]
