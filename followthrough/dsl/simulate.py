"""Run the interpreter on a simulated clock: the same decisions a real run makes, no I/O.

For the preview and for tests. Waits move the clock to their due time; scheduled events arrive
at their time (buffered exactly like the workflow's ``event`` signal); ``set`` changes the
simulated contact; starts are only listed, and so are tasks (a task's wait ends with a scheduled
``task.completed`` event, or its timeout; without either the preview ends there, waiting). Sends are only listed too, unless a dry-run ``door``
is given: it answers each send as the delivery door would, and "deferred until T" (quiet hours,
a cap, a hold) moves the clock to T and asks again, exactly like the workflow's deferral loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from followthrough.calendar import BUILTIN_CALENDARS, Calendar
from followthrough.dsl.interpreter import (
    Action,
    Context,
    CreateTask,
    End,
    RunState,
    Send,
    SetValue,
    Wait,
    WaitFor,
    awaited,
    interrupted,
    next_action,
    receive,
    resolve_wait_for,
)
from followthrough.dsl.schema import SequenceDefinition
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import RunEvent

#: A dry-run delivery door: asked for a send at ``ctx.now``, it returns when to ask again (the
#: door said "deferred until T") or None once the send is settled (sent, skipped, failed).
Door = Callable[[Send, Context], datetime | None]
#: The workflow never asks again sooner than this after a deferral (workflows/sequence.py).
MIN_DEFERRAL = timedelta(seconds=1)


@dataclass(frozen=True)
class Planned:
    at: datetime  # when the action starts on the simulated clock
    action: Action
    #: wait_for and waiting tasks: "received", "timed out" or "waiting" (no end in sight); waits,
    #: sends: "interrupted"
    outcome: str | None = None
    ended: datetime | None = None  # when it was over: a wait's end, a deferred send's last ask


def simulate(
    definition: SequenceDefinition, *, start: datetime, contact: ContactSnapshot,
    data: Mapping[str, Any] | None = None, calendars: Mapping[str, Calendar] | None = None,
    events: Iterable[tuple[datetime, RunEvent]] = (), max_actions: int = 5000,
    door: Door | None = None,
) -> tuple[list[Planned], RunState]:
    """Every action until the run ends (or ``max_actions``), with its simulated time."""
    pending = sorted(events, key=lambda pair: pair[0])
    state = RunState()
    ctx = Context(now=start, contact=contact, data=dict(data or {}),
                  calendars=dict(calendars if calendars is not None else BUILTIN_CALENDARS))
    plan: list[Planned] = []

    def deliver_until(limit: datetime | None, wait: WaitFor | None) -> datetime | None:
        """Deliver events due by ``limit`` (None: all); the time the wait ends early, if it does."""
        nonlocal ctx
        while pending and (limit is None or pending[0][0] <= limit):
            at, event = pending.pop(0)
            ctx = replace(ctx, now=max(at, ctx.now))
            receive(definition, state, event, ctx)
            if interrupted(state) or (wait is not None and awaited(wait, event)):
                return ctx.now
        return None

    def wait_for(started: datetime, wait: WaitFor, action: Action) -> Planned:
        nonlocal ctx
        early = deliver_until(wait.until, wait)
        if early is None and wait.until is None:
            return Planned(started, action, "waiting")
        ctx = replace(ctx, now=early or wait.until or ctx.now)
        outcome = "interrupted" if interrupted(state) else (
            "received" if resolve_wait_for(state, wait) else "timed out")
        return Planned(started, action, outcome, ctx.now)

    def deliver(action: Send) -> str | None:
        """Ask the door until the send is settled; "interrupted" when a stop (or the goal) ends
        a deferral first, as the workflow's durable wait does."""
        nonlocal ctx
        while door is not None and (until := door(action, ctx)) is not None:
            until = max(until, ctx.now + MIN_DEFERRAL)
            early = deliver_until(until, None)
            ctx = replace(ctx, now=early or until)
            if early:
                return "interrupted"
        return None

    for _ in range(max_actions):
        deliver_until(ctx.now, None)
        action = next_action(definition, state, ctx)
        started = ctx.now
        if isinstance(action, Wait):
            early = deliver_until(action.until, None)
            ctx = replace(ctx, now=early or action.until)
            plan.append(Planned(started, action, "interrupted" if early else None, ctx.now))
        elif isinstance(action, WaitFor):
            plan.append(wait_for(started, action, action))
        elif isinstance(action, CreateTask) and action.wait:
            plan.append(wait_for(started, action.waiting(None), action))
            if plan[-1].outcome == "waiting":
                break
        elif isinstance(action, Send) and door is not None:
            plan.append(Planned(started, action, deliver(action), ctx.now))
        else:
            plan.append(Planned(ctx.now, action))
        if isinstance(action, SetValue):
            attributes = {**ctx.contact.attributes, action.key: action.value}
            ctx = replace(ctx, contact=ctx.contact.model_copy(update={"attributes": attributes}))
        if isinstance(action, End):
            break
    return plan, state
