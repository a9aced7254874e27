"""Lead assignment: sticky owner, rules, weighted round robin inside the team with eligibility
(inactive, absent, off work, at capacity, excluded), waiting for the next rep, previews, and 100
assignments at once on both databases."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from followthrough.leads.assign import AssignmentResult, assign
from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.store import contacts, teams, users
from followthrough.store.db import session_scope
from followthrough.store.tables import Lead, TeamRotation

#: Wednesday 1 April 2026, 17:00 UTC: 19:00 in Budapest, 18:00 in London, 13:00 in New York.
EVENING = datetime(2026, 4, 1, 17, 0, tzinfo=UTC)
NOON = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
LEAD: dict[str, Any] = {"source": "web", "attributes": {"language": "en"}, "score": 70, "stage": "qualified"}


def policy(**assignment: Any) -> LeadPolicyDefinition:
    return LeadPolicyDefinition.model_validate({
        "name": "p", "kind": "lead_policy", "thresholds": {"qualified": 50},
        "assignment": {"default_team": "sales", **assignment}})


def rep(session: Session, name: str, **profile: Any) -> int:
    user, _ = users.create(session, name=name, email=f"{name.lower()}@example.test", role="rep", **profile)
    assert user.id is not None
    return user.id


def team(session: Session, name: str, members: list[tuple[int, int]]) -> int:
    row, _ = teams.put(session, name, members_in=members, manager_id=None, calendar=None)
    assert row.id is not None
    return row.id


def contact(session: Session, **fields: Any) -> int:
    row = contacts.create(session, {"name": "Lead", "attributes": {}, **fields})
    assert row.id is not None
    return row.id


def open_lead(session: Session, contact_id: int, owner_id: int | None, stage: str = "assigned") -> Lead:
    row = Lead(contact_id=contact_id, stage=stage, owner_id=owner_id, policy_name="p", policy_version=1,
               workflow_id=f"lead-x-{contact_id}-{owner_id}-{stage}")
    session.add(row)
    session.flush()
    return row


def assign_and_record(session: Session, rules: LeadPolicyDefinition, contact_id: int, now: datetime,
                      **kwargs: Any) -> AssignmentResult:
    """What the lead workflow's activity does: assign and record the owner in one transaction."""
    result = assign(session, rules, contact_id=contact_id, lead=LEAD, now=now, **kwargs)
    if result.owner_id is not None:
        open_lead(session, contact_id, result.owner_id).team_id = result.team_id
    return result


