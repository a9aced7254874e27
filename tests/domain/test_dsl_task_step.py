"""The ``task`` step without a server: a valid one, the pure decision, the simulated clock and the
preview (its validation errors are rows of test_dsl_validate.py's table)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from followthrough.dsl.interpreter import Context, CreateTask, End, Note, RunState, next_action
from followthrough.dsl.schema import SequenceDefinition
from followthrough.dsl.simulate import simulate
from followthrough.dsl.validate import validate
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import RunEvent
from followthrough.models.vocab import StepState
from followthrough.preview import preview_sequence
from followthrough.rendering import Renderer
from followthrough.store import definitions
from followthrough.store.db import session_scope
from followthrough.store.templates import DbTemplateSource

NOW = datetime(2024, 6, 5, 8, tzinfo=UTC)
ANNA = ContactSnapshot(id=1, name="Anna", time_zone="Europe/Budapest")
TASK = {"type": "task", "kind": "call", "title": "Call Anna", "due": {"after": "P1D", "at": "10:00"}}
WAITING = {**TASK, "wait": True, "timeout": "P2D", "as": "call"}
EXIT = {"id": "end", "type": "exit", "reason": "done"}


def doc(*steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"name": "seq", "locales": ["en"], "steps": list(steps), **top}


def definition(*steps: dict[str, Any], **top: Any) -> SequenceDefinition:
    return SequenceDefinition.model_validate(doc(*steps, **top))




def no_templates(channel: str, name: str, locale: str) -> bool:
    return True


class TestValidation:
    """Each invalid task step is a row of tests/domain/test_dsl_validate.py's table."""

    def test_a_full_task_step_and_a_waiting_loop_pass(self) -> None:
        found, errors, _ = validate(doc(
            {"id": "a", **WAITING, "owner": "data.rep_id", "priority": "urgent", "note": "Twice",
             "due": {"after": "PT4H", "business": True, "at": "15:00", "zone": "contact"}},
            {"id": "b", "type": "if", "condition": "events.call.data.outcome == 'no'", "then": "a"},
            {"id": "c", **TASK, "kind": "todo", "owner": 7, "due": {"expression": "data.callback_at"}},
        ), no_templates)
        assert errors == [] and found is not None
        assert found.model_dump(mode="json")["steps"][0]["as"] == "call"


class TestDecision:
    def test_the_relative_due_travels_as_given_and_the_owner_defaults_to_the_contacts(self) -> None:
        action = next_action(definition({"id": "t", **WAITING}), RunState(), Context(now=NOW, contact=ANNA))
        assert action == CreateTask("t", 1, "call", "Call Anna", None,
                                    {"after": "P1D", "business": False, "at": "10:00", "zone": "owner"},
                                    None, None, "normal", True, NOW + timedelta(days=2), "call")
        assert action.describe() == "call 'Call Anna' for the contact's owner, due in P1D at 10:00 (owner's zone)"

    def test_an_owner_path_and_a_due_expression(self) -> None:
        step = {"id": "t", **TASK, "owner": "data.rep_id", "due": {"expression": "data.callback_at"}}
        action = next_action(definition(step), RunState(), Context(
            now=NOW, contact=ANNA, data={"rep_id": "12", "callback_at": "2024-06-06T15:00:00+02:00"}))
        assert isinstance(action, CreateTask)
        assert (action.owner, action.due, action.due_at, action.wait, action.until) == (
            12, None, datetime(2024, 6, 6, 13, tzinfo=UTC), False, None)

    @pytest.mark.parametrize(("step", "data", "reason"), [
        ({"owner": "data.rep_id"}, {}, "no_owner: data.rep_id is not set"),
        ({"due": {"expression": "data.when"}}, {"when": "tomorrow"}, "due: data.when is not a date-time ('tomorrow')"),
        ({"due": {"expression": "data.when"}}, {"when": "2024-06-06T15:00"}, "due: data.when is not a date-time with an offset"),
        ({"due": {"expression": "data.when"}}, {}, "due: expression error"),
    ])
    def test_what_cannot_be_decided_is_a_skip_with_the_reason(self, step: dict[str, Any], data: dict[str, Any],
                                                               reason: str) -> None:
        action = next_action(definition({"id": "t", **TASK, **step}), RunState(), Context(now=NOW, contact=ANNA, data=data))
        assert isinstance(action, Note) and (action.type, action.state) == ("task", StepState.SKIPPED)
        assert action.reason is not None and action.reason.startswith(reason), action.reason


