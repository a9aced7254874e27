"""AbsenceReportWorkflow (``absence-<absence id>``): when an owner's absence starts, their
manager gets ONE message listing the owner's open tasks due during it.

Started when the absence is created; a durable timer waits for its start, an activity reads the
tasks then (a deleted absence, no manager, nothing due: no message), and the message goes
through the delivery door under the manager's people policy (their language, zone and working
time: a deferral waits and asks again with the same ledger key).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.absence import AbsenceActivities
    from followthrough.models.absence import (
        ABSENCE_REPORT,
        AbsenceReportInput,
        absence_workflow_id,
    )
    from followthrough.models.runs import DeliverInput
    from followthrough.models.vocab import Category, Channel
    from workflows import _door as door
    from workflows._support import (
        BOOKKEEPING_RETRY,
        START_TO_CLOSE,
    )

STEP = "report"


@workflow.defn(name="AbsenceReportWorkflow")
class AbsenceReportWorkflow:
    @workflow.run
    async def run(self, input: AbsenceReportInput) -> str:
        wait = input.starts_at - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        found = await workflow.execute_activity_method(
            AbsenceActivities.report, input, start_to_close_timeout=START_TO_CLOSE,
            retry_policy=BOOKKEEPING_RETRY,
        )
        if found.to_user_id is None:
            return "nothing_to_report"
        message = DeliverInput(
            run_id=absence_workflow_id(input.absence_id), step_id=STEP, to_user_id=found.to_user_id,
            channel=Channel.EMAIL, fallbacks=[Channel.SMS], template=ABSENCE_REPORT,
            category=Category.TRANSACTIONAL, data=found.data,
        )
        result = await door.deliver(message)
        return result.reason if isinstance(result, door.GaveUp) else result.state.value
