"""The daily brief: one morning message to a user, started by their Schedule (``brief-<id>``).

It gathers the user's day in one activity (tasks due today in time order, overdue tasks, and
whatever sections later issues add), and sends ONE message through the delivery door, in the
user's language, under the people policy. Nothing to say, an absent or inactive user, a day
off: no message. The ledger key is the user and their local date, so a Schedule that fires twice
on one day (a manual trigger, a catch-up) still sends once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.brief import BriefActivities
    from followthrough.models.brief import BriefInput, BriefResult, GatherBriefInput, brief_run_id
    from followthrough.models.runs import DeliverInput
    from followthrough.models.vocab import Category, Channel, LedgerState
    from workflows import _door as door
    from workflows._support import (
        BOOKKEEPING_RETRY,
        BOOKKEEPING_START_TO_CLOSE,
    )

#: A brief the people policy defers (before working hours) waits at most this long: later in
#: the day, the morning's news is stale, and tomorrow brings a new brief.
MAX_WAIT = timedelta(hours=10)
#: Delivery attempts are retried for as long as the brief may still be useful.
DELIVERY_DEADLINE = timedelta(hours=10)
STEP = "brief"


@workflow.defn(name="BriefWorkflow")
class BriefWorkflow:
    @workflow.run
    async def run(self, input: BriefInput) -> BriefResult:
        started = workflow.now()
        plan = await workflow.execute_activity_method(
            BriefActivities.gather_brief, GatherBriefInput(user_id=input.user_id, at=started),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY,
        )
        if not plan.send or plan.local_date is None:
            return BriefResult(sent=False, reason=plan.reason or "nothing_to_say")
        message = DeliverInput(
            run_id=brief_run_id(input.user_id, plan.local_date), step_id=STEP, to_user_id=input.user_id,
            channel=Channel.EMAIL, template="daily_brief", category=Category.SERVICE,
            data={"date": plan.local_date.isoformat(), "name": plan.name,
                  "sections": [s.model_dump(mode="json") for s in plan.sections]},
        )

        async def wait(until: datetime) -> str | None:
            if until - started > MAX_WAIT:
                return "stale: the user's working time starts too late"
            await workflow.sleep(until - workflow.now())
            return None

        result = await door.deliver(message, wait=wait, schedule_to_close=DELIVERY_DEADLINE)
        if isinstance(result, door.GaveUp):
            return BriefResult(sent=False, reason=result.reason, state=result.state.value if result.state else None)
        return BriefResult(sent=result.state in (LedgerState.SENT, LedgerState.DELIVERED),
                           state=result.state.value, reason=result.reason)