class TestSimulated:
    BRANCH = [{"id": "check", "type": "if", "condition": "events.call.data.outcome == 'yes'",
               "then": "won", "else": "lost"},
              {"id": "won", "type": "exit", "reason": "won"}, {"id": "lost", "type": "exit", "reason": "lost"}]

    def test_a_completion_event_ends_the_wait_with_its_outcome(self) -> None:
        done = NOW + timedelta(hours=5)
        event = RunEvent(kind="task.completed", data={"task_id": None, "state": "done", "outcome": "yes"})
        plan, state = simulate(definition({"id": "t", **WAITING}, *self.BRANCH), start=NOW, contact=ANNA,
                               events=[(done, event)])
        assert [(p.at, p.outcome, p.ended) for p in plan[:1]] == [(NOW, "received", done)]
        assert isinstance(plan[-1].action, End) and plan[-1].action.reason == "won"
        assert state.events["call"]["data"]["outcome"] == "yes"

    def test_a_timeout_in_working_time_counts_on_the_calendar(self) -> None:
        step = {**WAITING, "timeout": {"after": "PT8H", "business": True}}
        action = next_action(definition({"id": "t", **step}), RunState(), Context(now=NOW, contact=ANNA))
        # Wednesday 08:00 UTC + 8 working hours of the default calendar (09:00-17:00 in its
        # zone): the whole working day, not 16:00.
        assert isinstance(action, CreateTask) and action.until == datetime(2024, 6, 5, 17, tzinfo=UTC)

    def test_the_timeout_takes_the_other_branch(self) -> None:
        plan, _ = simulate(definition({"id": "t", **WAITING}, *self.BRANCH), start=NOW, contact=ANNA)
        assert (plan[0].outcome, plan[0].ended) == ("timed out", NOW + timedelta(days=2))
        assert isinstance(plan[-1].action, End) and plan[-1].action.reason == "lost"

    def test_without_a_timeout_or_an_event_the_simulation_ends_waiting(self) -> None:
        step = {key: value for key, value in WAITING.items() if key != "timeout"}
        plan, _ = simulate(definition({"id": "t", **step}, *self.BRANCH), start=NOW, contact=ANNA)
        assert [(p.outcome, p.ended) for p in plan] == [("waiting", None)]


def _save(engine: Engine, name: str, *steps: dict[str, Any]) -> None:
    document = {"name": name, "kind": "sequence", "category": "service", "steps": list(steps)}
    with session_scope(engine) as session:
        definitions.save(session, name, "sequence", document, publish=True)


class TestPreview:
    def test_the_task_is_shown_at_its_planned_time(self, engine: Engine) -> None:
        _save(engine, "task_preview", {"id": "pause", "type": "wait", "duration": "PT3H"},
              {"id": "t", **WAITING}, {"id": "after", **TASK, "kind": "todo", "title": "Send the quote"}, EXIT)
        result = preview_sequence(engine, Renderer(DbTemplateSource(engine), "en"), "task_preview",
                                  start=NOW, sample=ANNA)
        pause, waiting, after, end = result.steps
        assert (waiting.type, waiting.state, waiting.at, waiting.due_at, waiting.finished_at) == (
            "task", "done", NOW + timedelta(hours=3), NOW + timedelta(hours=3, days=2), NOW + timedelta(hours=3, days=2))
        assert waiting.reason == ("would create a call 'Call Anna' for the contact's owner, due in P1D at 10:00 "
                                  "(owner's zone); timed out")
        assert (after.type, after.at, after.reason) == (
            "task", NOW + timedelta(hours=3, days=2),
            "would create a todo 'Send the quote' for the contact's owner, due in P1D at 10:00 (owner's zone)")
        assert result.end is not None and result.end.reason == "done"
