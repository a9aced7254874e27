"""``reads_contact``: a run of a definition it calls contact-blind does not refresh its contact
snapshot after a wait, so every decision of such a run must come out the same whatever the
snapshot holds (beyond the contact's id). Checked as a property over generated definitions
built from every kind of step, each with and without the parts that read the contact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from followthrough.dsl.interpreter import (
    Action,
    Context,
    CreateTask,
    End,
    RunState,
    Wait,
    WaitFor,
    next_action,
    reads_contact,
    resolve_wait_for,
)
from followthrough.dsl.schema import SequenceDefinition
from followthrough.models.contact import ContactSnapshot

NOW = datetime(2024, 6, 7, 14, tzinfo=UTC)  # a Friday
#: Two snapshots of the same contact that differ in everything a decision could read.
ANNA = ContactSnapshot(id=1, name="Anna", locale="hu", time_zone="Europe/Budapest", owner_id=3,
                       attributes={"arrival_date": "2024-06-20", "vip": True, "rep": 4}, lead_score=80)
ANNA_LATER = ContactSnapshot(id=1, name="Anna K", locale="ru", time_zone="Asia/Vladivostok", owner_id=9,
                             attributes={"arrival_date": "2024-07-02", "vip": False, "rep": 6}, lead_score=5)

#: Every step type, in forms that read the contact and forms that do not ("{next}": a later step).
STEPS: list[dict[str, Any]] = [
    {"type": "send", "channel": "email", "template": "welcome"},
    {"type": "send", "channel": "sms", "template": "welcome", "fallback": ["email"]},
    {"type": "send", "channel": "internal", "template": "t", "to_user": 7},
    {"type": "send", "channel": "internal", "template": "t"},
    {"type": "send", "channel": "internal", "template": "t", "to_user": "contact.attributes.rep"},
    {"type": "wait", "duration": "PT1H"},
    {"type": "wait", "business": {"duration": "PT2H"}},
    {"type": "wait", "until_local_time": "09:30"},
    {"type": "wait", "until_date": {"attribute": "contact.attributes.arrival_date", "offset": "-P1D"}},
    {"type": "wait_for", "event": "reply", "timeout": "P1D"},
    {"type": "if", "condition": "contact.attributes.vip", "then": "{next}"},
    {"type": "if", "condition": "true", "then": "{next}"},
    {"type": "set", "target": "contact.attributes.stage", "value": "warm"},
    {"type": "set", "target": "contact.attributes.stage", "expression": "contact.locale"},
    {"type": "split", "variants": [{"percent": 50, "goto": "{next}"}, {"percent": 50, "goto": "{next}"}]},
    {"type": "goto", "goto": "{next}"},
    {"type": "start", "definition": "other"},
    {"type": "lead", "source": "web"},
    {"type": "task", "kind": "call", "title": "Call", "due": {"after": "PT2H"}},
    {"type": "exit"},
]


def _definition(picks: list[int], goal: bool) -> SequenceDefinition:
    steps = []
    for position, pick in enumerate(picks):
        later = f"s{min(position + 1, len(picks) - 1)}"
        text = repr(STEPS[pick]).replace("{next}", later)
        steps.append({"id": f"s{position}", **eval(text)})  # noqa: S307 - our own literals
    top = {"goal": "contact.lead_score > 50"} if goal else {}
    return SequenceDefinition.model_validate({"name": "seq", "steps": steps, **top})


def walk(definition: SequenceDefinition, contact: ContactSnapshot) -> Iterator[tuple[RunState, Action]]:
    """A run's decisions, each with the state it was decided from (before it), on a clock that
    jumps to each wait's end."""
    state, now = RunState(), NOW
    for _ in range(40):
        before = state.model_copy(deep=True)
        action = next_action(definition, state, Context(now=now, contact=contact))
        yield before, action
        if isinstance(action, End):
            break
        if isinstance(action, (Wait, WaitFor)) and action.until is not None:
            now = max(now, action.until)
        if isinstance(action, WaitFor):
            resolve_wait_for(state, action)
        if isinstance(action, CreateTask):
            now += timedelta(minutes=1)


def _decisions(definition: SequenceDefinition, contact: ContactSnapshot) -> list[Action]:
    """Every action of a run."""
    return [action for _state, action in walk(definition, contact)]


@settings(max_examples=400, deadline=None)
@given(picks=st.lists(st.integers(0, len(STEPS) - 1), min_size=1, max_size=6), goal=st.booleans())
def test_a_contact_blind_definition_decides_the_same_for_any_snapshot(picks: list[int], goal: bool) -> None:
    definition = _definition(picks, goal)
    if reads_contact(definition):
        return
    assert _decisions(definition, ANNA) == _decisions(definition, ANNA_LATER)


def test_each_reading_step_is_caught() -> None:
    """The property above can fail: each step form that reads the contact, alone or after a
    duration wait, decides differently for the two snapshots, and reads_contact says so."""
    for pick, step in enumerate(STEPS):
        definition = _definition([5, pick, 0], goal=False)
        differs = _decisions(definition, ANNA) != _decisions(definition, ANNA_LATER)
        if differs:
            assert reads_contact(definition), step
    blind = _definition([0, 5, 1], goal=False)
    assert not reads_contact(blind)
    assert reads_contact(_definition([0, 5, 1], goal=True))
