"""The pure interpreter on a simulated clock: the decisions a real run makes, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from followthrough.dsl.interpreter import (
    LOOP_LIMIT,
    Action,
    Context,
    End,
    Note,
    RunState,
    Send,
    SetValue,
    StartDefinition,
    Wait,
    WaitFor,
    next_action,
    receive,
    resolve_wait_for,
)
from followthrough.dsl.schema import SequenceDefinition
from followthrough.dsl.simulate import simulate
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import RunEvent
from followthrough.models.vocab import Category, Channel, RunStatus, StepState

NOW = datetime(2024, 6, 7, 14, tzinfo=UTC)  # a Friday
ANNA = ContactSnapshot(id=1, name="Anna", locale="hu", time_zone="Europe/Budapest",
                       attributes={"arrival_date": "2024-06-20", "lead_score": 10})
MAIL = {"type": "send", "channel": "email", "template": "welcome"}


def definition(*steps: dict[str, Any], **top: Any) -> SequenceDefinition:
    return SequenceDefinition.model_validate({"name": "seq", "steps": list(steps), **top})


def ctx(**changes: Any) -> Context:
    return Context(now=changes.pop("now", NOW), contact=changes.pop("contact", ANNA), **changes)


class TestSteps:
    def test_send_uses_the_definition_category_and_fallbacks(self) -> None:
        d = definition({"id": "a", **MAIL, "fallback": ["sms"]}, category="sales")
        action = next_action(d, RunState(), ctx())
        assert action == Send("a", 1, "email", "welcome", "sales", ("sms",))  # type: ignore[arg-type]

    def test_internal_goes_to_the_user_named_in_the_data(self) -> None:
        d = definition({"id": "a", "type": "send", "channel": "internal", "template": "t", "to_user": "data.rep_id"})
        action = next_action(d, RunState(), ctx(data={"rep_id": 7, "rep_email": "evil@example.test"}))
        assert action == Send("a", 1, "email", "t", "service", to_user=7)  # type: ignore[arg-type]


class TestInternalRecipients:
    """``to_user`` names a user id; the address is never taken from the run's data."""

    CASES: ClassVar[list[tuple[str, Any, dict[str, Any], dict[str, Any], Action]]] = [
        ("literal id", 12, {}, {}, Send("a", 1, Channel.EMAIL, "t", Category.SERVICE, to_user=12)),
        ("data path", "data.rep.id", {"rep": {"id": 3}}, {}, Send("a", 1, Channel.EMAIL, "t", Category.SERVICE, to_user=3)),
        ("digits from a CRM", "data.rep_id", {"rep_id": "42"}, {}, Send("a", 1, Channel.EMAIL, "t", Category.SERVICE, to_user=42)),
        ("contact attribute", "contact.attributes.owner_id", {}, {"owner_id": 5},
         Send("a", 1, Channel.EMAIL, "t", Category.SERVICE, to_user=5)),
        ("not set", "data.rep_id", {}, {}, Note("a", 1, "send", StepState.SKIPPED, "no_recipient: data.rep_id is not set")),
        ("empty", "data.rep_id", {"rep_id": ""}, {}, Note("a", 1, "send", StepState.SKIPPED, "no_recipient: data.rep_id is not set")),
        ("an address is not an id", "data.rep_id", {"rep_id": "rep@example.test"}, {},
         Note("a", 1, "send", StepState.SKIPPED, "no_recipient: data.rep_id is not a user id ('rep@example.test')")),
        ("a boolean is not an id", "data.rep_id", {"rep_id": True}, {},
         Note("a", 1, "send", StepState.SKIPPED, "no_recipient: data.rep_id is not a user id (True)")),
        ("out of range", "data.rep_id", {"rep_id": 2**31}, {},
         Note("a", 1, "send", StepState.SKIPPED, "no_recipient: data.rep_id is not a user id (2147483648)")),
        ("too many digits", "data.rep_id", {"rep_id": "99999999999999999999"}, {},
         Note("a", 1, "send", StepState.SKIPPED, "no_recipient: data.rep_id is not a user id ('99999999999999999999')")),
    ]

    @pytest.mark.parametrize(("ref", "data", "attributes", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
    def test_the_user_id(self, ref: Any, data: dict[str, Any], attributes: dict[str, Any], expected: Action) -> None:
        d = definition({"id": "a", "type": "send", "channel": "internal", "template": "t", "to_user": ref})
        contact = ANNA.model_copy(update={"attributes": attributes})
        assert next_action(d, RunState(), ctx(data=data, contact=contact)) == expected

    def test_a_version_saved_before_to_user_asks_the_door_as_it_did_but_carries_no_address(self) -> None:
        # Runs pinned to such a version still load it and make the same commands (a replayed
        # history expects them); only the fact that there was an address travels.
        d = definition({"id": "a", "type": "send", "channel": "internal", "template": "t"})
        action = next_action(d, RunState(), ctx(data={"rep_email": "rep@example.test"}))
        assert action == Send("a", 1, Channel.EMAIL, "t", Category.SERVICE, legacy_to=True)
        assert "rep@example.test" not in repr(action)

    def test_a_version_saved_before_to_user_without_rep_email_skips_as_it_did(self) -> None:
        d = definition({"id": "a", "type": "send", "channel": "internal", "template": "t"})
        action = next_action(d, RunState(), ctx(data={}))
        assert action == Note("a", 1, "send", StepState.SKIPPED, "no_recipient: the step names no user (to_user)")

    def test_waits_compute_absolute_due_times(self) -> None:
        d = definition(
            {"id": "d", "type": "wait", "duration": "PT90M"},
            {"id": "b", "type": "wait", "business": {"duration": "PT4H", "calendar": "budapest_office"}},
            {"id": "l", "type": "wait", "until_local_time": "09:30"},
            {"id": "u", "type": "wait", "until_date": {"attribute": "contact.attributes.arrival_date", "offset": "-P1D", "at": "10:00"}},
        )
        state = RunState()
        dues = [next_action(d, state, ctx()) for _ in range(4)]
        assert [a.until for a in dues if isinstance(a, Wait)] == [
            NOW + timedelta(minutes=90),
            datetime(2024, 6, 10, 10, tzinfo=UTC),  # Fri 16-17 local (1 h), Mon 09-12 (3 h): 12:00
            datetime(2024, 6, 8, 7, 30, tzinfo=UTC),
            datetime(2024, 6, 19, 8, tzinfo=UTC),
        ]

    def test_a_missing_or_bad_date_skips_the_wait(self) -> None:
        d = definition({"id": "u", "type": "wait", "until_date": {"attribute": "data.when"}})
        assert next_action(d, RunState(), ctx()) == Note("u", 1, "wait", "skipped", "data.when is not set")  # type: ignore[arg-type]
        note = next_action(d, RunState(), ctx(data={"when": "soon"}))
        assert isinstance(note, Note) and note.state == "skipped" and "not a date" in (note.reason or "")

    def test_a_date_in_the_past_does_not_wait(self) -> None:
        d = definition({"id": "u", "type": "wait", "until_date": {"attribute": "data.when"}})
        note = next_action(d, RunState(), ctx(data={"when": "2024-01-01"}))
        assert isinstance(note, Note) and note.state == "done" and "has passed" in (note.reason or "")

    def test_if_split_goto_exit(self) -> None:
        d = definition(
            {"id": "i", "type": "if", "condition": "lead.score > 50", "then": "x"},
            {"id": "s", "type": "split", "variants": [{"percent": 100, "goto": "g"}]},
            {"id": "x", "type": "exit", "reason": "hot"},
            {"id": "g", "type": "goto", "goto": "e"},
            {"id": "e", "type": "exit", "reason": "cold"},
        )
        state = RunState()
        actions = [next_action(d, state, ctx()) for _ in range(4)]
        reasons = [getattr(a, "reason", None) for a in actions]
        assert reasons[0] == "false -> next step" and reasons[2:] == ["-> e", "cold"]
        assert reasons[1] is not None and reasons[1].startswith("bucket ") and reasons[1].endswith(" -> g")
        assert actions[-1] == End("completed", "cold", step_id="e")  # type: ignore[arg-type]

    def test_a_condition_error_is_false_with_the_reason(self) -> None:
        d = definition({"id": "i", "type": "if", "condition": "1 / 0", "then": "i"}, {"id": "w", "type": "wait", "duration": "P1D"})
        note = next_action(d, RunState(), ctx())
        assert isinstance(note, Note) and "ZeroDivisionError" in (note.reason or "")

    def test_set_and_start(self) -> None:
        d = definition({"id": "s", "type": "set", "target": "lead.score", "expression": "lead.score * 2"},
                       {"id": "a", "type": "set", "target": "contact.attributes.tier", "value": "gold"},
                       {"id": "t", "type": "start", "definition": "sales", "data": {"x": 1}})
        state = RunState()
        assert next_action(d, state, ctx()) == SetValue("s", 1, "lead_score", 20)
        assert next_action(d, state, ctx()) == SetValue("a", 1, "tier", "gold")
        assert next_action(d, state, ctx()) == StartDefinition("t", 1, "sales", {"x": 1})

    def test_loop_guard(self) -> None:
        d = definition({"id": "a", "type": "goto", "goto": "b"}, {"id": "b", "type": "goto", "goto": "a"})
        state = RunState()
        actions = [next_action(d, state, ctx()) for _ in range(LOOP_LIMIT + 1)]
        assert actions[-1] == End("failed", f"loop: {LOOP_LIMIT} steps without a wait")  # type: ignore[arg-type]


class TestEvents:
    def test_an_event_is_buffered_until_a_wait_for_consumes_it(self) -> None:
        d = definition({"id": "w", "type": "wait", "duration": "P1D"},
                       {"id": "f", "type": "wait_for", "event": "reply", "timeout": "P2D", "as": "answer"})
        state = RunState()
        next_action(d, state, ctx())
        receive(d, state, RunEvent(kind="reply", data={"text": "yes"}), ctx())
        wait_for = next_action(d, state, ctx(now=NOW + timedelta(days=1)))
        assert wait_for == WaitFor("f", 1, "reply", NOW + timedelta(days=3), "answer")
        assert resolve_wait_for(state, wait_for) is True and state.inbox == []
        assert state.events["answer"] == {"received": True, "data": {"text": "yes"}}

    @pytest.mark.parametrize(("timeout", "expected"), [
        ("P2D", NOW + timedelta(days=2)),  # elapsed time, as before
        # Friday 16:00 Budapest + 8 working hours (9-12, 13-17): Friday 1 h, Monday 7 h to 17:00.
        ({"after": "PT8H", "business": True, "calendar": "budapest_office"}, datetime(2024, 6, 10, 15, tzinfo=UTC)),
        # The default calendar (09:00-17:00 UTC): Friday 14:00 + 8 h is Monday 14:00.
        ({"after": "PT8H", "business": True}, datetime(2024, 6, 10, 14, tzinfo=UTC)),
        # One working day, then 10:00 in the contact's zone (Budapest, UTC+2).
        ({"after": "P1D", "business": True, "at": "10:00", "zone": "contact"}, datetime(2024, 6, 10, 8, tzinfo=UTC)),
    ])
    def test_a_wait_for_timeout_through_the_clock(self, timeout: Any, expected: datetime) -> None:
        d = definition({"id": "f", "type": "wait_for", "event": "reply", "timeout": timeout})
        assert next_action(d, RunState(), ctx()) == WaitFor("f", 1, "reply", expected, "reply")

    def test_a_timeout_the_run_cannot_compute_fails_the_run_with_the_reason(self) -> None:
        d = definition({"id": "f", "type": "wait_for", "event": "reply",
                        "timeout": {"after": "PT8H", "business": True, "calendar": "gone"}})
        action = next_action(d, RunState(), ctx())
        assert action == End(RunStatus.FAILED, "wait_for timeout: no calendar named 'gone'", step_id="f")

    def test_stop_on_and_goal(self) -> None:
        d = definition({"id": "w", "type": "wait", "duration": "P1D"}, stop_on=["reply"], goal="events.paid.received")
        stopped, converted = RunState(), RunState()
        receive(d, stopped, RunEvent(kind="reply", channel="sms"), ctx())
        receive(d, converted, RunEvent(kind="paid"), ctx())
        assert next_action(d, stopped, ctx()) == End("stopped", "reply (sms)")  # type: ignore[arg-type]
        assert next_action(d, converted, ctx()) == End("converted", "goal reached")  # type: ignore[arg-type]

    def test_the_state_is_plain_data(self) -> None:
        state = RunState(visits={"a": 1}, inbox=[RunEvent(kind="reply")])
        assert RunState.model_validate_json(state.model_dump_json()) == state


class TestSimulate:
    def test_a_hotel_pre_arrival_sequence_on_a_simulated_clock(self) -> None:
        d = definition(
            {"id": "confirm", **MAIL},
            {"id": "before", "type": "wait", "until_date": {"attribute": "contact.attributes.arrival_date", "offset": "-P1D", "at": "10:00"}},
            {"id": "pre_arrival", **MAIL},
            {"id": "answer", "type": "wait_for", "event": "reply", "timeout": "PT12H"},
            {"id": "check", "type": "if", "condition": "events.reply.received", "then": "done"},
            {"id": "nudge", **MAIL},
            {"id": "done", "type": "exit", "reason": "arrived"},
        )
        reply_at = datetime(2024, 6, 19, 9, tzinfo=UTC)
        plan, state = simulate(d, start=NOW, contact=ANNA, events=[(reply_at, RunEvent(kind="reply"))])
        assert [(p.at, p.action.step_id, p.outcome) for p in plan] == [
            (NOW, "confirm", None), (NOW, "before", None),
            (datetime(2024, 6, 19, 8, tzinfo=UTC), "pre_arrival", None),
            (datetime(2024, 6, 19, 8, tzinfo=UTC), "answer", "received"),
            (reply_at, "check", None), (reply_at, "done", None),
        ]
        assert state.events["reply"]["received"] is True


class TestRedeliveredEvents:
    def test_the_same_event_delivered_twice_is_received_once(self) -> None:
        from datetime import UTC, datetime

        from followthrough.dsl.interpreter import Context, RunState, receive
        from followthrough.dsl.schema import SequenceDefinition
        from followthrough.models.contact import ContactSnapshot
        from followthrough.models.runs import RunEvent

        definition = SequenceDefinition.model_validate({"name": "d", "steps": [
            {"id": "a", "type": "wait_for", "event": "reply", "timeout": "P1D"}]})
        state = RunState()
        ctx = Context(now=datetime(2026, 12, 1, tzinfo=UTC), contact=ContactSnapshot(id=1), data={})
        for _ in range(2):
            receive(definition, state, RunEvent(kind="reply", timeline_id=7), ctx)
        receive(definition, state, RunEvent(kind="reply", timeline_id=8), ctx)
        assert [e.timeline_id for e in state.inbox] == [7, 8]
