"""The built-in lead policy (definitions/default_leads.yaml): valid once its team exists, and
scoring what it says for typical contacts, with no rule erring on a contact that lacks the
attributes it reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from followthrough.bootstrap import load_definition_file
from followthrough.dsl.checks import References
from followthrough.dsl.validate import validate
from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.leads.scoring import evaluate
from followthrough.settings import PROJECT_ROOT

PATH = PROJECT_ROOT / "definitions" / "default_leads.yaml"
NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)
POLICY = load_definition_file(PATH)
BARE: dict[str, Any] = {"id": 1, "name": "Anna", "email": None, "phone": None, "locale": "en",
                        "time_zone": "UTC", "attributes": {}}


def score(contact: dict[str, Any] | None = None, source: str = "web",
          events: list[tuple[str, datetime]] | None = None) -> Any:
    assert isinstance(POLICY, LeadPolicyDefinition)
    return evaluate(POLICY, contact={**BARE, **(contact or {})},
                    lead={"source": source, "attributes": {}, "score": 0, "stage": "new"},
                    engagement=events or [], now=NOW)


class TestDefinition:
    def test_validates_with_its_team_and_nurture_sequence(self) -> None:
        document = yaml.safe_load(PATH.read_text(encoding="utf-8"))
        refs = References(teams={"sales": 3}, definitions={"lead_nurture": "sequence"}, users=set())
        parsed, errors, warnings = validate(document, lambda *_: True, references=refs)
        assert (errors, warnings) == ([], [])
        assert isinstance(parsed, LeadPolicyDefinition)
        assert (parsed.nurture.sequence, parsed.assignment.default_team) == ("lead_nurture", "sales")
        assert set(parsed.engagement) == {"reply", "form.submitted", "meeting.booked", "pricing.viewed"}

    def test_without_a_sales_team_it_says_so(self) -> None:
        document = yaml.safe_load(PATH.read_text(encoding="utf-8"))
        refs = References(teams={}, definitions={"lead_nurture": "sequence"}, users=set())
        assert [e.path for e in validate(document, lambda *_: True, references=refs)[1]] == ["/assignment/default_team"]


class TestScores:
    def test_a_bare_contact_errs_nowhere_and_is_nurtured(self) -> None:
        result = score()
        assert (result.score, result.stage, result.changes) == (0.0, "nurturing", [])

    def test_a_demo_request_from_a_mid_size_company_with_a_phone_qualifies(self) -> None:
        result = score({"phone": "+36301234567", "attributes": {"company_size": 80}}, source="demo_request")
        assert (result.score, result.stage) == (50.0, "qualified")
        assert [c.rule for c in result.changes] == ["fit:company_50", "fit:reachable_by_phone", "fit:demo_request"]

    def test_engagement_warms_a_lead_and_fades_in_two_weeks(self) -> None:
        decider = {"attributes": {"company_size": 600, "seniority": "vp"}}  # 40 points of fit
        warm = score(decider, events=[("pricing.viewed", NOW)])
        cold = score(decider, events=[("pricing.viewed", NOW - timedelta(days=14))])
        assert (warm.score, warm.stage) == (50.0, "qualified")
        assert (cold.score, cold.stage) == (45.0, "nurturing")

    @pytest.mark.parametrize(("attributes", "reason"), [({"competitor": True}, "works for a competitor"),
                                                        ({"do_not_contact": True}, "asked not to be contacted")])
    def test_hard_disqualifiers(self, attributes: dict[str, Any], reason: str) -> None:
        result = score({"attributes": {"company_size": 1000, **attributes}}, source="demo_request")
        assert (result.stage, result.disqualified_by) == ("disqualified", reason)

    def test_a_student_below_the_line_is_disqualified(self) -> None:
        result = score({"attributes": {"seniority": "student"}})
        assert (result.score, result.stage) == (-30.0, "disqualified")
