"""Validation reports every problem with its JSON path (one row per kind of error)."""

from __future__ import annotations

from typing import Any

import pytest

from followthrough.dsl.validate import validate

MAIL = {"type": "send", "channel": "email", "template": "welcome"}


def doc(*steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"name": "seq", "locales": ["en", "hu"], "steps": list(steps), **top}


def templates(channel: str, name: str, locale: str) -> bool:
    return name == "welcome" or (name == "only_en" and locale == "en") or (channel == "sms" and name == "long")


CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("schema: unknown field", doc({"id": "a", **MAIL, "colour": "red"}), [("/steps/0/colour", "Extra inputs")]),
    ("schema: unknown step type", doc({"id": "a", "type": "jump"}), [("/steps/0", "does not match any of the expected tags")]),
    ("schema: missing field", doc({"id": "a", "type": "send", "channel": "email"}), [("/steps/0/template", "Field required")]),
    ("duplicate id", doc({"id": "a", **MAIL}, {"id": "a", **MAIL}), [("/steps/1/id", "used twice")]),
    ("unknown goto", doc({"id": "a", "type": "goto", "goto": "zz"}), [("/steps/0/goto", "no step with id 'zz'")]),
    ("unknown then/else", doc({"id": "a", "type": "if", "condition": "true", "then": "x", "else": "y"}, {"id": "b", **MAIL}),
     [("/steps/0/then", "'x'"), ("/steps/0/else", "'y'"), ("/steps/1", "never be reached")]),
    ("unknown split target", doc({"id": "a", "type": "split", "variants": [{"percent": 100, "goto": "q"}]}),
     [("/steps/0/variants/0/goto", "no step with id 'q'")]),
    ("unreachable after exit", doc({"id": "a", "type": "exit"}, {"id": "b", **MAIL}), [("/steps/1", "never be reached")]),
    ("loop without wait", doc({"id": "a", **MAIL}, {"id": "b", "type": "goto", "goto": "a"}), [("/steps/0", "loop without any wait: a -> b -> a")]),
    # A date that has passed does not wait: such a wait cannot break a loop.
    ("loop whose only wait is a date", doc({"id": "a", "type": "wait", "until_date": {"attribute": "data.day"}},
                                           {"id": "b", **MAIL}, {"id": "c", "type": "goto", "goto": "a"}),
     [("/steps/0", "loop without any wait: a -> b -> c -> a")]),
    ("goto itself", doc({"id": "a", "type": "goto", "goto": "a"}), [("/steps/0", "a -> a")]),
    ("missing template", doc({"id": "a", "type": "send", "channel": "email", "template": "nope"}),
     [("/steps/0/template", "'en'"), ("/steps/0/template", "'hu'")]),
    ("template missing for a declared locale", doc({"id": "a", "type": "send", "channel": "sms", "template": "only_en"}),
     [("/steps/0/template", "no sms template 'only_en' for locale 'hu'")]),
    ("template missing for a fallback channel", doc({"id": "a", "type": "send", "channel": "sms", "template": "long", "fallback": ["voice"]}),
     [("/steps/0/fallback/0", "no voice template 'long' for locale 'en'"), ("/steps/0/fallback/0", "'hu'")]),
    ("expression does not parse", doc({"id": "a", "type": "if", "condition": "lead.score >=", "then": "a"}, {"id": "w", "type": "wait", "duration": "P1D"}),
     [("/steps/0", "a -> a"), ("/steps/0/condition", "does not parse")]),
    ("unknown name", doc({"id": "a", **MAIL}, goal="score > 5"), [("/goal", "unknown name 'score'")]),
    ("private attribute", doc({"id": "a", "type": "set", "target": "lead.score", "expression": "contact.__class__"}),
     [("/steps/0/expression", "not allowed")]),
    ("bad duration", doc({"id": "a", "type": "wait", "duration": "2 days"}), [("/steps/0/duration", "not an ISO-8601 duration")]),
    ("years in a duration", doc({"id": "a", "type": "wait_for", "event": "reply", "timeout": "P1Y"}), [("/steps/0/timeout", "not years or months")]),
    ("bad business duration", doc({"id": "a", "type": "wait", "business": {"duration": "PT0S"}}), [("/steps/0/business/duration", "longer than zero")]),
    ("bad offset", doc({"id": "a", "type": "wait", "until_date": {"attribute": "data.d", "offset": "yesterday"}}),
     [("/steps/0/until_date/offset", "not an ISO-8601")]),
    ("bad local time", doc({"id": "a", "type": "wait", "until_local_time": "9.30"}), [("/steps/0/until_local_time", "pattern")]),
    ("two wait kinds", doc({"id": "a", "type": "wait", "duration": "P1D", "until_local_time": "09:30"}), [("/steps/0", "exactly one")]),
    ("unknown calendar", doc({"id": "a", "type": "wait", "business": {"duration": "PT1H", "calendar": "mars"}}),
     [("/steps/0/business/calendar", "no calendar named 'mars'")]),
    ("timeout in an owner's zone", doc({"id": "a", "type": "wait_for", "event": "reply", "timeout": {"after": "P1D", "at": "10:00", "zone": "owner"}}),
     [("/steps/0/timeout/zone", "not an owner's")]),
    ("timeout on an unknown calendar", doc({"id": "a", "type": "wait_for", "event": "reply", "timeout": {"after": "PT8H", "business": True, "calendar": "mars"}}),
     [("/steps/0/timeout/calendar", "no calendar named 'mars'")]),
    ("timeout in years", doc({"id": "a", "type": "wait_for", "event": "reply", "timeout": {"after": "P1Y", "business": True}}),
     [("/steps/0/timeout/after", "not years or months")]),
    ("timeout with an unknown field", doc({"id": "a", "type": "wait_for", "event": "reply", "timeout": {"after": "PT1H", "buisness": True}}),
     [("/steps/0/timeout/buisness", "Extra inputs")]),
    ("timeout in an unknown zone", doc({"id": "a", "type": "wait_for", "event": "reply", "timeout": {"at": "10:00", "zone": "Mars/Olympus"}}),
     [("/steps/0/timeout/zone", "IANA time zone")]),
    ("split percents", doc({"id": "a", "type": "split", "variants": [{"percent": 60, "goto": "b"}, {"percent": 30, "goto": "b"}]}, {"id": "b", **MAIL}),
     [("/steps/0/variants", "add up to 90")]),
    ("bad set target", doc({"id": "a", "type": "set", "target": "contact.name", "value": 1}), [("/steps/0/target", "pattern")]),
    ("set without value", doc({"id": "a", "type": "set", "target": "lead.score"}), [("/steps/0", "exactly one of value, expression")]),
    ("bad event name", doc({"id": "a", **MAIL}, stop_on=["Reply!"]), [("/stop_on/0", "pattern")]),
    ("bad attribute path", doc({"id": "a", "type": "wait", "until_date": {"attribute": "arrival"}}), [("/steps/0/until_date/attribute", "pattern")]),
    ("internal without a user", doc({"id": "a", "type": "send", "channel": "internal", "template": "welcome"}),
     [("/steps/0/to_user", "an internal send names its user")]),
    ("internal to an address", doc({"id": "a", "type": "send", "channel": "internal", "template": "welcome", "to_user": "rep@example.test"}),
     [("/steps/0/to_user", "a user id (an integer) or a path such as data.rep_id")]),
    ("internal to a path outside data", doc({"id": "a", "type": "send", "channel": "internal", "template": "welcome", "to_user": "contact.email"}),
     [("/steps/0/to_user", "a user id (an integer) or a path")]),
    ("internal to a user id out of range", doc({"id": "a", "type": "send", "channel": "internal", "template": "welcome", "to_user": 2**31}),
     [("/steps/0/to_user", "between 1 and 2147483647")]),
    ("internal to user zero", doc({"id": "a", "type": "send", "channel": "internal", "template": "welcome", "to_user": 0}),
     [("/steps/0/to_user", "between 1 and 2147483647")]),
    ("internal to a boolean", doc({"id": "a", "type": "send", "channel": "internal", "template": "welcome", "to_user": True}),
     [("/steps/0/to_user", "a user id (an integer) or a path")]),
    ("to_user on a contact's message", doc({"id": "a", **MAIL, "to_user": "data.rep_id"}),
     [("/steps/0/to_user", "for channel internal only")]),
]


