"""Validation of lead and SLA policies through the one entry point: every problem with its path,
schema errors next to the semantic ones, references checked only when they can be told."""

from __future__ import annotations

from typing import Any

import pytest

from followthrough.dsl.checks import References
from followthrough.dsl.expressions import validate_expression
from followthrough.dsl.loader import schema_errors
from followthrough.dsl.validate import validate
from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.tickets.policy import SlaPolicyDefinition

KNOWN = References(teams={"sales": 2, "empty": 0}, definitions={"lead_nurture": "sequence", "support": "sla_policy"},
                   users={1, 2})


def lead(**top: Any) -> dict[str, Any]:
    return {"name": "leads", "kind": "lead_policy", "thresholds": {"qualified": 50},
            "assignment": {"default_team": "sales"}, **top}


def sla(**top: Any) -> dict[str, Any]:
    return {"name": "support", "kind": "sla_policy", "default_team": "sales",
            "priorities": {"normal": {"first_response": "PT4H", "resolution": "P2D"}}, **top}


def no_templates(channel: str, name: str, locale: str) -> bool:
    return False


def problems(document: dict[str, Any], refs: References = KNOWN) -> list[tuple[str, str]]:
    parsed, errors, _warnings = validate(document, no_templates, references=refs)
    assert (parsed is None) == bool(errors)
    return [(e.path, e.message) for e in errors]


CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("lead: kind tag not in the path", lead(thresholds={"qualified": "high"}),
     [("/thresholds/qualified", "Input should be a valid number, unable to parse string as a number")]),
    ("lead: fit rule reads run", lead(fit=[{"id": "a", "when": "run.visits.x > 1", "points": 1}]),
     [("/fit/0/when", "expression 'run.visits.x > 1': unknown name 'run' (use one of: contact, lead)")]),
    ("lead: private attribute", lead(disqualify=[{"id": "a", "when": "contact.__class__", "reason": "x"}]),
     [("/disqualify/0/when", "expression 'contact.__class__': attribute '__class__' is not allowed (private)")]),
    ("lead: lead['key'] is checked too", lead(assignment={"default_team": "sales", "rules": [
        {"id": "a", "when": "lead['owner'] == 1", "team": "sales"}]}),
     [("/assignment/rules/0/when", "expression 'lead['owner'] == 1': 'lead' has no 'owner' "
                                   "(use one of: source, attributes, score, stage)")]),
    ("lead: an event name too long to post", lead(engagement={"a" * 43: 5}),
     [(f"/engagement/{'a' * 43}", "an event name is at most 42 characters: POST /v1/contacts/{id}/events "
                                  "refuses a longer one")]),
    ("lead: nurture is the default, missing", lead(), []),
    ("lead: a reassign only", lead(sla={"ladder": [{"at": {"share": 1}, "action": "reassign"}]}), []),
    ("sla: routing reads the ticket's category", sla(routing=[
        {"id": "r", "when": "ticket.category == 'complaint' and contact.locale == 'ru'", "team": "sales"}]), []),
    ("sla: the default priority without targets (the model)", sla(default_priority="low"),
     [("", "Value error, the default priority 'low' has no targets in priorities")]),
    ("sla: a zero target", sla(priorities={"normal": {"first_response": "PT0S", "resolution": "P1D"}}),
     [("/priorities/normal/first_response", "a target is longer than zero, not 'PT0S'")]),
    ("sla: tiers of different targets climb apart", sla(priorities={"normal": {
        "first_response": "PT1H", "resolution": "P1D", "ladder": [
            {"at": {"share": 0.9}, "target": "resolution", "notify": ["assignee"]},
            {"at": {"share": 0.5}, "target": "first_response", "notify": ["assignee"]},
            {"at": {"share": 0.95}, "target": "resolution", "notify": [1]}]}}), []),
]


