"""The pure decision core of a sequence run: ``next_action(definition, state, ctx)``.

Workflow-safe and clock-free (``ctx.now`` is given), so unit tests and the admin preview run the
very same semantics on a simulated clock; the workflow only carries out what it decides.

Flow per call: a stop (``stop_on``) ends the run as ``stopped``; the ``goal`` ends it as
``converted``; past the last step it is ``completed``; more than ``LOOP_LIMIT`` actions without a
wait end it as ``failed: loop``. Otherwise the step at ``state.position`` is entered and turned
into one action. Control steps (``if``, ``split``, ``goto``) and skipped steps come back as
``Note`` so they are recorded like any other step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from followthrough.calendar import BUILTIN_CALENDARS, Calendar
from followthrough.dsl import expressions
from followthrough.dsl.schema import (
    MAX_USER_ID,
    ExitStep,
    GotoStep,
    IfStep,
    LeadStep,
    SendStep,
    SequenceDefinition,
    SetStep,
    SplitStep,
    StartStep,
    TaskStep,
    WaitForStep,
    WaitStep,
)
from followthrough.dsl.waits import due_time, lookup, split_bucket, timeout_due
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import RunEvent, RunState
from followthrough.models.vocab import Category, Channel, RunStatus, StepState

LOOP_LIMIT = 1000
INBOX_LIMIT = 100  # buffered events kept for a later wait_for; the oldest go first


@dataclass(frozen=True)
class Context:
    """What a decision may look at besides the state."""

    now: datetime
    contact: ContactSnapshot = field(default_factory=ContactSnapshot)
    data: Mapping[str, Any] = field(default_factory=dict)
    calendars: Mapping[str, Calendar] = field(default_factory=lambda: dict(BUILTIN_CALENDARS))
    #: An ``internal`` send without ``to_user`` goes to the contact's owner (False: a run
    #: recorded before owners existed, where such a send was a skipped step).
    owner_recipient: bool = True


@dataclass(frozen=True)
class Send:
    step_id: str
    visit: int
    channel: Channel
    template: str
    category: Category
    fallbacks: tuple[Channel, ...] = ()
    #: An ``internal`` notification: the user it goes to (the door reads the address from the
    #: users table); None: the contact. No address ever comes from the run's data.
    to_user: int | None = None
    #: A version saved before ``to_user`` sent this to ``data.rep_email``: it still asks the door
    #: (same commands for histories recorded then), which only records it as skipped.
    legacy_to: bool = False
    #: The definition's ``brand`` (None: the setting's), filling ``data.company`` when rendering.
    brand: str | None = None
    #: A message to a user that goes even outside their working time or during an absence.
    urgent: bool = False
    type: str = "send"


@dataclass(frozen=True)
class Wait:
    step_id: str
    visit: int
    until: datetime
    description: str = ""
    type: str = "wait"


@dataclass(frozen=True)
class WaitFor:
    """Wait for ``event`` until ``until`` (None: for as long as it takes, a task's wait without
    a timeout). A task's wait names its task: only that task's end counts."""

    step_id: str
    visit: int
    event: str
    until: datetime | None
    store_as: str
    type: str = "wait_for"
    task_id: int | None = None


#: The events a task's workflow sends to the run that created it when it ends.
TASK_COMPLETED, TASK_CANCELLED = "task.completed", "task.cancelled"


@dataclass(frozen=True)
class CreateTask:
    """Create a task (``task`` step). ``due`` is the relative form (``after``, ``business``,
    ``at``, ``zone``) the owner's zone and calendar turn into an instant, or ``due_at`` one
    already known; ``owner`` None: the contact's owner. ``until``: the wait's end (with
    ``wait``; None without a timeout)."""

    step_id: str
    visit: int
    kind: str
    title: str
    note: str | None
    due: Mapping[str, Any] | None
    due_at: datetime | None
    owner: int | None
    priority: str
    wait: bool = False
    until: datetime | None = None
    store_as: str | None = None
    type: str = "task"

    def describe(self) -> str:
        """The task in words, for the run's step record and the preview."""
        owner = f"user {self.owner}" if self.owner is not None else "the contact's owner"
        if self.due_at is not None:
            due = self.due_at.isoformat()
        else:
            spec = self.due or {}
            zone = str(spec.get("zone", "owner"))
            due = f"in {spec.get('after')}{' working time' if spec.get('business') else ''}"
            if spec.get("at"):
                due += f" at {spec['at']}"
            due += f" ({zone}'s zone)" if zone in ("owner", "contact") else f" ({zone})"
        return f"{self.kind} '{self.title}' for {owner}, due {due}"

    def waiting(self, task_id: int | None) -> WaitFor:
        """The wait for this task's end (``task_id`` None in a preview: any task's end)."""
        return WaitFor(self.step_id, self.visit, TASK_COMPLETED, self.until, self.store_as or "task",
                       task_id=task_id)


