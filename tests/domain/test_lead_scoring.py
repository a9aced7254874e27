"""Lead scoring: fit rules, engagement with half-life decay, thresholds, hard disqualifiers, and
the explanation of every contribution."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.leads.scoring import ScoreChange, decay_factor, decayed, evaluate

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
CONTACT: dict[str, Any] = {"id": 7, "name": "Anna", "email": "anna@acme.example", "phone": None, "locale": "hu",
                           "time_zone": "Europe/Budapest", "attributes": {"company_size": 120, "country": "HU"}}
LEAD: dict[str, Any] = {"source": "webinar", "attributes": {"budget": 5000}, "score": 0, "stage": "new"}


def policy(**overrides: Any) -> LeadPolicyDefinition:
    document: dict[str, Any] = {
        "name": "p", "kind": "lead_policy",
        "fit": [{"id": "big", "when": "contact.attributes.company_size >= 100", "points": 20,
                 "description": "100+ employees"},
                {"id": "webinar", "when": "lead.source == 'webinar'", "points": 5},
                {"id": "tiny", "when": "contact.attributes.company_size < 10", "points": -15}],
        "engagement": {"reply": 10, "pricing.viewed": 15},
        "decay": {"half_life": "P7D"},
        "thresholds": {"qualified": 50, "disqualified": 0},
        "disqualify": [{"id": "competitor", "when": "contact.email.endswith('@rival.example')",
                        "reason": "works for a competitor"}],
        "assignment": {"default_team": "sales"},
    }
    document.update(overrides)
    return LeadPolicyDefinition.model_validate(document)


class TestFit:
    def test_sums_the_rules_that_hold_with_their_reasons(self) -> None:
        result = evaluate(policy(), contact=CONTACT, lead=LEAD, engagement=[], now=NOW)
        assert (result.fit, result.engagement, result.score, result.stage) == (25.0, 0.0, 25.0, "nurturing")
        assert result.changes == [ScoreChange("fit:big", 20, "100+ employees"),
                                  ScoreChange("fit:webinar", 5, "lead.source == 'webinar' holds")]

    def test_a_rule_that_errors_counts_zero_with_its_reason(self) -> None:
        broken = policy(fit=[{"id": "typo", "when": "contact.attributes.missing > 3", "points": 40},
                             {"id": "other_name", "when": "data.x", "points": 40}])
        result = evaluate(broken, contact=CONTACT, lead=LEAD, engagement=[], now=NOW)
        assert result.fit == 0.0
        assert [c.rule for c in result.changes] == ["fit:typo", "fit:other_name"]
        assert all(c.points == 0 and c.reason.startswith("counts 0: condition error") for c in result.changes)
        assert "'data' is undefined" in result.changes[1].reason

    def test_lead_attributes_and_score_are_readable(self) -> None:
        rules = policy(fit=[{"id": "budget", "when": "lead.attributes.budget > 1000 and lead.score == 0", "points": 60}])
        result = evaluate(rules, contact=CONTACT, lead=LEAD, engagement=[], now=NOW)
        assert (result.score, result.stage) == (60.0, "qualified")
        assert result.stage_reason == "score 60 >= qualified threshold 50"


class TestEngagement:
    def test_points_decay_by_half_life(self) -> None:
        events = [("reply", NOW - timedelta(days=7)), ("pricing.viewed", NOW), ("unknown.event", NOW)]
        result = evaluate(policy(fit=[]), contact=CONTACT, lead=LEAD, engagement=events, now=NOW)
        assert (result.engagement, result.score) == (20.0, 20.0)
        assert [(c.rule, c.points) for c in result.changes] == [("engagement:reply", 5.0),
                                                                  ("engagement:pricing.viewed", 15.0)]
        assert result.changes[0].reason == ("10 points at 2026-03-25T12:00:00+00:00, 5.00 after 168.0 h "
                                            "(half-life P7D)")

    def test_without_decay_points_stay(self) -> None:
        events = [("reply", NOW - timedelta(days=700))]
        result = evaluate(policy(fit=[], decay=None), contact=CONTACT, lead=LEAD, engagement=events, now=NOW)
        assert result.engagement == 10.0

    def test_engagement_lifts_a_lead_over_the_threshold(self) -> None:
        events = [("pricing.viewed", NOW - timedelta(hours=1)), ("reply", NOW)]
        result = evaluate(policy(), contact=CONTACT, lead=LEAD, engagement=events, now=NOW)
        assert (result.score, result.stage) == (49.94, "nurturing")  # 25 + 10 + 15 * 0.5 ** (1/168) = 14.94
        later = evaluate(policy(), contact=CONTACT, lead=LEAD, engagement=[*events, ("reply", NOW)], now=NOW)
        assert (later.score, later.stage) == (59.94, "qualified")

    def test_score_is_rounded_to_two_places(self) -> None:
        events = [("reply", NOW - timedelta(days=1))]
        result = evaluate(policy(fit=[]), contact=CONTACT, lead=LEAD, engagement=events, now=NOW)
        assert result.score == round(10 * 0.5 ** (1 / 7), 2) == 9.06


class TestStage:
    def test_hard_disqualifier_wins_over_any_score(self) -> None:
        rival = {**CONTACT, "email": "x@rival.example"}
        result = evaluate(policy(), contact=rival, lead=LEAD, engagement=[("reply", NOW)] * 10, now=NOW)
        assert (result.score, result.stage, result.disqualified_by) == (125.0, "disqualified", "works for a competitor")
        assert ScoreChange("disqualify:competitor", 0.0, "works for a competitor") in result.changes

    def test_at_or_below_the_disqualify_line(self) -> None:
        small = {**CONTACT, "attributes": {"company_size": 5}}
        result = evaluate(policy(), contact=small, lead={**LEAD, "source": "ad"}, engagement=[], now=NOW)
        assert (result.score, result.stage, result.disqualified_by) == (-15.0, "disqualified", None)
        assert result.stage_reason == "score -15 <= disqualify line 0"

    def test_a_disqualifier_that_errors_does_not_disqualify(self) -> None:
        rules = policy(disqualify=[{"id": "bad", "when": "contact.nope", "reason": "never"}])
        result = evaluate(rules, contact=CONTACT, lead=LEAD, engagement=[], now=NOW)
        assert result.stage == "nurturing"
        assert result.changes[-1].rule == "disqualify:bad" and result.changes[-1].reason.startswith("does not apply")

    @pytest.mark.parametrize(("score", "stage"), [(50, "qualified"), (49.99, "nurturing"), (0.01, "nurturing"),
                                                  (0, "disqualified")])
    def test_threshold_edges(self, score: float, stage: str) -> None:
        rules = policy(fit=[{"id": "flat", "when": "true", "points": score}], disqualify=[])
        assert evaluate(rules, contact=CONTACT, lead=LEAD, engagement=[], now=NOW).stage == stage

    def test_explanation_is_plain_data(self) -> None:
        explained = evaluate(policy(), contact=CONTACT, lead=LEAD, engagement=[], now=NOW).explanation()
        assert explained["changes"][0] == {"rule": "fit:big", "points": 20, "reason": "100+ employees"}
        assert (explained["score"], explained["stage"]) == (25.0, "nurturing")


HALF_LIVES = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=3650))
AGES = st.timedeltas(min_value=timedelta(days=-3650), max_value=timedelta(days=365_000))
POINTS = st.floats(min_value=-1000, max_value=1000, allow_nan=False)


class TestDecayProperties:
    @given(HALF_LIVES, AGES, AGES)
    def test_monotone_in_time(self, half_life: timedelta, a: timedelta, b: timedelta) -> None:
        early, late = sorted((a, b))
        assert decay_factor(late, half_life) <= decay_factor(early, half_life)

    @given(HALF_LIVES, POINTS)
    def test_halves_at_the_half_life(self, half_life: timedelta, points: float) -> None:
        assert decayed(points, half_life, half_life) == pytest.approx(points / 2, abs=1e-9)
        assert decayed(points, 2 * half_life, half_life) == pytest.approx(points / 4, abs=1e-9)

    @given(st.one_of(st.none(), st.just(timedelta(0)), HALF_LIVES), AGES,
           st.floats(allow_nan=True, allow_infinity=True))
    def test_never_nan_and_within_the_points(self, half_life: timedelta | None, age: timedelta, points: float) -> None:
        factor = decay_factor(age, half_life)
        value = decayed(points, age, half_life)
        assert 0.0 <= factor <= 1.0
        assert math.isfinite(value)
        assert abs(value) <= (abs(points) if math.isfinite(points) else 0.0)

    @given(st.lists(st.tuples(st.sampled_from(["reply", "pricing.viewed"]), AGES), max_size=30),
           st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)))
    def test_score_only_falls_as_time_passes(self, events: list[tuple[str, timedelta]], wait: timedelta) -> None:
        happened = [(name, NOW - age) for name, age in events]
        now = evaluate(policy(), contact=CONTACT, lead=LEAD, engagement=happened, now=NOW)
        later = evaluate(policy(), contact=CONTACT, lead=LEAD, engagement=happened, now=NOW + wait)
        assert not math.isnan(now.score) and later.engagement <= now.engagement
