"""Property tests: generated step graphs never crash the interpreter; broken ones are rejected."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followthrough.dsl.interpreter import End
from followthrough.dsl.simulate import simulate
from followthrough.dsl.validate import validate
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import RunEvent

START = datetime(2024, 6, 7, 14, tzinfo=UTC)
CONTACT = ContactSnapshot(id=3, time_zone="Europe/Budapest", attributes={"arrival_date": "2024-07-01"})
CONDITIONS = ["lead.score > 5", "events.reply.received", "run.visits.s0 < 3", "data.x", "1 / 0", "contact.nope"]
EVENTS = ["reply", "ticket.resolved", "paid"]


def _step(draw: st.DrawFn, index: int, ids: list[str]) -> dict[str, Any]:
    target = st.sampled_from(ids)
    kind = draw(st.sampled_from(["send", "wait", "wait_for", "if", "split", "goto", "exit", "set", "start"]))
    step: dict[str, Any] = {"id": ids[index], "type": kind}
    if kind == "send":
        step |= {"channel": draw(st.sampled_from(["email", "sms", "voice", "internal"])), "template": "t"}
    elif kind == "wait":
        step |= draw(st.sampled_from([
            {"duration": "PT1H"}, {"business": {"duration": "PT4H", "calendar": "budapest_office"}},
            {"until_local_time": "09:30"}, {"until_date": {"attribute": "contact.attributes.arrival_date", "offset": "-P1D"}},
            {"until_date": {"attribute": "data.missing"}},
        ]))
    elif kind == "wait_for":
        step |= {"event": draw(st.sampled_from(EVENTS)), "timeout": "P1D"}
    elif kind == "if":
        step |= {"condition": draw(st.sampled_from(CONDITIONS)), "then": draw(target)}
        if draw(st.booleans()):
            step["else"] = draw(target)
    elif kind == "split":
        first = draw(st.integers(0, 100))
        step["variants"] = [{"percent": first, "goto": draw(target)}, {"percent": 100 - first, "goto": draw(target)}]
    elif kind == "goto":
        step["goto"] = draw(target)
    elif kind == "set":
        step |= {"target": "lead.score", "expression": "lead.score + 10"}
    elif kind == "start":
        step["definition"] = "other"
    return step


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 10))
    ids = [f"s{i}" for i in range(count)]
    steps = [_step(draw, i, ids) for i in range(count)]
    top: dict[str, Any] = {"name": "generated", "steps": steps}
    if draw(st.booleans()):
        top["goal"] = draw(st.sampled_from(CONDITIONS))
    if draw(st.booleans()):
        top["stop_on"] = ["reply"]
    return top


def _events(draw: st.DrawFn) -> list[tuple[datetime, RunEvent]]:
    from datetime import timedelta
    return [(START + timedelta(hours=draw(st.integers(0, 72))), RunEvent(kind=draw(st.sampled_from(EVENTS))))
            for _ in range(draw(st.integers(0, 3)))]


@st.composite
def runs(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[datetime, RunEvent]]]:
    return draw(documents()), _events(draw)


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class TestNeverCrashes:
    @SETTINGS
    @given(runs())
    def test_valid_definitions_run_to_an_end_on_a_simulated_clock(self, run: tuple) -> None:
        document, events = run
        definition, errors, _ = validate(document, lambda *a: True)
        if definition is None:
            assert errors and all(e.path.startswith("/") for e in errors)
            return
        plan, _ = simulate(definition, start=START, contact=CONTACT, data={"x": 1}, events=events, max_actions=3000)
        assert plan
        # Valid definitions have no wait-less loop, so the loop guard never fires.
        assert not (isinstance(plan[-1].action, End) and (plan[-1].action.reason or "").startswith("loop"))

    @SETTINGS
    @given(documents())
    def test_even_semantically_invalid_graphs_only_end_never_raise(self, document: dict[str, Any]) -> None:
        from followthrough.dsl.schema import SequenceDefinition

        definition = SequenceDefinition.model_validate(document)
        plan, _ = simulate(definition, start=START, contact=CONTACT, max_actions=2500)
        assert plan


BREAKERS = [
    lambda d: d["steps"].append(dict(d["steps"][0])),  # duplicate id
    lambda d: d["steps"].append({"id": "zz", "type": "goto", "goto": "nowhere"}),
    lambda d: d["steps"].insert(0, {"id": "bad_wait", "type": "wait", "duration": "soon"}),
    lambda d: d.update(goal="import os"),
    lambda d: d["steps"].insert(0, {"id": "sp", "type": "split", "variants": [{"percent": 30, "goto": "sp"}]}),
    lambda d: d["steps"].insert(0, {"id": "bad", "type": "teleport"}),
    lambda d: d["steps"].insert(0, {"id": "ex", "type": "exit", "reason": "early"}),  # the rest is unreachable
    lambda d: d["steps"].insert(0, {"id": "q", "type": "if", "condition": "contact.__class__", "then": "q"}),
]


class TestInvalidAreRejected:
    @SETTINGS
    @given(documents(), st.sampled_from(range(len(BREAKERS))))
    def test_a_broken_definition_has_at_least_one_error_path(self, document: dict[str, Any], breaker: int) -> None:
        BREAKERS[breaker](document)
        definition, errors, _ = validate(document, lambda *a: True)
        assert definition is None
        assert errors and all(e.path.startswith("/") for e in errors)
