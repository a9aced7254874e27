"""The pure decision core of a sequence run: ``next_action(definition, state)``.

Workflow-safe and clock-free, so unit tests (and the admin preview) run it without a server and
the workflow only carries out what it decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from followthrough.dsl.durations import parse_duration
from followthrough.dsl.schema import SendStep, SequenceDefinition, WaitStep
from followthrough.models.runs import RunEvent
from followthrough.models.vocab import Category, RunStatus


@dataclass
class RunState:
    """Where a run is. ``visits`` counts how often each step was entered (ledger keys use it)."""

    position: int = 0
    visits: dict[str, int] = field(default_factory=dict)
    stop_reason: str | None = None

    def enter(self, step_id: str) -> int:
        self.visits[step_id] = self.visits.get(step_id, 0) + 1
        return self.visits[step_id]


@dataclass(frozen=True)
class Send:
    step: SendStep
    visit: int
    category: Category


@dataclass(frozen=True)
class Wait:
    step: WaitStep
    visit: int
    duration: timedelta


@dataclass(frozen=True)
class End:
    status: RunStatus
    reason: str | None = None


Action = Send | Wait | End


def next_action(definition: SequenceDefinition, state: RunState) -> Action:
    """Decide the next thing the run does and advance ``state`` past it."""
    if state.stop_reason is not None:
        return End(RunStatus.STOPPED, state.stop_reason)
    if state.position >= len(definition.steps):
        return End(RunStatus.COMPLETED, "end_of_sequence")
    step = definition.steps[state.position]
    state.position += 1
    visit = state.enter(step.id)
    if isinstance(step, SendStep):
        return Send(step, visit, step.category or definition.category)
    return Wait(step, visit, parse_duration(step.duration))


def stop_reason_for(definition: SequenceDefinition, event: RunEvent) -> str | None:
    """The reason an event stops the run (``stop_on``), or None when it does not."""
    if event.kind in definition.stop_on:
        channel = f" ({event.channel})" if event.channel else ""
        return f"{event.kind}{channel}"
    return None