@dataclass(frozen=True)
class SetValue:
    """Set contact attribute ``key`` (``lead.score`` is the attribute ``lead_score``)."""

    step_id: str
    visit: int
    key: str
    value: Any
    type: str = "set"


@dataclass(frozen=True)
class StartDefinition:
    step_id: str
    visit: int
    definition: str
    data: Mapping[str, Any]
    type: str = "start"


@dataclass(frozen=True)
class HandToLead:
    """A ``lead`` step: the contact goes to qualification (its open lead, or a new one)."""

    step_id: str
    visit: int
    source: str
    attributes: Mapping[str, Any]
    type: str = "lead"


@dataclass(frozen=True)
class Note:
    """A step decided without I/O (if, split, goto, a skipped wait or send): record it."""

    step_id: str
    visit: int
    type: str
    state: StepState
    reason: str | None = None


@dataclass(frozen=True)
class End:
    status: RunStatus
    reason: str | None = None
    step_id: str | None = None  # the exit step, when one ended the run


Action = Send | Wait | WaitFor | SetValue | StartDefinition | CreateTask | HandToLead | Note | End


def names(state: RunState, ctx: Context) -> dict[str, Any]:
    return expressions.scope(ctx.contact.model_dump(mode="json"), ctx.data, state.events, state.visits)


def goal_reached(definition: SequenceDefinition, state: RunState, ctx: Context) -> bool:
    """Evaluate the goal; an evaluation error counts as not reached and is kept in the state."""
    if state.converted:
        return True
    if definition.goal is None:
        return False
    reached, error = expressions.holds(definition.goal, names(state, ctx))
    state.goal_error = error
    state.converted = reached
    return reached


def next_action(definition: SequenceDefinition, state: RunState, ctx: Context) -> Action:
    """Decide the next thing the run does and advance ``state`` past it."""
    if state.stop_reason is not None:
        return End(RunStatus.STOPPED, state.stop_reason)
    if goal_reached(definition, state, ctx):
        return End(RunStatus.CONVERTED, "goal reached")
    if state.position >= len(definition.steps):
        return End(RunStatus.COMPLETED, "end_of_sequence")
    if state.since_wait >= LOOP_LIMIT:
        return End(RunStatus.FAILED, f"loop: {LOOP_LIMIT} steps without a wait")
    step = definition.steps[state.position]
    visit = state.enter(step.id)
    state.since_wait += 1
    state.position += 1  # the default: fall through; jumps overwrite it
    if isinstance(step, SendStep):
        return _send(definition, step, visit, ctx)
    if isinstance(step, WaitStep):
        return _wait(step, visit, state, ctx)
    if isinstance(step, WaitForStep):
        state.since_wait = 0
        try:
            until = timeout_due(step.timeout, ctx.now, ctx.contact.model_dump(mode="json"), ctx.calendars)
        except ValueError as exc:  # validation names these; a run can only meet them if data changed
            return End(RunStatus.FAILED, f"wait_for timeout: {exc}", step_id=step.id)
        return WaitFor(step.id, visit, step.event, until, step.store_as)
    if isinstance(step, ExitStep):
        return End(RunStatus.COMPLETED, step.reason, step_id=step.id)
    if isinstance(step, SetStep):
        return _set(step, visit, state, ctx)
    if isinstance(step, StartStep):
        return StartDefinition(step.id, visit, step.definition, dict(step.data))
    if isinstance(step, LeadStep):
        return HandToLead(step.id, visit, step.source, dict(step.attributes))
    if isinstance(step, TaskStep):
        return _task(step, visit, state, ctx)
    return _jump(definition, step, visit, state, ctx)


def settled_end(definition: SequenceDefinition, state: RunState) -> End | None:
    """The ``End`` that ``next_action`` returns next whatever the clock and the contact, unless
    an event changes ``state`` first (a stop): the run has no step left and no goal. None when
    that decision may depend on more. After a run's last send this is how it ends, so the
    delivery can end it in its outcome's transaction (``end-with-last-send``).

    Part of the replay contract, like ``reads_contact``: its answer decides whether a run calls
    ``finish_run``."""
    if state.stop_reason is not None or state.converted or definition.goal is not None:
        return None
    if state.position >= len(definition.steps):
        return End(RunStatus.COMPLETED, "end_of_sequence")
    return None


