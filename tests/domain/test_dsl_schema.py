"""The definition schema: closed vocabularies, aliases that round-trip, readable error paths."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from followthrough.dsl.loader import schema_errors
from followthrough.dsl.schema import SequenceDefinition, WaitStep, parsed_definition


class TestRoundTrip:
    def test_a_stored_document_validates_again(self) -> None:
        document = {"name": "s", "steps": [
            {"id": "i", "type": "if", "condition": "true", "then": "w", "else": "w"},
            {"id": "w", "type": "wait_for", "event": "ticket.resolved", "timeout": "P1D", "as": "ticket"},
            {"id": "v", "type": "set", "target": "contact.attributes.tier", "value": None},
        ]}
        definition = SequenceDefinition.model_validate(document)
        dumped = definition.model_dump(mode="json")
        assert dumped["steps"][0]["else"] == "w" and dumped["steps"][1]["as"] == "ticket"
        assert SequenceDefinition.model_validate(dumped) == definition

    def test_the_json_schema_names_every_step_type(self) -> None:
        schema = SequenceDefinition.model_json_schema()
        assert {"SendStep", "WaitStep", "WaitForStep", "IfStep", "SplitStep", "GotoStep", "ExitStep",
                "SetStep", "StartStep"} <= set(schema["$defs"])


class TestWait:
    @pytest.mark.parametrize("fields", [
        {"duration": "P1D"}, {"business": {"duration": "PT4H"}}, {"until_local_time": "09:30"},
        {"until_date": {"attribute": "data.arrival", "offset": "-P1D"}},
    ])
    def test_each_kind(self, fields: dict) -> None:
        assert WaitStep.model_validate({"id": "w", **fields}).id == "w"


class TestErrorPaths:
    def test_the_step_type_tag_is_not_in_the_path(self) -> None:
        _, errors = schema_errors({"name": "s", "steps": [{"id": "w", "type": "wait_for", "event": "reply"}]})
        assert [e.path for e in errors] == ["/steps/0/timeout"]

    def test_aliases_appear_under_their_own_names(self) -> None:
        _, errors = schema_errors({"name": "s", "steps": [{"id": "i", "type": "if", "condition": "x", "then": "i", "else": 3}]})
        assert [e.path for e in errors] == ["/steps/0/else"]


class TestParsedDefinition:
    """Runs parse their pinned document through a shared cache (workflow activations)."""

    DOCUMENT = {"name": "cached", "steps": [{"id": "w", "type": "wait", "duration": "PT1H"}]}

    def test_the_same_document_is_parsed_once(self) -> None:
        first = parsed_definition(dict(self.DOCUMENT))
        again = parsed_definition({"steps": [{"duration": "PT1H", "type": "wait", "id": "w"}], "name": "cached"})
        assert first is again
        assert first == SequenceDefinition.model_validate(self.DOCUMENT)

    def test_another_document_is_another_definition(self) -> None:
        other = {"name": "cached", "steps": [{"id": "w", "type": "wait", "duration": "PT2H"}]}
        assert parsed_definition(other).steps[0].duration == "PT2H"  # type: ignore[union-attr]
        assert parsed_definition(self.DOCUMENT).steps[0].duration == "PT1H"  # type: ignore[union-attr]

    def test_an_invalid_document_still_fails(self) -> None:
        with pytest.raises(ValidationError):
            parsed_definition({"name": "cached", "steps": []})
