"""SequenceWorkflow: carries out what the pure interpreter decides (send, wait, end)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.delivery import DeliveryActivities
    from activities.runs import RunActivities
    from followthrough.dsl.interpreter import (
        End,
        RunState,
        Send,
        Wait,
        next_action,
        stop_reason_for,
    )
    from followthrough.dsl.schema import SequenceDefinition
    from followthrough.ids import ledger_key
    from followthrough.models.runs import (
        DeliverInput,
        DeliverResult,
        GiveUpInput,
        RunEvent,
        RunFinish,
        SequenceInput,
        SequenceResult,
        StepRecord,
    )
    from followthrough.models.vocab import LedgerState, RunStatus, StepState
    from workflows._support import (
        BOOKKEEPING_RETRY,
        BOOKKEEPING_START_TO_CLOSE,
        DELIVERY_HEARTBEAT,
        DELIVERY_RETRY,
        DELIVERY_SCHEDULE_TO_CLOSE,
        DELIVERY_START_TO_CLOSE,
    )

#: Ledger outcome -> step state shown on the run.
_STEP_STATE = {
    LedgerState.SENT: StepState.SENT,
    LedgerState.DELIVERED: StepState.SENT,
    LedgerState.SKIPPED: StepState.SKIPPED,
    LedgerState.FAILED: StepState.FAILED,
    LedgerState.BOUNCED: StepState.FAILED,
    LedgerState.UNDELIVERED: StepState.FAILED,
    LedgerState.UNCERTAIN: StepState.UNCERTAIN,
}


@workflow.defn
class SequenceWorkflow:
    @workflow.init
    def __init__(self, input: SequenceInput) -> None:
        self._input = input
        self._definition = SequenceDefinition.model_validate(input.definition)
        self._state = RunState()
        self._seq = 0
        self._current: str | None = None

    @workflow.signal
    def event(self, event: RunEvent) -> None:
        """An inbound event for this run (a reply, a STOP); ``stop_on`` decides what it does."""
        reason = stop_reason_for(self._definition, event)
        if reason is not None and self._state.stop_reason is None:
            self._state.stop_reason = reason

    @workflow.query
    def current_step(self) -> str | None:
        return self._current

    @workflow.run
    async def run(self, input: SequenceInput) -> SequenceResult:
        try:
            while True:
                action = next_action(self._definition, self._state)
                if isinstance(action, End):
                    await self._finish(action.status, action.reason)
                    return SequenceResult(status=action.status, reason=action.reason)
                self._seq += 1
                self._current = action.step.id
                if isinstance(action, Send):
                    await self._send(action)
                elif isinstance(action, Wait):
                    await self._wait(action)
        except asyncio.CancelledError:
            # Cancellation is a request: bookkeeping may still run before we re-raise.
            await self._finish(RunStatus.CANCELLED, "cancelled")
            raise

    async def _send(self, action: Send) -> None:
        started = workflow.now()
        step = action.step
        await self._record(step.id, "send", StepState.ACTIVE, started_at=started)
        deliver_input = DeliverInput(
            run_id=self._input.run_id,
            step_id=step.id,
            visit=action.visit,
            contact_id=self._input.contact_id,
            channel=step.channel,
            template=step.template,
            category=action.category,
            fallbacks=list(step.fallback),
            data=self._input.data,
            definition_name=self._input.definition_name,
        )
        while True:
            state, reason, until = await self._deliver(deliver_input, step.id, action.visit)
            if state != StepState.DEFERRED or until is None:
                break
            # "Not now" (quiet hours, a cap, a hold): wait on a durable timer, then ask again
            # with the same key. A stop event ends the wait and the run.
            await self._record(step.id, "send", StepState.DEFERRED, started_at=started,
                               due_at=until, reason=reason)
            delay = max(until - workflow.now(), timedelta(seconds=1))
            if await self._sleep_unless_stopped(delay):
                state, reason = StepState.SKIPPED, f"stopped while deferred ({reason})"
                break
        await self._record(
            step.id, "send", state, started_at=started, finished_at=workflow.now(), reason=reason
        )

    async def _deliver(
        self, deliver_input: DeliverInput, step_id: str, visit: int
    ) -> tuple[StepState, str | None, datetime | None]:
        try:
            result: DeliverResult = await workflow.execute_activity_method(
                DeliveryActivities.deliver,
                deliver_input,
                start_to_close_timeout=DELIVERY_START_TO_CLOSE,
                schedule_to_close_timeout=DELIVERY_SCHEDULE_TO_CLOSE,
                heartbeat_timeout=DELIVERY_HEARTBEAT,
                retry_policy=DELIVERY_RETRY,
            )
        except ActivityError as err:
            # Retries exhausted (24 h) or a non-retryable error: the step fails, the run goes on.
            reason = _gave_up_reason(err)
            await workflow.execute_local_activity_method(
                DeliveryActivities.give_up,
                GiveUpInput(key=ledger_key(self._input.run_id, step_id, visit), reason=reason),
                start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE,
                retry_policy=BOOKKEEPING_RETRY,
            )
            return StepState.FAILED, reason, None
        if result.state == LedgerState.DEFERRED:
            return StepState.DEFERRED, result.reason, result.defer_until
        return _STEP_STATE.get(result.state, StepState.FAILED), result.reason, None

    async def _sleep_unless_stopped(self, delay: timedelta) -> bool:
        """Wait ``delay`` on a durable timer; True when a stop event came first."""
        try:
            await workflow.wait_condition(
                lambda: self._state.stop_reason is not None, timeout=delay, timeout_summary="wait"
            )
            return True
        except TimeoutError:
            return False

    async def _wait(self, action: Wait) -> None:
        started = workflow.now()
        due = started + action.duration
        step_id = action.step.id
        await self._record(step_id, "wait", StepState.ACTIVE, started_at=started, due_at=due)
        reason = "stopped" if await self._sleep_unless_stopped(action.duration) else None
        await self._record(
            step_id, "wait", StepState.DONE, started_at=started, finished_at=workflow.now(),
            due_at=due, reason=reason,
        )

    async def _record(self, step_id: str, type_: str, state: StepState, **times) -> None:  # type: ignore[no-untyped-def]
        record = StepRecord(
            run_id=self._input.run_id, seq=self._seq, step_id=step_id, type=type_, state=state,
            **times,
        )
        await workflow.execute_local_activity_method(
            RunActivities.record_step,
            record,
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE,
            retry_policy=BOOKKEEPING_RETRY,
        )

    async def _finish(self, status: RunStatus, reason: str | None) -> None:
        await workflow.execute_local_activity_method(
            RunActivities.finish_run,
            RunFinish(run_id=self._input.run_id, status=status, reason=reason),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE,
            retry_policy=BOOKKEEPING_RETRY,
        )


def _gave_up_reason(err: ActivityError) -> str:
    cause = err.cause
    if cause is not None and getattr(cause, "type", None) in ("PermanentChannelError", "RenderError"):
        return f"{cause.type}: {cause}"  # type: ignore[union-attr]
    return "gave_up"