class TestValidate:
    @pytest.mark.parametrize(("document", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
    def test_case(self, document: dict[str, Any], expected: list[tuple[str, str]]) -> None:
        assert problems(document) == expected

    def test_a_schema_error_hides_no_other_problem(self) -> None:
        document = lead(colour="red", fit=[{"id": "a", "when": "lead.score >", "points": 1}],
                        assignment={"default_team": "empty"})
        assert problems(document) == [
            ("/colour", "Extra inputs are not permitted"),
            ("/fit/0/when", "expression 'lead.score >': does not parse: unexpected 'end of template'"),
            ("/assignment/default_team", "team 'empty' has no members"),
        ]

    def test_references_that_cannot_be_told_are_not_checked(self) -> None:
        document = lead(nurture={"sequence": "gone"}, assignment={"default_team": "nowhere"})
        assert problems(document, References()) == []
        assert problems(document) == [("/assignment/default_team", "no team named 'nowhere' (PUT /v1/teams/nowhere)"),
                                      ("/nurture/sequence", "no sequence named 'gone'")]

    def test_valid_documents_parse_to_their_kind(self) -> None:
        assert isinstance(validate(lead(), no_templates, references=KNOWN)[0], LeadPolicyDefinition)
        assert isinstance(validate(sla(), no_templates, references=KNOWN)[0], SlaPolicyDefinition)

    def test_warnings_do_not_refuse(self) -> None:
        rule = {"id": "r", "keywords": ["жалоба"], "language": "hu", "category": "complaint"}
        parsed, errors, warnings = validate(sla(classification=[rule, {**rule, "id": "s", "keywords": [],
                                                                       "channel": "sms"}]),
                                            no_templates, references=KNOWN)
        assert (isinstance(parsed, SlaPolicyDefinition), errors) == (True, [])
        assert [(w.path, w.message) for w in warnings] == [
            ("/classification/0/keywords/0", "'жалоба' has no letters of the 'hu' rule's script"),
            ("/classification/1/language", "a language without keywords stems nothing")]

    def test_fit_rules_that_cannot_reach_the_threshold_warn(self) -> None:
        _, errors, warnings = validate(lead(fit=[{"id": "a", "when": "true", "points": 20}]), no_templates,
                                       references=KNOWN)
        assert (errors, [(w.path, w.message) for w in warnings]) == ([], [
            ("/thresholds/qualified", "the fit rules give at most 20 points, below the qualified threshold (50): "
                                      "no lead qualifies")])


class TestSequenceReferences:
    def test_a_start_step_into_a_policy(self) -> None:
        document = {"name": "s", "steps": [{"id": "a", "type": "start", "definition": "support"},
                                           {"id": "b", "type": "start", "definition": "saved_later"}]}
        assert problems(document) == [("/steps/0/definition", "'support' is a sla_policy, not a sequence")]
        assert problems(document, References()) == []


class TestPointers:
    def test_a_field_named_like_a_kind_stays_in_the_path(self) -> None:
        _, errors = schema_errors(lead(nurture={"sequence": "Not A Name"}))
        assert [e.path for e in errors] == ["/nurture/sequence"]

    def test_a_sequence_without_kind_keeps_its_step_paths(self) -> None:
        _, errors = schema_errors({"name": "s", "steps": [{"id": "a", "type": "send", "channel": "email"}]})
        assert [(e.path, e.message) for e in errors] == [("/steps/0/template", "Field required")]

    @pytest.mark.parametrize("kind", [None, 3, "Sequence"])
    def test_a_kind_that_is_none_of_the_kinds(self, kind: object) -> None:
        _, errors = schema_errors({"name": "s", "kind": kind})
        assert [e.path for e in errors] == ["/kind"]
        assert errors[0].message.startswith(f"unknown kind {kind!r}")


class TestAllowedNames:
    def test_default_names_are_the_sequences(self) -> None:
        assert validate_expression("data.x and run.visits.a > 1 and lead.anything") == []

    def test_a_name_with_open_attributes(self) -> None:
        assert validate_expression("contact.whatever", {"contact": None}) == []
