"""Lead policy preview: score, stage, owner and planned first-touch SLA times; nothing written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, func, select

from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.leads.preview import preview
from followthrough.store import teams, users
from followthrough.store.db import session_scope
from followthrough.store.tables import Lead, TeamRotation

CONTACT: dict[str, Any] = {"id": None, "name": "Anna", "email": "anna@acme.example", "locale": "hu",
                           "time_zone": "Europe/Budapest", "attributes": {"company_size": 250}, "owner_id": None}
#: Thursday 2 April 2026, 16:30 in Budapest: Good Friday (3 April) and Easter Monday (6 April)
#: are Hungarian public holidays, with the weekend between.
EASTER_EVE = datetime(2026, 4, 2, 14, 30, tzinfo=UTC)


def policy(**overrides: Any) -> LeadPolicyDefinition:
    return LeadPolicyDefinition.model_validate({
        "name": "p", "kind": "lead_policy",
        "fit": [{"id": "big", "when": "contact.attributes.company_size >= 100", "points": 40}],
        "engagement": {"pricing.viewed": 20}, "decay": {"half_life": "P7D"},
        "thresholds": {"qualified": 50, "disqualified": 0},
        "disqualify": [{"id": "student", "when": "lead.attributes.get('role') == 'student'", "reason": "a student"}],
        "assignment": {"default_team": "sales"},
        "sla": {"within": "PT1H", "ladder": [{"at": {"share": 1.0}, "notify": ["manager"]},
                                             {"at": {"share": 2.0}, "action": "reassign"}]},
        **overrides})


def budapest_team(session: Session) -> tuple[int, int]:
    one, _ = users.create(session, name="Eszter", email=None, role="rep", time_zone="Europe/Budapest")
    two, _ = users.create(session, name="Bence", email=None, role="rep", time_zone="Europe/Budapest")
    team, _ = teams.put(session, "sales", members_in=[(one.id, 1), (two.id, 1)], manager_id=None,  # type: ignore[list-item]
                        calendar="budapest_office")
    return one.id, team.id  # type: ignore[return-value]


def counts(session: Session) -> tuple[int, int]:
    return (session.exec(select(func.count()).select_from(Lead)).one(),
            session.exec(select(func.count()).select_from(TeamRotation)).one())


class TestPreview:
    def test_qualified_owner_and_sla_across_easter_in_hungary(self, any_engine: Engine) -> None:
        lead = {"source": "web", "attributes": {}, "score": 0, "stage": "new",
                "engagement": [{"event": "pricing.viewed", "at": "2026-04-02T14:30:00Z"}]}
        with session_scope(any_engine) as session:
            first, team_id = budapest_team(session)
            answer = preview(session, policy(), contact=CONTACT, lead=lead, now=EASTER_EVE)
            assert counts(session) == (0, 0)
        assert (answer["stage"], answer["next"], answer["score"]["score"]) == ("qualified", "assign", 60.0)
        assert [c["rule"] for c in answer["score"]["changes"]] == ["fit:big", "engagement:pricing.viewed"]
        assert answer["owner_id"] == first
        assert answer["assignment"] | {"skipped": []} == {
            "rule": "default", "team_id": team_id, "team": "sales", "owner_id": first, "skipped": [],
            "wait_until": None, "problem": None}
        # 30 working minutes on Thursday, then Good Friday, the weekend and Easter Monday.
        assert answer["sla"] == {
            "starts_at": "2026-04-02T14:30:00+00:00", "within": "PT1H", "calendar": "budapest_office",
            "business": True, "due_at": "2026-04-07T07:30:00+00:00",
            "ladder": [{"tier": 0, "at": "2026-04-07T07:30:00+00:00", "threshold": {"share": 1.0},
                        "notify": ["manager"], "action": None},
                       {"tier": 1, "at": "2026-04-07T08:30:00+00:00", "threshold": {"share": 2.0},
                        "notify": [], "action": "reassign"}]}

    def test_at_19_it_waits_and_says_who_would_get_it_then(self, any_engine: Engine) -> None:
        evening = datetime(2026, 4, 1, 17, 0, tzinfo=UTC)  # Wednesday 19:00 in Budapest
        lead = {"source": "web", "attributes": {}, "score": 0, "stage": "new",
                "engagement": [("pricing.viewed", evening)]}
        with session_scope(any_engine) as session:
            first, _ = budapest_team(session)
            answer = preview(session, policy(), contact=CONTACT, lead=lead, now=evening)
            assert counts(session) == (0, 0)
        assert answer["assignment"]["wait_until"] == "2026-04-02T07:00:00+00:00"
        assert answer["assignment"]["then"]["owner_id"] == answer["owner_id"] == first
        assert (answer["sla"]["starts_at"], answer["sla"]["due_at"]) == (
            "2026-04-02T07:00:00+00:00", "2026-04-02T08:00:00+00:00")

    def test_the_sticky_owner_without_a_calendar_counts_elapsed_time(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            budapest_team(session)
            owner, _ = users.create(session, name="Owner", email=None, role="rep")
            answer = preview(session, policy(), contact={**CONTACT, "owner_id": owner.id},
                             lead={"source": "web", "attributes": {}, "engagement": [("pricing.viewed", EASTER_EVE)]},
                             now=EASTER_EVE)
        assert (answer["owner_id"], answer["assignment"]["rule"]) == (owner.id, "sticky")
        assert (answer["sla"]["business"], answer["sla"]["due_at"]) == (False, "2026-04-02T15:30:00+00:00")

    def test_nurturing_and_disqualified_leads_get_no_owner(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            budapest_team(session)
            nurtured = preview(session, policy(), contact=CONTACT, lead={"source": "web"}, now=EASTER_EVE)
            student = preview(session, policy(), contact=CONTACT, lead={"attributes": {"role": "student"}},
                              now=EASTER_EVE)
            assert counts(session) == (0, 0)
        assert (nurtured["stage"], nurtured["next"], nurtured["nurture"], nurtured["owner_id"]) == (
            "nurturing", "nurture", {"sequence": "lead_nurture"}, None)
        assert (student["stage"], student["score"]["disqualified_by"], student["assignment"]) == (
            "disqualified", "a student", None)

    def test_a_missing_team_or_calendar_is_a_problem_in_the_answer(self, any_engine: Engine) -> None:
        lead = {"engagement": [("pricing.viewed", EASTER_EVE)]}
        with session_scope(any_engine) as session:
            budapest_team(session)
            no_team = preview(session, policy(assignment={"default_team": "ghosts"}), contact=CONTACT, lead=lead,
                              now=EASTER_EVE)
            no_calendar = preview(session, policy(sla={"within": "PT1H", "calendar": "nowhere"}), contact=CONTACT,
                                  lead=lead, now=EASTER_EVE)
        assert no_team["problems"] == ["team 'ghosts' does not exist"]
        assert no_calendar["problems"] == ["the first-touch SLA cannot be planned: calendar 'nowhere' does not exist"]
        assert no_calendar["sla"] is None and no_calendar["owner_id"] is not None
