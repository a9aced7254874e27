"""Expressions: sandboxed Jinja2, a documented set of names, errors never crash a run."""

from __future__ import annotations

import pytest

from followthrough.dsl.expressions import (
    NAMES,
    ExpressionError,
    evaluate,
    holds,
    scope,
    validate_expression,
)

NAMES_SCOPE = scope(
    {"id": 7, "locale": "hu", "attributes": {"lead_score": 60, "plan": "pro"}},
    {"order_id": "A1"}, {"reply": {"received": True, "data": {"text": "yes"}}}, {"mail": 2},
)


class TestValidate:
    @pytest.mark.parametrize("text", [
        "lead.score >= 50 and contact.locale == 'hu'", "events.reply.received", "run.visits.mail < 3",
        "data.order_id is defined", "events['ticket.resolved'].received", "contact.attributes.plan in ['pro', 'team']",
    ])
    def test_valid(self, text: str) -> None:
        assert validate_expression(text) == []

    @pytest.mark.parametrize(("text", "fragment"), [
        ("lead.score >=", "does not parse"), ("1 }}{{ contact", "does not parse"),
        ("score > 1", "unknown name 'score'"), ("contact.__class__", "not allowed"),
        ("data.x.__globals__", "not allowed"),
    ])
    def test_invalid(self, text: str, fragment: str) -> None:
        problems = validate_expression(text)
        assert len(problems) == 1 and fragment in problems[0]

    def test_names_are_documented(self) -> None:
        assert NAMES == ("contact", "data", "lead", "events", "run")


class TestEvaluate:
    @pytest.mark.parametrize(("text", "expected"), [
        ("lead.score >= 50 and contact.locale == 'hu'", True), ("events.reply.data.text == 'yes'", True),
        ("events.purchase.received", False), ("run.visits.mail == 2", True), ("data.order_id == 'A1'", True),
    ])
    def test_conditions(self, text: str, expected: bool) -> None:
        assert holds(text, NAMES_SCOPE) == (expected, None)

    @pytest.mark.parametrize(("text", "fragment"), [
        ("contact.__class__", "SecurityError"), ("contact.nope > 1", "UndefinedError"),
        ("1 / 0", "ZeroDivisionError"), ("contact.attributes.plan > 3", "TypeError"),
        ("contact.attributes.update({'x': 1})", "SecurityError"),
    ])
    def test_errors_are_false_with_a_reason(self, text: str, fragment: str) -> None:
        met, reason = holds(text, NAMES_SCOPE)
        assert met is False and reason is not None and fragment in reason

    def test_values(self) -> None:
        assert evaluate("lead.score + 5", NAMES_SCOPE) == 65

    def test_an_undefined_value_is_an_error(self) -> None:
        with pytest.raises(ExpressionError):
            evaluate("data.missing", NAMES_SCOPE)

    def test_lead_score_defaults_to_zero(self) -> None:
        assert evaluate("lead.score", scope({}, {}, {}, {})) == 0

    @pytest.mark.parametrize(("contact", "score"), [
        ({"lead_score": 72.5, "attributes": {"lead_score": 10}}, 72.5),  # the open lead's score wins
        ({"lead_score": None, "attributes": {"lead_score": 10}}, 10),  # no lead: the attribute
        ({"lead_score": 0.0, "attributes": {"lead_score": 10}}, 0.0),  # a lead scoring 0 is 0
    ])
    def test_lead_score_is_the_open_leads_then_the_attribute(self, contact: dict, score: float) -> None:
        names = scope(contact, {}, {}, {})
        assert evaluate("lead.score", names) == score
        with pytest.raises(ExpressionError):  # not a field of the contact itself
            evaluate("contact.lead_score", names)