class TestStickyAndRules:
    def test_the_contacts_active_owner_keeps_the_lead(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            a, owner = rep(session, "A"), rep(session, "Owner")
            sales = team(session, "sales", [(a, 1), (owner, 1)])
            cid = contact(session, owner_id=owner)
            result = assign(session, policy(), contact_id=cid, lead=LEAD, now=NOON)
        assert (result.owner_id, result.team_id, result.rule) == (owner, sales, "sticky")

    def test_a_sticky_owner_outside_the_routed_team_takes_it_for_their_own(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            a, owner = rep(session, "A"), rep(session, "Owner")
            team(session, "sales", [(a, 1)])
            theirs = team(session, "partners", [(owner, 1)])
            result = assign(session, policy(), contact_id=contact(session, owner_id=owner), lead=LEAD, now=NOON)
            loner = rep(session, "Loner")
            alone = assign(session, policy(), contact_id=contact(session, owner_id=loner), lead=LEAD, now=NOON)
        assert (result.owner_id, result.team_id, result.team, result.rule) == (owner, theirs, "partners", "sticky")
        assert (alone.owner_id, alone.team_id, alone.team) == (loner, None, None)

    @pytest.mark.parametrize("why", ["inactive", "excluded", "not_sticky"])
    def test_falls_through_to_the_team(self, any_engine: Engine, why: str) -> None:
        with session_scope(any_engine) as session:
            a, owner = rep(session, "A"), rep(session, "Owner", active=why != "inactive")
            team(session, "sales", [(a, 1)])
            cid = contact(session, owner_id=owner)
            result = assign(session, policy(sticky=why != "not_sticky"), contact_id=cid, lead=LEAD, now=NOON,
                            exclude=(owner,) if why == "excluded" else ())
        assert (result.owner_id, result.rule) == (a, "default")

    def test_an_absent_sticky_owner_never_gets_the_lead(self, any_engine: Engine) -> None:
        """"Never to a rep on leave": the owner's relationship does not outweigh their absence."""
        with session_scope(any_engine) as session:
            a, owner = rep(session, "A"), rep(session, "Owner")
            team(session, "sales", [(a, 1)])
            users.add_absence(session, owner, NOON - timedelta(hours=1), NOON + timedelta(days=3), "leave")
            result = assign(session, policy(), contact_id=contact(session, owner_id=owner), lead=LEAD, now=NOON)
            back = assign(session, policy(), contact_id=contact(session, owner_id=owner), lead=LEAD,
                          now=NOON + timedelta(days=3))
        assert (result.owner_id, result.rule) == (a, "default")
        assert result.skipped[0][0] == owner and result.skipped[0][1].startswith("sticky owner absent until")
        assert (back.owner_id, back.rule) == (owner, "sticky")

    def test_first_matching_rule_picks_the_team(self, any_engine: Engine) -> None:
        rules = policy(rules=[
            {"id": "broken", "when": "contact.attributes.nope == 1", "team": "nowhere"},
            {"id": "hungarian", "when": "contact.locale == 'hu'", "team": "hu"},
            {"id": "english", "when": "lead.attributes.language == 'en'", "team": "en"}])
        with session_scope(any_engine) as session:
            h, e, s = rep(session, "H"), rep(session, "E"), rep(session, "S")
            hu, en, sales = team(session, "hu", [(h, 1)]), team(session, "en", [(e, 1)]), team(session, "sales", [(s, 1)])
            magyar, english = contact(session, locale="hu"), contact(session, locale="en")
            first = assign(session, rules, contact_id=magyar, lead=LEAD, now=NOON)
            second = assign(session, rules, contact_id=english, lead=LEAD, now=NOON)
            third = assign(session, rules, contact_id=english, lead={**LEAD, "attributes": {}}, now=NOON)
        assert [(r.rule, r.team_id, r.owner_id) for r in (first, second, third)] == [
            ("hungarian", hu, h), ("english", en, e), ("default", sales, s)]

    def test_a_team_that_does_not_exist_is_a_problem_not_a_crash(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            cid = contact(session)
            result = assign(session, policy(default_team="ghosts"), contact_id=cid, lead=LEAD, now=NOON)
        assert (result.owner_id, result.team_id, result.problem) == (None, None, "team 'ghosts' does not exist")


class TestRoundRobin:
    def test_spread_exactly_by_weight_and_interleaved(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            a, b, c = rep(session, "A"), rep(session, "B"), rep(session, "C")
            team(session, "sales", [(a, 1), (b, 2), (c, 2)])
            cid = contact(session)
            owners = [assign_and_record(session, policy(), cid, NOON).owner_id for _ in range(10)]
        assert Counter(owners) == {a: 2, b: 4, c: 4}
        assert owners[:5] == [b, c, a, b, c]

    def test_capacity_counts_assigned_and_contacted_leads_only(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            a, b = rep(session, "A"), rep(session, "B")
            team(session, "sales", [(a, 1), (b, 1)])
            cid = contact(session)
            open_lead(session, cid, a, "assigned")
            open_lead(session, cid, a, "contacted")
            for stage in ("converted", "closed", "disqualified"):
                open_lead(session, cid, b, stage)
            result = assign_and_record(session, policy(capacity=2), cid, NOON)
            second = assign_and_record(session, policy(capacity=2), cid, NOON)
            full = assign_and_record(session, policy(capacity=2), cid, NOON)
        assert (result.owner_id, result.skipped) == (b, [(a, "at capacity (2 of 2 open leads)")])
        assert second.owner_id == b
        # Everyone at capacity: no owner, and no time at which waiting alone would help.
        assert (full.owner_id, full.wait_until) == (None, None)
        assert full.skipped == [(a, "at capacity (2 of 2 open leads)"), (b, "at capacity (2 of 2 open leads)")]

    def test_absent_and_inactive_reps_are_skipped_with_why(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            away, gone, here = rep(session, "Away"), rep(session, "Gone", active=False), rep(session, "Here")
            users.add_absence(session, away, NOON - timedelta(days=1), NOON + timedelta(days=2), "leave")
            team(session, "sales", [(away, 1), (gone, 1), (here, 1)])
            cid = contact(session)
            results = [assign_and_record(session, policy(), cid, NOON) for _ in range(3)]
        assert [r.owner_id for r in results] == [here] * 3
        assert results[0].skipped == [(away, "absent until 2026-04-03T10:00:00+00:00"), (gone, "inactive")]

    def test_a_rep_back_from_leave_is_not_flooded(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            a, b = rep(session, "A"), rep(session, "B")
            users.add_absence(session, a, NOON, NOON + timedelta(days=1), "leave")
            team(session, "sales", [(a, 1), (b, 1)])
            cid = contact(session)
            during = [assign_and_record(session, policy(), cid, NOON + timedelta(hours=h)).owner_id for h in range(10)]
            back = NOON + timedelta(days=1)
            after = [assign_and_record(session, policy(), cid, back + timedelta(minutes=m)).owner_id for m in range(10)]
        assert during == [b] * 10
        # Alternating again at once: A does not take ten in a row to "catch up".
        assert Counter(after) == {a: 5, b: 5}
        assert all(after[i] != after[i + 1] for i in range(9))

    def test_excluded_owner_is_passed_over(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            a, b = rep(session, "A"), rep(session, "B")
            team(session, "sales", [(a, 1), (b, 1)])
            cid = contact(session)
            results = [assign_and_record(session, policy(), cid, NOON, exclude=(a,)) for _ in range(2)]
        assert [r.owner_id for r in results] == [b, b]
        assert results[0].skipped == [(a, "excluded")]


class TestWorkingTime:
    def test_a_lead_at_19_goes_to_someone_whose_day_has_not_ended(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            bp = rep(session, "Budapest", time_zone="Europe/Budapest", calendar="default")
            ny = rep(session, "NewYork", time_zone="America/New_York", calendar="default")
            team(session, "sales", [(bp, 5), (ny, 1)])
            result = assign(session, policy(), contact_id=contact(session), lead=LEAD, now=EVENING)
        assert result.owner_id == ny
        assert result.skipped == [(bp, "outside working time until 2026-04-02T07:00:00+00:00")]

    def test_else_it_waits_for_the_next_mornings_first_rep(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            bp = rep(session, "Budapest", time_zone="Europe/Budapest", calendar="default")
            ldn = rep(session, "London", time_zone="Europe/London", calendar="default")
            leave = rep(session, "OnLeave", time_zone="Europe/Moscow", calendar="default")
            users.add_absence(session, leave, NOON, NOON + timedelta(days=7), "holiday")
            sales = team(session, "sales", [(bp, 1), (ldn, 1), (leave, 1)])
            result = assign(session, policy(), contact_id=contact(session), lead=LEAD, now=EVENING)
            # Moscow's 09:00 (06:00 UTC) would be first, but that rep is on leave: Budapest's 09:00.
            assert (result.owner_id, result.team_id) == (None, sales)
            assert result.wait_until == datetime(2026, 4, 2, 7, 0, tzinfo=UTC)
            assert result.explanation()["skipped"][2] == {
                "user_id": leave, "reason": "absent until 2026-04-08T10:00:00+00:00"}
            # Nothing moved: the rotation has no credits yet.
            state = session.exec(select(TeamRotation).where(TeamRotation.team_id == sales)).first()
            assert state is None or state.state == {}
            morning = assign(session, policy(), contact_id=contact(session), lead=LEAD, now=result.wait_until)
        assert morning.owner_id == bp

    def test_working_time_off_counts_absences_only(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            bp = rep(session, "Budapest", time_zone="Europe/Budapest", calendar="default")
            team(session, "sales", [(bp, 1)])
            result = assign(session, policy(working_time=False), contact_id=contact(session), lead=LEAD, now=EVENING)
        assert result.owner_id == bp


class TestPreview:
    def test_preview_writes_nothing_and_agrees_with_the_real_pick(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            a, b = rep(session, "A"), rep(session, "B")
            sales = team(session, "sales", [(a, 1), (b, 3)])
            cid = contact(session)
            assign_and_record(session, policy(), cid, NOON)
        with session_scope(any_engine) as session:
            before = session.get(TeamRotation, sales)
            credits = dict(before.state) if before else None
            previews = [assign(session, policy(), contact_id=cid, lead=LEAD, now=NOON, preview=True) for _ in range(3)]
            after = session.get(TeamRotation, sales)
            assert after is not None and after.state == credits
            assert not session.dirty and not session.new
            real = assign(session, policy(), contact_id=cid, lead=LEAD, now=NOON)
        assert {p.owner_id for p in previews} == {real.owner_id}

    def test_preview_of_a_team_never_picked(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            a, b = rep(session, "A"), rep(session, "B")
            sales = team(session, "sales", [(a, 1), (b, 1)])
            result = assign(session, policy(), contact_id=contact(session), lead=LEAD, now=NOON, preview=True)
            assert session.get(TeamRotation, sales) is None
        assert result.owner_id == a


class TestConcurrency:
    def _at_once(self, engine: Engine, count: int, rules: LeadPolicyDefinition, cid: int) -> list[int | None]:
        barrier = threading.Barrier(count)

        def one(_: int) -> int | None:
            barrier.wait()
            with session_scope(engine) as session:  # its own session and transaction
                return assign_and_record(session, rules, cid, NOON).owner_id

        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(one, range(count)))

    def test_100_at_once_are_spread_exactly_by_weight(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            a, b, c = rep(session, "A"), rep(session, "B"), rep(session, "C")
            team(session, "sales", [(a, 1), (b, 2), (c, 2)])
            cid = contact(session)
        owners = self._at_once(any_engine, 100, policy(), cid)
        assert Counter(owners) == {a: 20, b: 40, c: 40}
        with session_scope(any_engine) as session:
            rows = session.exec(select(Lead)).all()
        # One owner per lead: every assignment recorded exactly one lead with its owner.
        assert Counter(r.owner_id for r in rows) == {a: 20, b: 40, c: 40}

    def test_capacity_holds_under_concurrency(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            a, b = rep(session, "A"), rep(session, "B")
            team(session, "sales", [(a, 1), (b, 1)])
            cid = contact(session)
        owners = self._at_once(any_engine, 30, policy(capacity=10), cid)
        assert Counter(owners) == {a: 10, b: 10, None: 10}

    def test_capacity_holds_for_a_rep_in_two_teams_under_concurrency(self, any_engine: Engine) -> None:
        """The rotation lock is per team: leads routed to two teams at once both saw the shared
        rep below capacity and both gave her one (over capacity on PostgreSQL)."""
        with session_scope(any_engine) as session:
            a = rep(session, "A")
            team(session, "sales", [(a, 1)])
            team(session, "partners", [(a, 1)])
            east, west = contact(session, locale="hu"), contact(session, locale="en")
        rules = policy(capacity=1, rules=[{"id": "hu", "when": "contact.locale == 'hu'", "team": "partners"}])
        count = 20
        barrier = threading.Barrier(count)

        def one(n: int) -> int | None:
            barrier.wait()
            with session_scope(any_engine) as session:
                return assign_and_record(session, rules, east if n % 2 else west, NOON).owner_id

        with ThreadPoolExecutor(max_workers=count) as pool:
            owners = list(pool.map(one, range(count)))
        assert Counter(owners) == {a: 1, None: count - 1}
