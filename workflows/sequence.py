"""SequenceWorkflow: carries out what the pure interpreter decides.

Every decision (which step, which branch, when a wait ends, whether the goal is reached) is made
by ``followthrough.dsl.interpreter`` from the state, the contact snapshot and ``workflow.now()``;
this class only sends, sleeps on durable timers, waits for events and records what happened.
Events arriving at any time are buffered in the state (the ``event`` signal), never lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.contacts import ContactActivities
    from activities.delivery import DeliveryActivities
    from activities.leads import LeadActivities
    from activities.runs import RunActivities
    from activities.tasks import TaskActivities
    from followthrough.calendar import calendars_with
    from followthrough.dsl.interpreter import (
        Context,
        CreateTask,
        End,
        HandToLead,
        Note,
        RunState,
        Send,
        SetValue,
        StartDefinition,
        Wait,
        WaitFor,
        has_event,
        interrupted,
        next_action,
        reads_contact,
        receive,
        resolve_wait_for,
        settled_end,
    )
    from followthrough.dsl.schema import parsed_definition
    from followthrough.ids import ledger_key
    from followthrough.models.contact import ContactSnapshot
    from followthrough.models.leads import LeadStepInput
    from followthrough.models.runs import (
        SEQUENCE_BEHAVIOUR,
        DeliverInput,
        DeliverResult,
        GiveUpInput,
        LoadContactInput,
        PinHolidaysInput,
        RunCarry,
        RunEnd,
        RunEvent,
        RunFinish,
        SequenceInput,
        SequenceResult,
        SetAttributeInput,
        StartSequenceInput,
        StepRecord,
        StepRecords,
    )
    from followthrough.models.tasks import RelativeDue, RunTaskInput
    from followthrough.models.vocab import STEP_STATE_OF_LEDGER, LedgerState, RunStatus, StepState
    from workflows._support import (
        BOOKKEEPING_RETRY,
        BOOKKEEPING_START_TO_CLOSE,
        DELIVERY_HEARTBEAT,
        DELIVERY_RETRY,
        DELIVERY_SCHEDULE_TO_CLOSE,
        DELIVERY_START_TO_CLOSE,
        START_RETRY,
        START_SCHEDULE_TO_CLOSE,
        START_TO_CLOSE,
    )

In = TypeVar("In")  # an activity's input and result
Out = TypeVar("Out")

#: Versioning (README "Versioning workflows"): each change that alters the commands a run
#: issues is behind ``workflow.patched(<id>)``, so histories recorded before it still replay.
#: Cancelling waits for an in-flight send's outcome and closes the step under way.
PATCH_CANCEL_CLOSES_STEP = "cancel-closes-step"
#: A long-lived run continues as new at a wait boundary (Temporal's suggestion, or the input's
#: ``history_limit``), carrying its state.
PATCH_CONTINUE_AS_NEW = "continue-as-new-at-wait"
#: Step records are not a local activity each: they are held and written together by the next
#: activity the run calls anyway (load the contact, finish; a retried delivery), or before it waits.
PATCH_LEAN_BOOKKEEPING = "lean-bookkeeping"
#: A run started before holidays were pinned pins them at its first decision carried out by
#: this code (``late-holidays-<n>``, n = the decision's number in this run). ``patched`` is
#: memoized per id, and every decision replayed from an older history must answer False
#: without a command, so each decision asks under an id of its own; the first live one pins.
PATCH_LATE_HOLIDAYS = "late-holidays"
#: An ``internal`` send without ``to_user`` goes to the contact's owner (before: a skipped step).
PATCH_OWNER_RECIPIENT = "internal-to-owner"
#: A run whose input carries the contact (enrollment read it) starts from that snapshot
#: instead of loading it with a local activity (issue 9: one local activity less per run).
PATCH_CONTACT_IN_INPUT = "contact-in-input"
#: A send deferred by a hold asks the door again as soon as the hold is lifted (the ``wake``
#: signal, sent by whoever lifts it) instead of at its next check.
PATCH_HOLD_WAKE = "hold-wake"
#: A run of a definition whose decisions never read the contact (``reads_contact``: no goal,
#: no condition or expression, no wait in the contact's zone, ...) does not reload it after
#: each wait (issue 9: a local activity per wait); the held step records go with the next
#: activity instead. Delivery reads the contact itself, as it always did.
PATCH_CONTACT_WHEN_READ = "contact-when-read"
#: Step records are no longer written before each wait: the delivery the run calls next writes
#: the ones it is given in its claim's transaction (so the run drops them once it answers),
#: and the run's view reads the ones still held from the ``held_steps`` query (issue 9: a
#: local activity per wait). A run holding ``MAX_HELD_STEPS`` writes them before waiting.
PATCH_STEPS_WITH_ACTIVITIES = "steps-with-activities"
#: Step records a run may hold while it waits before it writes them itself (a run of waits
#: without sends would otherwise hold its whole history).
MAX_HELD_STEPS = 20
#: Every change above (but ``late-holidays``, which a run whose holidays enrollment pinned never
#: reaches), in one marker: a run enrolled before sequence behaviours and started by a worker
#: with the baseline asked only ``patched(PATCH_BASELINE)`` and took all of them, where it would
#: write a marker for each (issue 9: six markers per run). A run started before it answers no
#: here, during the replay of its first task, and asks for each change as before. Runs enrolled
#: for a behaviour write no marker at all (``_changes_taken``).
PATCH_BASELINE = "baseline-2026-12-04"
#: A run's last send (no step after it, no goal: ``settled_end``) ends the run: the delivery
#: that records ``sent`` closes the step and ends the run in that transaction, so the run
#: completes without the ``finish_run`` local activity (issue 9: about a tenth of the worker's
#: CPU per run). A stop or a cancel that comes during that send corrects the end.
PATCH_END_WITH_SEND = "end-with-last-send"
#: The changes ``PATCH_BASELINE`` stands for.
_BASELINE_CHANGES = frozenset({
    PATCH_CANCEL_CLOSES_STEP, PATCH_CONTINUE_AS_NEW, PATCH_LEAN_BOOKKEEPING, PATCH_OWNER_RECIPIENT,
    PATCH_CONTACT_IN_INPUT, PATCH_HOLD_WAKE, PATCH_CONTACT_WHEN_READ, PATCH_STEPS_WITH_ACTIVITIES})
#: The changes a run of behaviour ``SEQUENCE_BEHAVIOUR`` takes without any marker: all of them
#: (issue 9: a patch marker is two events and a visibility update per run on the server,
#: because the SDK upserts ``TemporalChangeVersion`` with each one). A change after these asks
#: ``workflow.patched`` for its own id, and becomes part of the next behaviour.
_BEHAVIOUR_CHANGES = {SEQUENCE_BEHAVIOUR: _BASELINE_CHANGES | {PATCH_END_WITH_SEND}}


# Not sandboxed (issue 9): the sandbox imported this module afresh for every new run and ran
# each activation through ``exec`` of its code strings; in the benchmark burst that was about a
# sixth of the worker's Python CPU per message. What the sandbox would catch is kept out by
# other means: the workflow and the pure core it calls make no I/O, clock or random calls
# (tests/test_architecture.py checks every module it imports from the core), and recorded
# histories of every version replay (tests/workflows/test_replay.py).
@workflow.defn(sandboxed=False)
class SequenceWorkflow:
    @workflow.init
    def __init__(self, input: SequenceInput) -> None:
        self._input = input
        self._definition = parsed_definition(input.definition)
        # Decisions read only pinned holiday dates; a run started before they were pinned gets
        # them at its first live decision (``_pin_late_holidays``), never from the package.
        self._calendars = calendars_with(input.calendars, input.holidays or {})
        self._contact = ContactSnapshot(id=input.contact_id)
        self._state = RunState()
        self._seq = 0
        self._current: str | None = None
        if input.carry is not None:  # a continuation: the timeline and ledger keys go on
            self._state = input.carry.state
            self._contact = input.carry.contact
            self._seq = input.carry.seq
            self._current = input.carry.current
        #: The step record still open (``active``/``deferred``), and the ledger key of the
        #: message being sent: what a cancellation must close.
        self._open: StepRecord | None = None
        self._sending: str | None = None
        #: Waits finished in this run: a continuation first makes progress before it may
        #: continue again (a big input alone can keep Temporal's suggestion on).
        self._waited = 0
        #: ``lean-bookkeeping``: step records not written yet, and whether the run holds them.
        self._lean = False
        self._unwritten: list[StepRecord] = []
        self._decisions = 0
        #: ``wake`` signals received: a deferred send asks again when this changes.
        self._wakes = 0
        #: The changes the run took when it started (``_changes_taken``), decided once, at its
        #: first question.
        self._changes: frozenset[str] | None = None
        #: ``end-with-last-send``: the end handed to the last send's delivery, and whether that
        #: delivery wrote it.
        self._end: RunEnd | None = None
        self._ended = False
        #: Whether a decision reads the contact (else it is not reloaded after waits).
        self._reads_contact = reads_contact(self._definition)

    def _patched(self, patch_id: str) -> bool:
        """Whether the run takes the change ``patch_id``: yes when the changes its start took
        (``_changes_taken``) include it, else ``workflow.patched`` as before."""
        if self._changes is None:
            self._changes = self._changes_taken()
        return patch_id in self._changes or workflow.patched(patch_id)

    def _changes_taken(self) -> frozenset[str]:
        """The changes the run took when it started, decided at its first question, which every
        run asks in its first workflow task:

        - a run enrolled for this behaviour (``SequenceInput.behaviour``) and started by this
          code takes all of them, and writes no marker;
        - the same run replayed finds no marker in that task, and takes them all again; but if a
          worker of an earlier version started it (an upgrade that reached the API first), that
          worker's baseline marker is there, and the run goes on as that worker began it;
        - a run enrolled before behaviours existed goes by its markers, as before: the baseline's
          changes when its first task wrote the marker, else each change asked for by its id.

        A run enrolled for a behaviour this code does not know fails its workflow task (Temporal
        retries it) until a worker that knows it takes the run."""
        behaviour = self._input.behaviour
        if behaviour > SEQUENCE_BEHAVIOUR:
            raise RuntimeError(f"this run needs a worker of sequence behaviour {behaviour} "
                               f"(this one has {SEQUENCE_BEHAVIOUR}): upgrade the workers")
        if behaviour and not workflow.unsafe.is_replaying():
            return _BEHAVIOUR_CHANGES[behaviour]
        if workflow.patched(PATCH_BASELINE):  # replaying a task that wrote it: no new marker
            return _BASELINE_CHANGES
        return _BEHAVIOUR_CHANGES[behaviour] if behaviour else frozenset()

    def _ctx(self) -> Context:
        return Context(now=workflow.now(), contact=self._contact, data=self._input.data,
                       calendars=self._calendars,
                       owner_recipient=self._patched(PATCH_OWNER_RECIPIENT))

    @workflow.signal
    def event(self, event: RunEvent) -> None:
        """An inbound event (a reply, a STOP, a custom event): buffered for a later ``wait_for``,
        then ``stop_on`` and the goal decide whether the run ends."""
        with _core():
            receive(self._definition, self._state, event, self._ctx())

    @workflow.signal
    def wake(self) -> None:
        """A hold on the contact was lifted: a send it deferred asks the door again now."""
        self._wakes += 1

    @workflow.query
    def current_step(self) -> str | None:
        return self._current

    @workflow.query
    def run_state(self) -> RunState:
        return self._state

    @workflow.query
    def held_steps(self) -> list[StepRecord]:
        """The step records not written to the runs table yet (the newest ones): the run's
        view shows them on top of the table's."""
        return list(self._unwritten)

    @workflow.run
    async def run(self, input: SequenceInput) -> SequenceResult:
        try:
            self._lean = self._patched(PATCH_LEAN_BOOKKEEPING)
            if input.carry is None and input.contact is not None and self._patched(PATCH_CONTACT_IN_INPUT):
                self._contact = input.contact
            else:
                await self._load_contact()
            while True:
                await self._pin_late_holidays()
                # Before a decision that may start a wait, keep the state as it is: the
                # continuation decides that same wait again (same visit, same due time).
                before = self._state.model_copy(deep=True) if self._continue_suggested() else None
                with _core():
                    action = next_action(self._definition, self._state, self._ctx())
                if (before is not None and isinstance(action, (Wait, WaitFor))
                        and workflow.all_handlers_finished() and self._patched(PATCH_CONTINUE_AS_NEW)):
                    await self._continue_as_new(before)
                if isinstance(action, End):
                    if action.step_id is not None:
                        self._seq += 1
                        await self._note(Note(action.step_id, 0, "exit", StepState.DONE, action.reason))
                    await self._finish(action.status, action.reason)
                    return SequenceResult(status=action.status, reason=action.reason)
                self._seq += 1
                self._current = action.step_id
                if isinstance(action, Send):
                    await self._send(action)
                elif isinstance(action, Wait):
                    await self._wait(action)
                elif isinstance(action, WaitFor):
                    await self._wait_for(action)
                elif isinstance(action, SetValue):
                    await self._set(action)
                elif isinstance(action, StartDefinition):
                    await self._start(action)
                elif isinstance(action, HandToLead):
                    await self._lead(action)
                elif isinstance(action, CreateTask):
                    await self._task(action)
                else:
                    await self._note(action)
        except BaseException as err:
            # A cancel reaches us as CancelledError while on a timer, but as an ActivityError
            # caused by a cancellation while an activity runs. Cancellation is a request:
            # bookkeeping may still run before we re-raise.
            if isinstance(err, asyncio.CancelledError) or is_cancelled_exception(err):
                if self._patched(PATCH_CANCEL_CLOSES_STEP):
                    await self._close_open_step()
                await self._finish(RunStatus.CANCELLED, "cancelled")
            raise

    async def _pin_late_holidays(self) -> None:
        """Pin the public holidays of a run started before they were pinned (its input has
        none), at the first decision this code carries out live; replayed decisions skip it."""
        if self._input.holidays is not None:
            return
        countries = sorted({str(doc["country"]) for doc in self._input.calendars.values()
                            if doc.get("country")})
        if not countries:
            return
        self._decisions += 1
        if not workflow.patched(f"{PATCH_LATE_HOLIDAYS}-{self._decisions}"):
            return
        year = workflow.now().year
        holidays = await workflow.execute_local_activity_method(
            RunActivities.pin_holidays,
            PinHolidaysInput(countries=countries, first_year=year - 1, last_year=year + 2),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE,
            retry_policy=BOOKKEEPING_RETRY,
        )
        self._input = self._input.model_copy(update={"holidays": holidays})
        self._calendars = calendars_with(self._input.calendars, holidays)

    def _continue_suggested(self) -> bool:
        """Whether the history has grown enough to continue as new at the next wait."""
        if self._waited == 0:
            return False
        info = workflow.info()
        limit = self._input.history_limit
        return info.is_continue_as_new_suggested() or (
            limit is not None and info.get_current_history_length() >= limit)

    async def _continue_as_new(self, state: RunState) -> NoReturn:
        """Hand the run to a fresh history: same workflow id, same search attributes (so the
        same run id in our table), same pinned definition, calendars and data. Holiday dates
        are pinned further ahead when the run has outlived most of its pinned years."""
        await self._write_steps()
        carry = RunCarry(state=state, contact=self._contact, seq=self._seq, current=self._current)
        update: dict[str, object] = {"carry": carry}
        pinned = self._input.holidays
        year = workflow.now().year
        if pinned and min(p.last_year for p in pinned.values()) < year + 1:
            update["holidays"] = await workflow.execute_local_activity_method(
                RunActivities.pin_holidays,
                PinHolidaysInput(countries=sorted(pinned), first_year=year - 1, last_year=year + 2),
                start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE,
                retry_policy=BOOKKEEPING_RETRY,
            )
        workflow.continue_as_new(self._input.model_copy(update=update))

    async def _close_open_step(self) -> None:
        """After a cancellation no step stays ``active``: a send is closed with its ledger row
        (a ``pending`` row becomes ``uncertain``, a message not yet sent ``skipped``), a wait as
        done."""
        record = self._open
        if record is None:
            return
        state, reason = StepState.DONE, "cancelled"
        if self._sending is not None:
            row_state = await workflow.execute_local_activity_method(
                DeliveryActivities.give_up,
                GiveUpInput(key=self._sending, reason="run cancelled", skipped=True),
                start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE,
                retry_policy=BOOKKEEPING_RETRY,
            )
            state = STEP_STATE_OF_LEDGER.get(row_state, StepState.SKIPPED) if row_state else StepState.SKIPPED
            reason = f"cancelled; message {row_state or 'not sent'}"
        await self._record(record.step_id, record.type, state, started_at=record.started_at,
                           finished_at=workflow.now(), due_at=record.due_at, reason=reason)

    async def _send(self, action: Send) -> None:
        started = workflow.now()
        self._sending = ledger_key(self._input.run_id, action.step_id, action.visit)
        await self._record(action.step_id, "send", StepState.ACTIVE, started_at=started)
        self._end, self._ended = self._end_after_send(self._open), False
        deliver_input = DeliverInput(
            run_id=self._input.run_id,
            step_id=action.step_id,
            visit=action.visit,
            contact_id=self._input.contact_id,
            channel=action.channel,
            template=action.template,
            category=action.category,
            fallbacks=list(action.fallbacks),
            data=self._input.data,
            definition_name=self._input.definition_name,
            brand=action.brand,
            to_user_id=action.to_user,
            urgent=action.urgent,
            legacy_to=action.legacy_to,
            end=self._end,
        )
        while True:
            # The policy decides at the run's clock, so a durable wait and the decision agree.
            # The held records go along: every attempt writes them in its claim's transaction.
            deliver_input = deliver_input.model_copy(
                update={"at": workflow.now(), "steps": list(self._unwritten)})
            state, reason, until = await self._deliver(deliver_input, action.step_id, action.visit)
            if workflow.cancellation_reason() is not None and self._patched(PATCH_CANCEL_CLOSES_STEP):
                # The send ended after the run was cancelled (we waited for its outcome, and
                # Temporal hands us the result): the cancellation still wins.
                raise asyncio.CancelledError("cancelled during a send")
            if state != StepState.DEFERRED or until is None:
                break
            # "Not now" (quiet hours, a cap, a hold): wait on a durable timer, then ask again
            # with the same key. A stop event (or the goal) ends the wait and the run.
            await self._record(action.step_id, "send", StepState.DEFERRED, started_at=started,
                               due_at=until, reason=reason)
            seen = self._wakes
            woken = (lambda seen=seen: self._wakes != seen) if self._patched(PATCH_HOLD_WAKE) else None
            if await self._sleep_until(max(until, workflow.now() + timedelta(seconds=1)), woken):
                if woken is not None and woken() and not interrupted(self._state):
                    continue  # a hold was lifted: ask the door again now, with the same key
                state, reason = StepState.SKIPPED, f"{self._why()} while deferred ({reason})"
                # Close the ledger row too, so the deferred message has a final state.
                await workflow.execute_local_activity_method(
                    DeliveryActivities.give_up,
                    GiveUpInput(key=ledger_key(self._input.run_id, action.step_id, action.visit),
                                reason=reason, skipped=True),
                    start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE,
                    retry_policy=BOOKKEEPING_RETRY,
                )
                break
        await self._record(
            action.step_id, "send", state, started_at=started, finished_at=workflow.now(), reason=reason
        )
        if self._ended:  # the delivery closed the step itself, with the run's end
            self._unwritten.pop()
        self._sending = None

    def _end_after_send(self, step: StepRecord | None) -> RunEnd | None:
        """The end to hand to the send about to start: the one the run reaches right after it,
        when nothing but an event or a cancel can change that (``settled_end``)."""
        end = settled_end(self._definition, self._state)
        # ``steps-with-activities`` too (asked after, so a history without this patch asks what
        # it asked before): the delivery's claim must be what writes the held records, else the
        # run would still hold the send's record as under way, and write it over the closed one.
        if (end is None or step is None or not self._lean or not self._patched(PATCH_END_WITH_SEND)
                or not self._patched(PATCH_STEPS_WITH_ACTIVITIES)):
            return None
        return RunEnd(status=end.status, reason=end.reason, step=step)

    async def _deliver(
        self, deliver_input: DeliverInput, step_id: str, visit: int
    ) -> tuple[StepState, str | None, datetime | None]:
        # A cancel waits for the send under way to finish and record its outcome (the activity
        # lets it run; see activities/delivery.py): an abandoned call would leave the ledger row
        # ``pending``. Runs started before this change keep their old behaviour on replay.
        cancellation = (ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
                        if self._patched(PATCH_CANCEL_CLOSES_STEP) else ActivityCancellationType.TRY_CANCEL)
        try:
            result: DeliverResult = await workflow.execute_activity_method(
                DeliveryActivities.deliver,
                deliver_input,
                start_to_close_timeout=DELIVERY_START_TO_CLOSE,
                schedule_to_close_timeout=DELIVERY_SCHEDULE_TO_CLOSE,
                heartbeat_timeout=DELIVERY_HEARTBEAT,
                retry_policy=DELIVERY_RETRY,
                cancellation_type=cancellation,
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            if workflow.cancellation_reason() is not None and self._patched(PATCH_CANCEL_CLOSES_STEP):
                # Temporal does not retry an activity of a cancelled run: this is not a give-up,
                # the cancellation closes the step with the ledger row's state.
                raise asyncio.CancelledError("cancelled during a send") from err
            # Retries exhausted (24 h) or a non-retryable error: the step fails, the run goes on.
            reason = _gave_up_reason(err)
            await workflow.execute_local_activity_method(
                DeliveryActivities.give_up,
                GiveUpInput(key=ledger_key(self._input.run_id, step_id, visit), reason=reason),
                start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE,
                retry_policy=BOOKKEEPING_RETRY,
            )
            return StepState.FAILED, reason, None
        if result.steps_written and self._patched(PATCH_STEPS_WITH_ACTIVITIES):
            # The delivery wrote these records (the door's claim transaction); a worker of an
            # older version says 0 and leaves them to the run.
            del self._unwritten[:result.steps_written]
        self._ended = result.ended and deliver_input.end is not None
        if result.state == LedgerState.DEFERRED:
            return StepState.DEFERRED, result.reason, result.defer_until
        return STEP_STATE_OF_LEDGER.get(result.state, StepState.FAILED), result.reason, None

    def _why(self) -> str:
        return "stopped" if self._state.stop_reason is not None else "goal reached"

    async def _sleep_until(self, until: datetime | None, also: Callable[[], bool] | None = None) -> bool:
        """Wait on a durable timer until ``until`` (None: no timer); True when the run was
        interrupted (stop, goal) or ``also`` became true first."""
        if interrupted(self._state) or (also is not None and also()):
            return True
        delay = until - workflow.now() if until is not None else None
        if delay is not None and delay <= timedelta(0):
            return False
        # What the run shows while it waits: written now, or (``steps-with-activities``) held
        # for the next activity, the run's view reading them from ``held_steps`` meanwhile.
        if not self._patched(PATCH_STEPS_WITH_ACTIVITIES) or len(self._unwritten) >= MAX_HELD_STEPS:
            await self._write_steps()
        try:
            await workflow.wait_condition(
                lambda: interrupted(self._state) or (also is not None and also()),
                timeout=delay, timeout_summary="wait" if delay is not None else None,
            )
            return True
        except TimeoutError:
            return False

    async def _wait(self, action: Wait) -> None:
        started = workflow.now()
        await self._record(action.step_id, "wait", StepState.ACTIVE, started_at=started,
                           due_at=action.until, reason=action.description)
        early = await self._sleep_until(action.until)
        self._waited += 1
        await self._record(
            action.step_id, "wait", StepState.DONE, started_at=started, finished_at=workflow.now(),
            due_at=action.until, reason=self._why() if early else action.description,
        )
        await self._refresh_contact()  # the contact may have changed while we waited

    async def _wait_for(self, action: WaitFor, type_: str = "wait_for", waiting: str | None = None) -> None:
        started = workflow.now()
        await self._record(action.step_id, type_, StepState.ACTIVE, started_at=started,
                           due_at=action.until, reason=waiting or f"waiting for {action.event}")
        await self._sleep_until(action.until, lambda: has_event(self._state, action))
        self._waited += 1
        if interrupted(self._state):
            reason = self._why()
        elif resolve_wait_for(self._state, action):
            got = self._state.events[action.store_as]["data"]
            reason = (f"{action.event} received" if action.task_id is None
                      else f"task {action.task_id} {got.get('state')}: {got.get('outcome')}")
        else:
            reason = "timed out"
        await self._record(
            action.step_id, type_, StepState.DONE, started_at=started,
            finished_at=workflow.now(), due_at=action.until, reason=reason,
        )
        await self._refresh_contact()

    async def _task(self, action: CreateTask) -> None:
        """Create the step's task (an idempotent activity: one task per run, step and visit);
        with ``wait``, wait for it to end (its workflow signals ``task.completed`` or
        ``task.cancelled`` to this run) or for the timeout."""
        result, gave_up = await self._run_activity(
            TaskActivities.create_for_run,
            RunTaskInput(run_id=self._input.run_id, step_id=action.step_id, visit=action.visit,
                         contact_id=self._input.contact_id, kind=action.kind, title=action.title,
                         note=action.note, due=RelativeDue(**action.due) if action.due is not None else None,
                         due_at=action.due_at, owner_id=action.owner, priority=action.priority,
                         at=workflow.now()),
        )
        if result is None:
            # The database or Temporal stayed unavailable for an hour: the step fails, the run goes on.
            await self._no_task(action, StepState.FAILED, gave_up)
            return
        if result.task_id is None:
            await self._no_task(action, StepState.SKIPPED, result.reason)
            return
        made = f"task {result.task_id} for user {result.owner_id}, due {result.due_at:%Y-%m-%d %H:%M} UTC"
        if not action.wait:
            await self._note(Note(action.step_id, action.visit, "task", StepState.DONE, made))
            return
        await self._wait_for(action.waiting(result.task_id), "task", f"{made}; waiting for it")

    async def _set(self, action: SetValue) -> None:
        try:
            self._contact = await workflow.execute_local_activity_method(
                ContactActivities.set_attribute,
                SetAttributeInput(run_id=self._input.run_id, step_id=action.step_id,
                                  contact_id=self._input.contact_id, key=action.key, value=action.value),
                start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE,
                retry_policy=BOOKKEEPING_RETRY,
            )
        except (ActivityError, ApplicationError) as err:
            # A local activity's failure arrives as its ApplicationError, not wrapped.
            cause = err.cause if isinstance(err, ActivityError) else err
            if is_cancelled_exception(err) or not isinstance(cause, ApplicationError) or (
                    cause.type != "AttributesTooLarge"):
                raise
            await self._note(Note(action.step_id, action.visit, "set", StepState.FAILED, cause.message))
            return
        await self._note(Note(action.step_id, action.visit, "set", StepState.DONE,
                              f"{action.key} = {action.value!r}"))

    async def _start(self, action: StartDefinition) -> None:
        result, gave_up = await self._run_activity(
            ContactActivities.start_sequence,
            StartSequenceInput(run_id=self._input.run_id, step_id=action.step_id,
                               contact_id=self._input.contact_id, definition=action.definition,
                               data=dict(action.data)),
        )
        if result is None:
            await self._note(Note(action.step_id, action.visit, "start", StepState.FAILED, gave_up))
            return
        if result.run_id is None:
            await self._note(Note(action.step_id, action.visit, "start", StepState.FAILED, result.reason))
        else:
            what = "started" if result.created else "already running"
            await self._note(Note(action.step_id, action.visit, "start", StepState.DONE,
                                  f"{action.definition}: run {result.run_id} {what}"))

    async def _lead(self, action: HandToLead) -> None:
        """A ``lead`` step (new in issue 12: no history has one, so no patch)."""
        result, gave_up = await self._run_activity(
            LeadActivities.hand_over,
            LeadStepInput(run_id=self._input.run_id, step_id=action.step_id, visit=action.visit,
                          contact_id=self._input.contact_id, source=action.source,
                          attributes=dict(action.attributes)),
        )
        if result is None or result.lead_id is None:
            why = gave_up if result is None else result.reason
            await self._note(Note(action.step_id, action.visit, "lead", StepState.FAILED, why))
            return
        what = "new" if result.created else "open"
        await self._note(Note(action.step_id, action.visit, "lead", StepState.DONE, f"lead {result.lead_id} ({what})"))

    async def _run_activity(self, method: Callable[[Any, In], Awaitable[Out]], input: In) -> tuple[Out | None, str]:
        """A step's activity on our database and Temporal (``start``, ``task``), retried for up
        to an hour: (its result, ""), or (None, why it gave up). The held step records are
        written first, so the run shows the step under way."""
        await self._write_steps()
        try:
            result = await workflow.execute_activity_method(
                method, input, start_to_close_timeout=START_TO_CLOSE,
                schedule_to_close_timeout=START_SCHEDULE_TO_CLOSE, retry_policy=START_RETRY,
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            return None, f"gave up: {err.cause or err}"
        return result, ""

    async def _no_task(self, action: CreateTask, state: StepState, reason: str | None) -> None:
        if action.wait:  # conditions see a task that never came: not received
            self._state.events[action.store_as or "task"] = {"received": False, "data": {}}
        await self._note(Note(action.step_id, action.visit, "task", state, reason))

    async def _note(self, note: Note) -> None:
        now = workflow.now()
        await self._record(note.step_id, note.type, note.state, started_at=now, finished_at=now,
                           reason=note.reason)

    async def _refresh_contact(self) -> None:
        """After a wait: reload the snapshot, unless no decision of this definition reads it."""
        if not self._reads_contact and self._patched(PATCH_CONTACT_WHEN_READ):
            return
        await self._load_contact()

    async def _load_contact(self) -> None:
        """Refresh the snapshot conditions and waits read; a deleted contact keeps the last one
        (its sends are then skipped by delivery)."""
        try:
            self._contact = await workflow.execute_local_activity_method(
                ContactActivities.load_contact,
                LoadContactInput(contact_id=self._input.contact_id, steps=self._take()),
                start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE,
                retry_policy=BOOKKEEPING_RETRY,
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            workflow.logger.warning("contact %s could not be loaded", self._input.contact_id)

    async def _record(self, step_id: str, type_: str, state: StepState, **times) -> None:  # type: ignore[no-untyped-def]
        record = StepRecord(
            run_id=self._input.run_id, seq=self._seq, step_id=step_id, type=type_, state=state,
            **times,
        )
        self._open = record if state in (StepState.ACTIVE, StepState.DEFERRED) else None
        if self._lean:
            self._unwritten.append(record)
            return
        await workflow.execute_local_activity_method(
            RunActivities.record_step,
            record,
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE,
            retry_policy=BOOKKEEPING_RETRY,
        )

    def _take(self) -> list[StepRecord]:
        """The step records not written yet, for the activity about to write them."""
        taken, self._unwritten = self._unwritten, []
        return taken

    async def _write_steps(self) -> None:
        """Write the held step records now (``lean-bookkeeping``), if there are any."""
        if self._unwritten:
            await workflow.execute_local_activity_method(
                RunActivities.record_steps,
                StepRecords(steps=self._take()),
                start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE,
                retry_policy=BOOKKEEPING_RETRY,
            )

    async def _finish(self, status: RunStatus, reason: str | None) -> None:
        end = self._end
        if self._ended and end is not None and (end.status, end.reason) == (status, reason) and not self._unwritten:
            return  # the last send's delivery ended the run so (``end-with-last-send``)
        await workflow.execute_local_activity_method(
            RunActivities.finish_run,
            RunFinish(run_id=self._input.run_id, status=status, reason=reason, steps=self._take(),
                      corrects=end.status if end is not None else None),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE,
            retry_policy=BOOKKEEPING_RETRY,
        )


@contextmanager
def _core() -> Iterator[None]:
    """Run a decision of the pure core. Jinja2 (compiling an expression) imports modules lazily:
    those imports must reach the real package, not fresh sandboxed copies. Nothing here leaves
    the sandbox: public holidays come pinned in the input, never from the ``holidays`` package."""
    with workflow.unsafe.imports_passed_through():
        yield


def _gave_up_reason(err: ActivityError) -> str:
    cause = err.cause
    if cause is not None and getattr(cause, "type", None) in ("PermanentChannelError", "RenderError"):
        return f"{cause.type}: {cause}"  # type: ignore[union-attr]
    return "gave_up"