def reads_contact(definition: SequenceDefinition) -> bool:
    """Whether any decision of a run of ``definition`` reads the contact beyond its id: the
    goal, conditions and expressions, a send to the contact's owner or a user named by a path,
    a wait reckoned in the contact's zone or from one of its attributes, a timeout. A run of
    a definition that does not need not refresh its snapshot after a wait (issue 9: a local
    activity per wait). Conservative: a step type not listed here reads it.

    Part of the replay contract: its answer decides whether a run calls ``load_contact`` after
    a wait, so a change of its answer for a definition that open runs use changes their
    commands. Such a change goes behind a patch of its own (``workflows/sequence.py``)."""
    if definition.goal is not None:
        return True
    return any(_step_reads_contact(step) for step in definition.steps)


def _step_reads_contact(step: Any) -> bool:
    if isinstance(step, SendStep):
        return step.channel == "internal" and not isinstance(step.to_user, int)
    if isinstance(step, WaitStep):  # a duration or working time is reckoned in UTC
        return step.duration is None and step.business is None
    if isinstance(step, SetStep):  # a literal value; an expression may read it
        return step.expression is not None
    # exit, goto, a split (its bucket is the contact's id, which never changes), start, lead
    return not isinstance(step, (ExitStep, GotoStep, SplitStep, StartStep, LeadStep))


def _send(definition: SequenceDefinition, step: SendStep, visit: int, ctx: Context) -> Action:
    category = step.category or definition.category
    if step.channel == "internal":
        # A notification to a user (the contact's rep): an email through the same door, to the
        # address the users table holds for the user named here.
        owner = ctx.contact.owner_id if step.to_user is None and ctx.owner_recipient else None
        if owner is None and step.to_user is None and ctx.data.get("rep_email"):
            # Replay safety, not delivery: runs pinned to a version saved before to_user asked
            # the door here, and a replayed history must find the same commands. Only the fact
            # travels, never the address; the door skips it (people_policy.LEGACY_ADDRESS).
            return Send(step.id, visit, Channel.EMAIL, step.template, category, legacy_to=True,
                        brand=definition.brand)
        problem: str | None
        if step.to_user is None and ctx.owner_recipient:
            user_id, problem = owner, "the step names no user (to_user) and the contact has no owner"
        else:
            user_id, problem = user_ref(step.to_user, ctx)
        if user_id is None:
            return Note(step.id, visit, "send", StepState.SKIPPED, f"no_recipient: {problem}")
        # The channel is nominal: the door sends on the user's own channels, in their order.
        return Send(step.id, visit, Channel.EMAIL, step.template, category, to_user=user_id,
                    urgent=step.urgent, brand=definition.brand)
    return Send(step.id, visit, Channel(step.channel), step.template, category, tuple(step.fallback),
                brand=definition.brand)


def user_ref(ref: int | str | None, ctx: Context) -> tuple[int | None, str | None]:
    """The user id an ``internal`` send names: a literal id, or the value at a path into
    ``data`` / ``contact.attributes`` (an integer, or a string of digits as JSON from a CRM
    often carries ids). (id, None), or (None, why not)."""
    if ref is None:
        return None, "the step names no user (to_user)"
    if isinstance(ref, int):
        return ref, None
    value = lookup(ref, ctx.contact.model_dump(mode="json"), ctx.data)
    if value is None or value == "":
        return None, f"{ref} is not set"
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_USER_ID:
        return value, None
    return None, f"{ref} is not a user id ({repr(value)[:40]})"


def _wait(step: WaitStep, visit: int, state: RunState, ctx: Context) -> Action:
    due, description = due_time(step, ctx.now, ctx.contact.model_dump(mode="json"), ctx.data, ctx.calendars)
    if due is None:
        return Note(step.id, visit, "wait", StepState.SKIPPED, description)
    if due <= ctx.now:
        return Note(step.id, visit, "wait", StepState.DONE, f"{description}: due {due.isoformat()} has passed")
    state.since_wait = 0
    return Wait(step.id, visit, due, description)


def _task(step: TaskStep, visit: int, state: RunState, ctx: Context) -> Action:
    owner = None
    if step.owner is not None:
        owner, problem = user_ref(step.owner, ctx)
        if owner is None:
            return Note(step.id, visit, "task", StepState.SKIPPED, f"no_owner: {problem}")
    due, due_at = None, None
    if step.due.expression is not None:
        due_at, problem = _instant(step.due.expression, state, ctx)
        if due_at is None:
            return Note(step.id, visit, "task", StepState.SKIPPED, f"due: {problem}")
    else:
        due = step.due.model_dump(exclude={"expression"})
    until = None
    if step.wait:
        state.since_wait = 0
        if step.timeout is not None:
            try:
                until = timeout_due(step.timeout, ctx.now, ctx.contact.model_dump(mode="json"), ctx.calendars)
            except ValueError as exc:  # as a wait_for's: validation names these
                return End(RunStatus.FAILED, f"task timeout: {exc}", step_id=step.id)
    return CreateTask(step.id, visit, step.kind.value, step.title, step.note, due, due_at, owner,
                      step.priority.value, step.wait, until, step.as_)