class TestErrors:
    @pytest.mark.parametrize(("document", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
    def test_every_error_with_its_path(self, document: dict[str, Any], expected: list[tuple[str, str]]) -> None:
        definition, errors, _ = validate(document, templates)
        assert definition is None
        assert len(errors) == len(expected), errors
        for (path, fragment), error in zip(expected, errors, strict=True):
            assert error.path == path and fragment in error.message, error

    def test_all_problems_at_once(self) -> None:
        _, errors, _ = validate(doc({"id": "a", "type": "goto", "goto": "zz"}, {"id": "a", **MAIL}, goal="nope"), templates)
        assert sorted(e.path for e in errors) == ["/goal", "/steps/0/goto", "/steps/1", "/steps/1/id"]

    def test_not_an_object(self) -> None:
        assert validate(["x"], templates)[1][0].path == ""


class TestWarnings:
    def test_a_long_sms_is_a_warning_not_an_error(self) -> None:
        definition, errors, warnings = validate(
            doc({"id": "a", "type": "send", "channel": "sms", "template": "long"}), templates,
            sms_segments=lambda name, locale: 4 if locale == "hu" else 2,
        )
        assert definition is not None and errors == []
        assert [(w.path, w.message) for w in warnings] == [
            ("/steps/0/template", "SMS 'long' (hu) is 4 segments, over the limit of 3")]

    def test_the_limit_is_configurable(self) -> None:
        _, _, warnings = validate(doc({"id": "a", "type": "send", "channel": "sms", "template": "long"}), templates,
                                  sms_segments=lambda name, locale: 2, sms_segment_limit=1)
        assert len(warnings) == 2


class TestValid:
    def test_a_full_definition_passes(self) -> None:
        definition, errors, warnings = validate(doc(
            {"id": "hello", **MAIL},
            {"id": "answer", "type": "wait_for", "event": "reply", "timeout": "P2D", "as": "answer"},
            {"id": "check", "type": "if", "condition": "events.answer.received", "then": "done"},
            {"id": "score", "type": "set", "target": "lead.score", "expression": "lead.score + 10"},
            {"id": "ab", "type": "split", "variants": [{"percent": 50, "goto": "tell"}, {"percent": 50, "goto": "later"}]},
            {"id": "tell", "type": "send", "channel": "internal", "template": "welcome", "to_user": "data.rep_id"},
            {"id": "tell_owner", "type": "send", "channel": "internal", "template": "welcome",
             "to_user": "contact.attributes.owner_id"},
            {"id": "tell_boss", "type": "send", "channel": "internal", "template": "welcome", "to_user": 1},
            {"id": "later", "type": "wait", "business": {"duration": "PT4H", "calendar": "budapest_office"}},
            {"id": "again", "type": "goto", "goto": "hello"},
            {"id": "done", "type": "start", "definition": "sales"},
            goal="lead.score >= 50", stop_on=["reply", "ticket.resolved"],
        ), templates)
        assert errors == [] and warnings == [] and definition is not None
        assert definition.model_dump(mode="json")["steps"][1]["as"] == "answer"


class TestEveryProblemAtOnce:
    """A schema error in one step hides nothing about the others (steps that parse are checked)."""

    def test_schema_errors_and_the_other_steps_problems_in_one_answer(self) -> None:
        document = doc(
            {"id": "a", "type": "jump"},                                   # unknown step type
            {"id": "b", "type": "wait", "duration": "2 days"},             # bad duration
            {"id": "c", "type": "send", "channel": "email", "template": "nope"},  # unknown template
            {"id": "c", **MAIL},                                           # duplicate id
            {"id": "d", "type": "if", "condition": "lead.score >=", "then": "a", "else": "zz"},
            {"id": "e", "type": "wait", "business": {"duration": "PT1H", "calendar": "mars"}},
            goal="score > 5",
        )
        definition, errors, _ = validate(document, templates)
        assert definition is None
        assert [(e.path, e.message.split(":")[0]) for e in errors] == [
            ("/steps/0", "Input tag 'jump' found using 'type' does not match any of the expected tags"),
            ("/steps/1/duration", "Value error, '2 days' is not an ISO-8601 duration (e.g. P2D, PT30M)"),
            ("/steps/3/id", "step id 'c' is used twice (first at /steps/2)"),
            ("/steps/4/else", "no step with id 'zz'"),
            ("/steps/2/template", "no email template 'nope' for locale 'en'"),
            ("/steps/2/template", "no email template 'nope' for locale 'hu'"),
            ("/steps/4/condition", "expression 'lead.score >='"),
            ("/steps/5/business/calendar", "no calendar named 'mars'"),
            ("/goal", "expression 'score > 5'"),
        ]

    def test_a_jump_to_a_step_that_failed_the_schema_is_not_also_a_jump_to_nowhere(self) -> None:
        _, errors, _ = validate(doc({"id": "a", "type": "goto", "goto": "b"},
                                    {"id": "b", "type": "wait", "duration": "soon"}), templates)
        assert [e.path for e in errors] == ["/steps/1/duration"]

    def test_missing_locales_in_a_broken_document_still_name_the_template(self) -> None:
        _, errors, _ = validate({"name": "seq", "locales": "en", "steps": [
            {"id": "a", "type": "send", "channel": "email", "template": "nope"}]}, templates)
        assert [e.path for e in errors] == ["/locales"]  # no locales to check templates against
