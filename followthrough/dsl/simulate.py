"""Run the interpreter on a simulated clock: the same decisions a real run makes, no I/O.

For the preview and for tests. Waits move the clock to their due time; scheduled events arrive
at their time (buffered exactly like the workflow's ``event`` signal); ``set`` changes the
simulated contact; sends and starts are only listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from followthrough.calendar import BUILTIN_CALENDARS, Calendar
from followthrough.dsl.interpreter import (
    Action,
    Context,
    End,
    RunState,
    SetValue,
    Wait,
    WaitFor,
    interrupted,
    next_action,
    receive,
    resolve_wait_for,
)
from followthrough.dsl.schema import SequenceDefinition
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import RunEvent


@dataclass(frozen=True)
class Planned:
    at: datetime  # when the action starts on the simulated clock
    action: Action
    outcome: str | None = None  # wait_for: "received" or "timed out"; waits: "interrupted"


def simulate(
    definition: SequenceDefinition, *, start: datetime, contact: ContactSnapshot,
    data: Mapping[str, Any] | None = None, calendars: Mapping[str, Calendar] | None = None,
    events: Iterable[tuple[datetime, RunEvent]] = (), max_actions: int = 5000,
) -> tuple[list[Planned], RunState]:
    """Every action until the run ends (or ``max_actions``), with its simulated time."""
    pending = sorted(events, key=lambda pair: pair[0])
    state = RunState()
    ctx = Context(now=start, contact=contact, data=dict(data or {}),
                  calendars=dict(calendars if calendars is not None else BUILTIN_CALENDARS))
    plan: list[Planned] = []

    def deliver_until(limit: datetime, kind: str | None) -> datetime | None:
        """Deliver events due by ``limit``; the time the wait ends early, if it does."""
        nonlocal ctx
        while pending and pending[0][0] <= limit:
            at, event = pending.pop(0)
            ctx = replace(ctx, now=max(at, ctx.now))
            receive(definition, state, event, ctx)
            if interrupted(state) or (kind is not None and event.kind == kind):
                return ctx.now
        return None

    for _ in range(max_actions):
        deliver_until(ctx.now, None)
        action = next_action(definition, state, ctx)
        started = ctx.now
        if isinstance(action, Wait):
            early = deliver_until(action.until, None)
            plan.append(Planned(started, action, "interrupted" if early else None))
            ctx = replace(ctx, now=early or action.until)
        elif isinstance(action, WaitFor):
            early = deliver_until(action.until, action.event)
            ctx = replace(ctx, now=early or action.until)
            outcome = "interrupted" if interrupted(state) else (
                "received" if resolve_wait_for(state, action) else "timed out")
            plan.append(Planned(started, action, outcome))
        else:
            plan.append(Planned(ctx.now, action))
        if isinstance(action, SetValue):
            attributes = {**ctx.contact.attributes, action.key: action.value}
            ctx = replace(ctx, contact=ctx.contact.model_copy(update={"attributes": attributes}))
        if isinstance(action, End):
            break
    return plan, state