def _instant(expression: str, state: RunState, ctx: Context) -> tuple[datetime | None, str | None]:
    """An expression's value as an instant: a datetime or an RFC 3339 string with an offset."""
    try:
        value = expressions.evaluate(expression, names(state, ctx))
    except expressions.ExpressionError as exc:
        return None, f"expression error: {exc}"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None, f"{expression} is not a date-time ({value[:40]!r})"
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None, f"{expression} is not a date-time with an offset ({repr(value)[:40]})"
    return value.astimezone(UTC), None


def _set(step: SetStep, visit: int, state: RunState, ctx: Context) -> Action:
    value = step.value
    if step.expression is not None:
        try:
            value = expressions.evaluate(step.expression, names(state, ctx))
        except expressions.ExpressionError as exc:
            return Note(step.id, visit, "set", StepState.FAILED, f"expression error: {exc}")
    key = "lead_score" if step.target == "lead.score" else step.target.split(".", 2)[2]
    return SetValue(step.id, visit, key, value)


def _jump(definition: SequenceDefinition, step: Any, visit: int, state: RunState, ctx: Context) -> Action:
    index = definition.index_of()
    if isinstance(step, IfStep):
        met, error = expressions.holds(step.condition, names(state, ctx))
        target = step.then if met else step.else_
        reason = error or ("true" if met else "false")
    elif isinstance(step, SplitStep):
        bucket, floor = split_bucket(ctx.contact.id, step.id), 0
        target = step.variants[-1].goto
        for variant in step.variants:
            floor += variant.percent
            if bucket < floor:
                target = variant.goto
                break
        reason = f"bucket {bucket}"
    elif isinstance(step, GotoStep):
        target, reason = step.goto, ""
    else:  # pragma: no cover - the schema admits no other step type
        return End(RunStatus.FAILED, f"unknown step type {step.type}", step_id=step.id)
    if target is not None:
        if target not in index:
            return End(RunStatus.FAILED, f"step '{step.id}' jumps to unknown step '{target}'", step_id=step.id)
        state.position = index[target]
        reason = f"{reason} -> {target}".strip(" ")
    else:
        reason = f"{reason} -> next step"
    return Note(step.id, visit, step.type, StepState.DONE, reason)


def receive(definition: SequenceDefinition, state: RunState, event: RunEvent, ctx: Context) -> None:
    """An event reached the run: keep it for a later ``wait_for``, show it to conditions as
    ``events.<kind>``, apply ``stop_on``, and check the goal. The same event delivered twice
    (an inbound webhook retried while its signals went out) counts once."""
    if event.timeline_id is not None:
        if (event.kind, event.timeline_id) in state.seen:
            return
        state.seen = [*state.seen, (event.kind, event.timeline_id)][-INBOX_LIMIT:]
    state.inbox = [*state.inbox, event][-INBOX_LIMIT:]
    state.events[event.kind] = {"received": True, "data": dict(event.data)}
    reason = stop_reason_for(definition, event)
    if reason is not None and state.stop_reason is None:
        state.stop_reason = reason
    if state.stop_reason is None:
        goal_reached(definition, state, ctx)


def has_event(state: RunState, action: WaitFor) -> bool:
    return any(awaited(action, e) for e in state.inbox)


def awaited(action: WaitFor, event: RunEvent) -> bool:
    """Whether ``event`` ends ``action``: its kind; for a task's wait, that task's end."""
    if action.task_id is not None:
        return event.kind in (TASK_COMPLETED, TASK_CANCELLED) and event.data.get("task_id") == action.task_id
    return event.kind == action.event


def resolve_wait_for(state: RunState, action: WaitFor) -> bool:
    """After a ``wait_for``: consume the oldest buffered event of its kind (True), or record the
    timeout (False). Conditions then read ``events.<store_as>.received`` / ``.data``."""
    for position, event in enumerate(state.inbox):
        if awaited(action, event):
            state.inbox = state.inbox[:position] + state.inbox[position + 1:]
            state.events[action.store_as] = {"received": True, "data": dict(event.data)}
            return True
    state.events[action.store_as] = {"received": False, "data": {}}
    return False


def interrupted(state: RunState) -> bool:
    """A wait ends early when the run was stopped or reached its goal."""
    return state.stop_reason is not None or state.converted


def stop_reason_for(definition: SequenceDefinition, event: RunEvent) -> str | None:
    """The reason an event stops the run (``stop_on``), or None when it does not."""
    if event.kind in definition.stop_on:
        channel = f" ({event.channel})" if event.channel else ""
        return f"{event.kind}{channel}"
    return None


def remaining(until: datetime, now: datetime) -> timedelta:
    return max(until - now, timedelta(0))
