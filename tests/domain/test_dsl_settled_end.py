"""``settled_end``: a run whose delivery is handed this end has it written when its last send
is over, and skips its own finish when it then decides the same (``end-with-last-send``). So
wherever ``settled_end`` names an end, ``next_action`` must decide exactly that end, whatever
the clock and the contact; only an event (a stop) may change it, and then the run corrects it.
Checked as a property over generated definitions of every step kind, at every decision."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from followthrough.dsl.interpreter import (
    Context,
    End,
    RunState,
    Send,
    next_action,
    receive,
    settled_end,
)
from followthrough.dsl.schema import SequenceDefinition
from followthrough.models.runs import RunEvent
from followthrough.models.vocab import RunStatus
from tests.domain.test_dsl_reads_contact import ANNA, ANNA_LATER, NOW, STEPS, _definition, walk

#: Clocks and contacts a later decision may meet: the same instant, a year on; either snapshot.
LATER = [Context(now=now, contact=contact) for now in (NOW, NOW + timedelta(days=400))
         for contact in (ANNA, ANNA_LATER)]


def _settled_ends(definition: SequenceDefinition) -> list[End]:
    """Walk a run; at every decision where ``settled_end`` names an end, check it against that
    decision in every later context. Returns the ends it named."""
    named = []
    for state, _action in walk(definition, ANNA):
        end = settled_end(definition, state)
        if end is not None:
            named.append(end)
            for ctx in LATER:
                assert next_action(definition, state.model_copy(deep=True), ctx) == end
    return named


@settings(max_examples=400, deadline=None)
@given(picks=st.lists(st.integers(0, len(STEPS) - 1), min_size=1, max_size=6), goal=st.booleans())
def test_a_settled_end_is_the_next_decision_in_any_context(picks: list[int], goal: bool) -> None:
    _settled_ends(_definition(picks, goal))


def test_a_last_send_has_a_settled_end_and_an_event_or_a_goal_unsettles_it() -> None:
    """The property above is not vacuous: a definition ending in a send names an end after it;
    a stop event changes that end (the run corrects it); a goal leaves nothing settled."""
    definition = _definition([0, 5, 1], goal=False)  # email, wait, sms
    assert _settled_ends(definition) == [End(RunStatus.COMPLETED, "end_of_sequence")]
    state = RunState()
    ctx = Context(now=NOW, contact=ANNA)
    while not isinstance(next_action(definition, state, ctx), Send) or state.position < 3:
        pass
    assert settled_end(definition, state) is not None
    stopping = definition.model_copy(update={"stop_on": ["reply"]})
    receive(stopping, state, RunEvent(kind="reply"), ctx)
    assert settled_end(stopping, state) is None
    assert next_action(stopping, state, ctx) == End(RunStatus.STOPPED, "reply")
    assert _settled_ends(_definition([0, 5, 1], goal=True)) == []
