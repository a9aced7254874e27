"""TaskWorkflow: one task (``task-<id>``) from creation to done or cancelled.

What happens next is decided by ``followthrough.tasks.lifecycle`` (pure); this class waits on
durable timers, sends through the one delivery door, keeps the tasks row in step (an idempotent
local activity) and answers the actions: Temporal Updates whose validators refuse an invalid
transition before anything is written, and which return the task's new state.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.tasks import TaskActivities
    from followthrough import ids
    from followthrough.models.runs import DeliverInput, DeliverResult
    from followthrough.models.tasks import (
        CancelInput,
        CompleteInput,
        Invite,
        MessageDataInput,
        NextOccurrenceInput,
        ReassignInput,
        RescheduleInput,
        SnoozeInput,
        TaskEndedInput,
        TaskEntity,
        TaskInput,
        TaskResult,
        TaskSync,
        TaskView,
    )
    from followthrough.models.vocab import Category, Channel, LedgerState, TaskPriority, TaskState
    from followthrough.tasks import lifecycle
    from followthrough.tasks.lifecycle import Next
    from workflows import _door as door
    from workflows._support import (
        BOOKKEEPING_RETRY,
        BOOKKEEPING_START_TO_CLOSE,
        START_RETRY,
        START_SCHEDULE_TO_CLOSE,
        START_TO_CLOSE,
    )
    from workflows._waits import until_or_change

#: Versioning (README "Versioning workflows"): a reminder the owner's working time or absence
#: held past the due time starts the overdue clock when it goes out (histories from before
#: counted from the due time).
PATCH_OVERDUE_AFTER_REMINDER = "task-overdue-after-reminder"

#: Templates of a task's messages (templates/<channel>/<name>.<locale>.*).
REMINDER, OVERDUE, CANCELLED, DIGEST = "task_reminder", "task_overdue", "task_cancelled", "task_overdue_digest"


# Not sandboxed: thousands of tasks stay open for hours, each a cached run. The sandbox's copy of
# this module per run cost ~50 KiB and, for a run evicted from the cache, several ms of
# re-import when its reminder's timer fired (bench/reminders.py, RESULTS.md). What the sandbox
# would catch is kept out by other means: the workflow code and the pure core it calls make no
# I/O or clock calls (tests/test_architecture.py), and every history replays (test_task_replay).
@workflow.defn(sandboxed=False)
class TaskWorkflow:
    @workflow.init
    def __init__(self, input: TaskInput) -> None:
        self._input = input
        self._task = input.entity
        #: Guards the awaiting handlers (and the run's own writes) against each other.
        self._lock = asyncio.Lock()
        #: Raised by every action: what the run waits for besides its timer, and how a step
        #: under way learns that an action overtook it.
        self._changes = 0

    # -- queries and updates ------------------------------------------------------------

    @workflow.query
    def view(self) -> TaskView:
        return self._view()

    @workflow.update
    async def complete(self, input: CompleteInput) -> TaskView:
        return await self._act("complete", lambda: lifecycle.complete(self._task, input.outcome, input.note))

    @complete.validator
    def _check_complete(self, input: CompleteInput) -> None:
        self._refuse("complete")

    @workflow.update
    async def snooze(self, input: SnoozeInput) -> TaskView:
        return await self._act("snooze", lambda: lifecycle.snooze(self._task, workflow.now(), input.duration),
                               duration=input.duration)

    @snooze.validator
    def _check_snooze(self, input: SnoozeInput) -> None:
        self._refuse("snooze", duration=input.duration)

    @workflow.update
    async def reschedule(self, input: RescheduleInput) -> TaskView:
        return await self._act("reschedule", lambda: lifecycle.reschedule(self._task, input.due_at),
                               due_at=input.due_at)

    @reschedule.validator
    def _check_reschedule(self, input: RescheduleInput) -> None:
        self._refuse("reschedule", due_at=input.due_at)

    @workflow.update
    async def reassign(self, input: ReassignInput) -> TaskView:
        previous = self._task.owner_id
        view = await self._act("reassign", lambda: lifecycle.reassign(self._task, input.owner_id),
                               owner_id=input.owner_id)
        if previous in self._task.invited:  # their calendar drops the task
            await self._withdraw_invitation(previous)
        return view

    @reassign.validator
    def _check_reassign(self, input: ReassignInput) -> None:
        self._refuse("reassign", owner_id=input.owner_id)

    @workflow.update
    async def cancel(self, input: CancelInput) -> TaskView:
        view = await self._act("cancel", lambda: lifecycle.cancel(self._task))
        for owner in list(self._task.invited):
            await self._withdraw_invitation(owner)
        return view

    @cancel.validator
    def _check_cancel(self, input: CancelInput) -> None:
        self._refuse("cancel")

    def _refuse(self, action: lifecycle.Action, **details: object) -> None:
        reason = lifecycle.refusal(self._task, action, workflow.now(), **details)  # type: ignore[arg-type]
        if reason is not None:
            raise ApplicationError(reason, self._task.state.value, type="InvalidTransition")

    async def _act(self, action: lifecycle.Action, change, **details: object) -> TaskView:  # type: ignore[no-untyped-def]
        async with self._lock:
            # Validated on arrival; an action applied while this one waited may forbid it now.
            self._refuse(action, **details)
            self._task = change()
            self._changes += 1
            await self._sync()
            return self._view()

    # -- the run --------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: TaskInput) -> TaskResult:
        while True:
            step = lifecycle.plan(self._task, self._input.timings)
            if step.kind == "end":
                # Answer every action under way (a cancel still withdrawing invitations).
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._tell_run()
                return TaskResult(state=self._task.state, outcome=self._task.outcome,
                                  next_task_id=await self._next_occurrence())
            if self._continue_suggested() and workflow.all_handlers_finished():
                workflow.continue_as_new(self._input.model_copy(update={"entity": self._task}))
            seen = self._changes
            if not await self._sleep_until(step.at, seen) or self._changes != seen:
                # An action changed the task (also in the activation that fired the timer):
                # decide again.
                continue
            await self._carry_out(step, seen)

    async def _tell_run(self) -> None:
        """A sequence's ``task`` step made this task: its run hears that it ended; so does the
        entity that owns it (a lead's ``call`` task). Only such tasks carry a run or an entity,
        so tasks from the API (and histories from before entities) issue no new command."""
        task = self._task
        if task.run_id is None and task.entity is None:
            return
        await workflow.execute_activity_method(
            TaskActivities.tell_run,
            TaskEndedInput(task_id=task.task_id, run_id=task.run_id, entity=task.entity, state=task.state,
                           outcome=task.outcome),
            start_to_close_timeout=START_TO_CLOSE, schedule_to_close_timeout=START_SCHEDULE_TO_CLOSE,
            retry_policy=START_RETRY,
        )

    async def _next_occurrence(self) -> int | None:
        """A completed recurring task: its next occurrence becomes a new task (and workflow)."""
        if self._task.state != TaskState.DONE or not self._task.rrule:
            return None
        found = await workflow.execute_activity_method(
            TaskActivities.next_occurrence, NextOccurrenceInput(task_id=self._task.task_id),
            start_to_close_timeout=START_TO_CLOSE, schedule_to_close_timeout=START_SCHEDULE_TO_CLOSE,
            retry_policy=START_RETRY,
        )
        return found.task_id

    async def _sleep_until(self, until: datetime | None, seen: int) -> bool:
        """Wait for ``until`` (None: for ever); False when an action came first."""
        return await until_or_change(until, lambda: self._changes != seen, "task")

    async def _carry_out(self, step: Next, seen: int) -> None:
        task = self._task
        if step.kind == "remind":
            invite = Invite(uid=ids.task_workflow_id(task.task_id), sequence=task.sequence,
                            starts_at=task.due_at)
            result = await self._notify(REMINDER, "remind", task.round, invite=invite, seen=seen)
            if result is not None and self._changes == seen:
                sent = result.state in (LedgerState.SENT, LedgerState.DELIVERED)
                at = workflow.now() if workflow.patched(PATCH_OVERDUE_AFTER_REMINDER) else None
                self._task = lifecycle.reminded(self._task, invited=sent and result.channel == Channel.EMAIL, at=at)
                await self._locked_sync()
            elif result is None and self._changes == seen:
                self._task = lifecycle.reminded(self._task, invited=False)  # gave up: go on
        elif step.kind == "overdue":
            self._task = lifecycle.turned_overdue(task)
            await self._locked_sync()
            await self._notify(OVERDUE, "overdue", task.round, seen=self._changes)
        elif step.kind == "escalate":
            self._task = lifecycle.escalated(task, workflow.now(), self._input.timings)
            await self._locked_sync()
        elif step.kind == "digest":
            await self._digest(task)
            self._task = lifecycle.digest_sent(self._task)

    async def _digest(self, task: TaskEntity) -> None:
        """One message to the owner's manager for every task of the owner that reached the
        threshold in this window: each such task asks with the same ledger key, so the first
        sends and the others get its outcome."""
        window = task.escalated_at
        if window is None:
            return
        found = await workflow.execute_local_activity_method(
            TaskActivities.message,
            MessageDataInput(kind="digest", task_id=task.task_id, owner_id=task.owner_id, window=window),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY,
        )
        if found.to_user_id is None:
            return  # no manager, or nothing overdue any more
        visit = int(window.timestamp() // 60)
        await self._deliver(DeliverInput(
            run_id=ids.digest_run_id(found.to_user_id, task.owner_id), step_id="overdue", visit=visit,
            contact_id=None, to_user_id=found.to_user_id, channel=Channel.EMAIL,
            fallbacks=[Channel.SMS], template=DIGEST, category=Category.TRANSACTIONAL, data=found.data,
        ), seen=None)

    async def _notify(self, template: str, step_id: str, visit: int, *, seen: int | None,
                      invite: Invite | None = None, owner_id: int | None = None) -> DeliverResult | None:
        task = self._task
        found = await workflow.execute_local_activity_method(
            TaskActivities.message, MessageDataInput(kind="reminder", task_id=task.task_id),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY,
        )
        return await self._deliver(DeliverInput(
            run_id=ids.task_workflow_id(task.task_id), step_id=step_id, visit=visit,
            contact_id=task.contact_id, to_user_id=owner_id or task.owner_id,
            channel=Channel.EMAIL, fallbacks=[] if invite and invite.method == "CANCEL" else [Channel.SMS],
            template=template, category=Category.TRANSACTIONAL, data=found.data, invite=invite,
            # An urgent task's messages go now, even outside the owner's working time; so does
            # the reminder of a task the owner set due outside it (they chose that time).
            urgent=task.priority == TaskPriority.URGENT,
            chosen_at=task.due_at if step_id == "remind" else None,
        ), seen=seen)

    async def _withdraw_invitation(self, owner_id: int) -> None:
        """METHOD:CANCEL to an owner whose calendar holds the task (RFC 5546 §3.2.5)."""
        task = self._task
        invite = Invite(uid=ids.task_workflow_id(task.task_id), sequence=task.sequence + 1,
                        method="CANCEL", starts_at=task.due_at)
        await self._notify(CANCELLED, f"cancel-{owner_id}", task.round, seen=None, invite=invite,
                           owner_id=owner_id)
        self._task = self._task.model_copy(
            update={"invited": [o for o in self._task.invited if o != owner_id]})

    async def _deliver(self, input: DeliverInput, *, seen: int | None) -> DeliverResult | None:
        """Through the door; "not now" (the owner's working time) waits on a durable timer and
        asks again with the same key, unless an action changes the task meanwhile (``seen``):
        then the message is withdrawn. None: nothing was sent (withdrawn, or given up)."""
        async def wait(until: datetime) -> str | None:
            return None if await self._sleep_until(until, seen) else "task changed while deferred"

        result = await door.deliver(input, wait=None if seen is None else wait)
        return None if isinstance(result, door.GaveUp) else result

    # -- bookkeeping ----------------------------------------------------------------------

    async def _locked_sync(self) -> None:
        async with self._lock:
            await self._sync()

    async def _sync(self) -> None:
        """Write the row as the task is now (the caller holds the lock, so the last write
        carries the newest state)."""
        task = self._task
        await workflow.execute_local_activity_method(
            TaskActivities.sync,
            TaskSync(task_id=task.task_id, state=task.state, owner_id=task.owner_id, due_at=task.due_at,
                     snoozed_until=task.snoozed_until, ics_sequence=task.sequence, outcome=task.outcome,
                     note=task.note, escalated_at=task.escalated_at),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY,
        )

    def _continue_suggested(self) -> bool:
        info = workflow.info()
        limit = self._input.history_limit
        return info.is_continue_as_new_suggested() or (
            limit is not None and info.get_current_history_length() >= limit)

    def _view(self) -> TaskView:
        task = self._task
        return TaskView(task_id=task.task_id, state=task.state, owner_id=task.owner_id, due_at=task.due_at,
                        sequence=task.sequence, snoozed_until=task.snoozed_until, outcome=task.outcome)
