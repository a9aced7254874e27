"""LeadWorkflow: one lead (``lead-<id>``) from intake to converted, disqualified or closed, on
its pinned lead policy.

Score (``score_lead``: the pure ``scoring.evaluate`` over the stored contact and lead, each change
recorded with its rule and points); below the threshold: the policy's nurture sequence (a run the
lead owns); qualified: an owner by the policy's strategy (nobody at work: sleep until the first
one is, and ask again); assigned: the owner is told (template ``lead_assigned``) and gets a
``call`` task due within the first-touch SLA in business time on their calendar; the ladder runs
from there (at breach the manager is told, at the second the lead goes to the next rep and the old
task is cancelled). The first touch stops the clock: the task completed, a ``contacted`` update,
or a message sent to the contact through the engine after assignment (``outbound.sent``, see
``activities/lead_touch.py``). Replies and custom events add engagement points; a nurtured lead
that crosses the threshold leaves its nurture run and goes to sales once.

Stage changes from people are Temporal Updates whose validators refuse an invalid transition
before anything is written (``followthrough.leads.flow.refusal``: 409 naming the stage).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.leads import LeadActivities
    from activities.runs import RunActivities
    from followthrough import ids
    from followthrough.dsl.durations import parse_duration
    from followthrough.dsl.interpreter import TASK_COMPLETED
    from followthrough.leads import first_touch, flow
    from followthrough.leads.policy import LeadPolicyDefinition
    from followthrough.models.leads import (
        LEAD_UPDATED,
        OUTBOUND_SENT,
        AssignInput,
        CancelRunInput,
        CancelTaskInput,
        CascadeInput,
        CloseInput,
        ContactedInput,
        ConvertInput,
        DisqualifyInput,
        LeadEventInput,
        LeadInput,
        LeadMessageInput,
        LeadReassignInput,
        LeadResult,
        LeadView,
        NurtureInput,
        ScoreInput,
        StageChange,
        TouchTaskInput,
    )
    from followthrough.models.runs import DeliverInput, RunEvent, RunFinish
    from followthrough.models.vocab import (
        FINAL_LEAD_STAGES,
        Category,
        Channel,
        LeadStage,
        RunStatus,
    )
    from workflows import _door as door
    from workflows._support import (
        BOOKKEEPING_RETRY,
        BOOKKEEPING_START_TO_CLOSE,
        START_RETRY,
        START_SCHEDULE_TO_CLOSE,
        START_TO_CLOSE,
    )

#: Templates of the lead's messages (templates/<channel>/<name>.<locale>.*).
ASSIGNED, BREACH = "lead_assigned", "lead_sla_breach"
#: Timeline ids remembered to drop redelivered events.
SEEN_MAX = 500
#: How the lead's own run ends, by final stage.
RUN_ENDS = {LeadStage.CONVERTED: RunStatus.CONVERTED, LeadStage.DISQUALIFIED: RunStatus.STOPPED,
            LeadStage.CLOSED: RunStatus.COMPLETED}


# Not sandboxed, like the task workflow (workflows/task.py says why): thousands of open leads
# stay cached for days, and the sandbox's own copy of this module and its imports per run cost
# ~250 KiB each (10,000 open tickets: a 2.5 GiB worker, bench/RESULTS.md). The workflow and the
# core it calls make no I/O, clock or random calls (tests/test_architecture.py walks every
# module it imports), and recorded histories replay (tests/workflows/test_entity_replay.py).
@workflow.defn(sandboxed=False)
class LeadWorkflow:
    @workflow.init
    def __init__(self, input: LeadInput) -> None:
        self._input = input
        self._state = input.state
        self._policy = LeadPolicyDefinition.model_validate(input.policy)
        self._budget = parse_duration(self._policy.sla.within)
        #: Guards the run's steps and the updates against each other.
        self._lock = asyncio.Lock()
        #: Raised by every signal and update: what the run's waits also end on.
        self._changes = 0
        self._inbox: list[RunEvent] = []
        #: Messages under way (they may wait for a person's working time): awaited before the end.
        self._sending: list[asyncio.Task[Any]] = []

    # -- signals, queries, updates -------------------------------------------------------

    @workflow.signal
    def event(self, event: RunEvent) -> None:
        """The contact's events (replies, custom events), the task's end, an outbound message."""
        if event.timeline_id is not None and event.timeline_id in self._state.seen:
            return
        self._inbox.append(event)
        self._changes += 1

    @workflow.query
    def view(self) -> LeadView:
        return self._view()

    @workflow.update
    async def contacted(self, input: ContactedInput) -> LeadView:
        async with self._lock:
            self._refuse("contacted")
            await self._touch("contacted", input.note)
            return self._changed()

    @contacted.validator
    def _check_contacted(self, input: ContactedInput) -> None:
        self._refuse("contacted")

    @workflow.update
    async def convert(self, input: ConvertInput) -> LeadView:
        async with self._lock:
            self._refuse("convert")
            await self._stage(LeadStage.CONVERTED, input.note)
            return self._changed()

    @convert.validator
    def _check_convert(self, input: ConvertInput) -> None:
        self._refuse("convert")

    @workflow.update
    async def disqualify(self, input: DisqualifyInput) -> LeadView:
        async with self._lock:
            self._refuse("disqualify")
            await self._end(LeadStage.DISQUALIFIED, input.reason)
            return self._changed()

    @disqualify.validator
    def _check_disqualify(self, input: DisqualifyInput) -> None:
        self._refuse("disqualify")

    @workflow.update
    async def close(self, input: CloseInput) -> LeadView:
        async with self._lock:
            self._refuse("close")
            await self._end(LeadStage.CLOSED, input.reason)
            return self._changed()

    @close.validator
    def _check_close(self, input: CloseInput) -> None:
        self._refuse("close")

    @workflow.update
    async def reassign(self, input: LeadReassignInput) -> LeadView:
        async with self._lock:
            self._refuse("reassign")
            await self._reassign(input.owner_id, "reassigned by hand")
            return self._changed()

    @reassign.validator
    def _check_reassign(self, input: LeadReassignInput) -> None:
        self._refuse("reassign")

    def _refuse(self, action: flow.Action) -> None:
        reason = flow.refusal(self._state.stage, action)
        if reason is not None:
            raise ApplicationError(reason, self._state.stage.value, type="InvalidTransition")

    def _changed(self) -> LeadView:
        self._changes += 1
        return self._view()

    # -- the run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: LeadInput) -> LeadResult:
        if self._state.scored == 0:
            async with self._lock:
                await self._score("intake")
        while self._state.stage not in FINAL_LEAD_STAGES:
            seen = self._changes
            async with self._lock:
                if self._state.stage in FINAL_LEAD_STAGES:
                    break
                if self._inbox:
                    await self._take_events()
                    continue
                until = await self._step()
            if until is False:
                continue  # it did something: decide again
            if self._continue_suggested() and workflow.all_handlers_finished() and not self._busy():
                workflow.continue_as_new(self._input.model_copy(update={"state": self._state}))
            await self._sleep_until(until, seen)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self._sending)
        await workflow.execute_local_activity_method(
            RunActivities.finish_run,
            RunFinish(run_id=self._state.run_id, status=RUN_ENDS[self._state.stage], reason=self._state.reason),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY)
        return LeadResult(stage=self._state.stage, reason=self._state.reason)

    async def _step(self) -> datetime | None | bool:
        """Do the next thing the stage asks for (False: done, decide again), or answer until
        when to wait (None: until something happens)."""
        state = self._state
        if state.stage == LeadStage.NEW:
            await self._score("intake")
            return False
        if state.stage == LeadStage.QUALIFIED:
            assigned, wait_until = await self._assign(None)
            return False if assigned else wait_until
        if state.stage == LeadStage.ASSIGNED:
            if state.announced < state.round:
                await self._announce()
                return False
            return await self._ladder()
        return None

    async def _sleep_until(self, until: datetime | None, seen: int) -> None:
        changed = lambda: self._changes != seen  # noqa: E731
        if until is None:
            await workflow.wait_condition(changed)
            return
        delay = until - workflow.now()
        if delay <= timedelta(0):
            return
        try:
            await workflow.wait_condition(changed, timeout=delay, timeout_summary="lead")
        except TimeoutError:
            pass

    # -- scoring and events ------------------------------------------------------------------

    async def _take_events(self) -> None:
        state = self._state
        rescore: str | None = None
        while self._inbox:
            event = self._inbox.pop(0)
            if event.timeline_id is not None:
                state.seen = [*state.seen, event.timeline_id][-SEEN_MAX:]
            if event.kind == TASK_COMPLETED:
                if state.stage == LeadStage.ASSIGNED and event.data.get("task_id") == state.task_id:
                    await self._touch("task completed", event.data.get("outcome"))
            elif event.kind == OUTBOUND_SENT:
                if state.stage == LeadStage.ASSIGNED:
                    await self._touch("message sent to the contact", event.data.get("key"))
            elif event.kind == LEAD_UPDATED:
                rescore = event.kind
            elif event.kind in self._policy.engagement:
                state.engagement = [*state.engagement, (event.kind, workflow.now())]
                rescore = event.kind
        if rescore is not None and state.stage not in FINAL_LEAD_STAGES:
            await self._score(rescore)

    async def _score(self, cause: str) -> None:
        state = self._state
        state.scored += 1
        out = await workflow.execute_local_activity_method(
            LeadActivities.score,
            ScoreInput(lead_id=state.lead_id, policy_name=state.policy_name, policy_version=state.policy_version,
                       engagement=state.engagement, previous=state.points, round=state.scored,
                       at=workflow.now(), cause=cause),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY)
        state.score, state.points = out.score, out.points
        after = flow.stage_after_score(state.stage, out.stage)
        if after == state.stage:
            return
        if after == LeadStage.DISQUALIFIED:
            await self._end(after, out.disqualified_by or f"score {out.score:g} at or below the disqualify line")
            return
        was_nurtured = state.stage == LeadStage.NURTURING
        await self._stage(after, f"score {out.score:g} ({cause})")
        if after == LeadStage.NURTURING:
            await self._nurture()
        elif was_nurtured and state.nurture_run_id is not None:
            # Warmed up: the nurture track ends here, and the lead goes to sales once.
            await workflow.execute_activity_method(
                LeadActivities.cancel_run, CancelRunInput(run_id=state.nurture_run_id, reason="lead qualified"),
                start_to_close_timeout=START_TO_CLOSE, schedule_to_close_timeout=START_SCHEDULE_TO_CLOSE,
                retry_policy=START_RETRY)
            await self._record("nurture", "nurture:end", {"run_id": state.nurture_run_id,
                                                          "summary": f"nurture run {state.nurture_run_id} cancelled: qualified"})

    async def _nurture(self) -> None:
        state = self._state
        found = await workflow.execute_activity_method(
            LeadActivities.enroll_nurture,
            NurtureInput(lead_id=state.lead_id, contact_id=state.contact_id, sequence=self._policy.nurture.sequence),
            start_to_close_timeout=START_TO_CLOSE, schedule_to_close_timeout=START_SCHEDULE_TO_CLOSE,
            retry_policy=START_RETRY)
        state.nurture_run_id = found.run_id
        await self._record("nurture", "nurture:start", {
            "run_id": found.run_id, "sequence": self._policy.nurture.sequence, "reason": found.reason,
            "summary": f"nurtured by {self._policy.nurture.sequence}" + (f": {found.reason}" if found.reason else "")})
        await self._sync()

    # -- assignment and the first-touch SLA ---------------------------------------------------

    async def _assign(self, owner_id: int | None) -> tuple[bool, datetime | None]:
        """Give the lead an owner (a new round). False with the time to ask again when nobody
        may take it now."""
        state = self._state
        now = workflow.now()
        out = await workflow.execute_local_activity_method(
            LeadActivities.assign,
            AssignInput(lead_id=state.lead_id, policy_name=state.policy_name, policy_version=state.policy_version,
                        round=state.round + 1, at=now, exclude=state.excluded, owner_id=owner_id),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY)
        if out.owner_id is None:
            return False, out.wait_until
        state.round += 1
        state.owner_id, state.team_id = out.owner_id, out.team_id
        state.assigned_at, state.tier, state.task_id = now, 0, None
        planned = first_touch.plan(self._policy.sla, now, out.calendar, out.holidays)
        state.clock, state.due_at = planned.clock, planned.due_at
        state.tier_times = [tier.at for tier in planned.tiers]
        await self._stage(LeadStage.ASSIGNED, f"assigned ({out.explanation.get('rule')})",
                          detail={"assignment": out.explanation})
        return True, None

    def _deadline(self) -> datetime:
        return self._state.due_at or workflow.now()

    async def _announce(self) -> None:
        """The owner's ``call`` task, due at the SLA deadline, and the message telling them."""
        state = self._state
        owner = state.owner_id or 0
        made = await workflow.execute_activity_method(
            LeadActivities.create_task,
            TouchTaskInput(lead_id=state.lead_id, contact_id=state.contact_id, owner_id=owner, round=state.round,
                           due_at=self._deadline(), at=workflow.now()),
            start_to_close_timeout=START_TO_CLOSE, schedule_to_close_timeout=START_SCHEDULE_TO_CLOSE,
            retry_policy=START_RETRY)
        state.task_id, state.announced = made.task_id, state.round
        if made.reason is not None:
            await self._record("sla", f"task:{state.round}", {"summary": f"no call task: {made.reason}"})
        await self._sync()
        self._send(ASSIGNED, "assigned", owner, "assigned")

    async def _ladder(self) -> datetime | None | bool:
        """The next tier of the SLA ladder: when it is due, or (reached) carried out."""
        state = self._state
        ladder = self._policy.sla.ladder
        if state.tier >= len(ladder) or state.assigned_at is None:
            return None
        now = workflow.now()
        index, tier = state.tier, ladder[state.tier]
        at = state.tier_times[index] if index < len(state.tier_times) else now
        if at > now:
            return at
        breach = tier.at.elapsed(self._budget) >= self._budget
        state.tier += 1
        if breach:
            state.breaches += 1
        who = list(tier.notify)
        await self._record("sla", f"tier:{state.round}:{index}", {
            "tier": index, "breach": breach, "owner_id": state.owner_id, "notify": who,
            "action": tier.action, "due_at": at.isoformat(),
            "summary": f"first-touch SLA {'breached' if breach else 'tier'} {index + 1} (owner {state.owner_id})"})
        for person in who:  # the owner, or their manager (the team's when they have none)
            self._send(BREACH, f"sla-{index}-{person}", state.owner_id or 0,
                       "assigned" if person == "owner" else "breach")
        if tier.action == "reassign":
            await self._reassign(None, f"first-touch SLA tier {index + 1}")
        else:
            await self._sync()
        return False

    async def _reassign(self, owner_id: int | None, reason: str) -> None:
        """The lead to ``owner_id`` or the next rep by the strategy (never the owners it was
        taken from); the old task is cancelled. Nobody else may take it: it stays, recorded."""
        state = self._state
        old_owner, old_task = state.owner_id, state.task_id
        if old_owner is not None and old_owner not in state.excluded and owner_id != old_owner:
            state.excluded = [*state.excluded, old_owner]
        assigned, _ = await self._assign(owner_id)
        if not assigned:
            await self._record("assignment", f"reassign:{state.round}:{state.tier}", {
                "summary": f"{reason}: nobody else may take the lead; it stays with {old_owner}"})
            return
        state.reassignments += 1
        await self._sync()
        if old_task is not None:
            await workflow.execute_activity_method(
                LeadActivities.cancel_task, CancelTaskInput(task_id=old_task, reason=reason),
                start_to_close_timeout=START_TO_CLOSE, schedule_to_close_timeout=START_SCHEDULE_TO_CLOSE,
                retry_policy=START_RETRY)

    async def _touch(self, how: str, note: Any) -> None:
        """The first touch: the SLA clock stops, the lead is ``contacted``."""
        state = self._state
        now = workflow.now()
        elapsed = (state.clock.elapsed(now) if state.clock is not None
                   else now - (state.assigned_at or now))
        if state.clock is not None:
            state.clock = state.clock.stop(now, how)
        state.touched_at = now
        await self._stage(LeadStage.CONTACTED, how, first_touch=int(elapsed.total_seconds()),
                          detail={"note": note} if note else None)

    # -- ending ------------------------------------------------------------------------------

    async def _end(self, stage: LeadStage, reason: str | None) -> None:
        """Disqualified or closed: the stage, then everything the lead owns is cancelled."""
        await self._stage(stage, reason)
        await workflow.execute_activity_method(
            LeadActivities.cascade, CascadeInput(entity=ids.lead_entity(self._state.lead_id),
                                                 reason=f"lead {stage.value}" + (f": {reason}" if reason else "")),
            start_to_close_timeout=START_TO_CLOSE, schedule_to_close_timeout=START_SCHEDULE_TO_CLOSE,
            retry_policy=START_RETRY)

    # -- bookkeeping -------------------------------------------------------------------------

    async def _stage(self, stage: LeadStage, reason: str | None, *, first_touch: int | None = None,
                     detail: dict[str, Any] | None = None) -> None:
        state = self._state
        previous = state.stage
        state.stage = stage
        if reason is not None:
            state.reason = reason
        state.transitions += 1
        await self._sync(previous=previous, first_touch=first_touch, detail=detail)

    async def _sync(self, *, previous: LeadStage | None = None, first_touch: int | None = None,
                    detail: dict[str, Any] | None = None) -> None:
        """Write the row as the lead is now (and record the stage change, keyed)."""
        state = self._state
        sla_due = self._deadline() if state.stage == LeadStage.ASSIGNED and state.assigned_at else None
        change = StageChange(
            lead_id=state.lead_id, key=f"{ids.lead_workflow_id(state.lead_id)}:stage:{state.transitions}",
            stage=state.stage, previous=previous if previous is not None else state.stage, at=workflow.now(),
            reason=state.reason, owner_id=state.owner_id, team_id=state.team_id, task_id=state.task_id,
            nurture_run_id=state.nurture_run_id, sla_due_at=sla_due, sla_breaches=state.breaches,
            reassignments=state.reassignments, first_touch_seconds=first_touch, detail=detail or {})
        await workflow.execute_local_activity_method(
            LeadActivities.apply, change,
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY)

    async def _record(self, kind: str, key: str, detail: dict[str, Any]) -> None:
        await workflow.execute_local_activity_method(
            LeadActivities.record_event,
            LeadEventInput(lead_id=self._state.lead_id, key=f"{ids.lead_workflow_id(self._state.lead_id)}:{key}",
                           kind=kind, at=workflow.now(), detail=detail),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY)

    def _send(self, template: str, step_id: str, owner_id: int, kind: str) -> None:
        """A message about the lead to a person, in the background: it may wait for their
        working time while the lead goes on."""
        self._sending = [task for task in self._sending if not task.done()]
        self._sending.append(asyncio.ensure_future(self._notify(template, step_id, owner_id, kind)))

    async def _notify(self, template: str, step_id: str, owner_id: int, kind: str) -> None:
        state = self._state
        found = await workflow.execute_local_activity_method(
            LeadActivities.message,
            LeadMessageInput(kind="assigned" if kind == "assigned" else "breach", lead_id=state.lead_id,
                             owner_id=owner_id),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY)
        if found.to_user_id is None:
            return
        await door.deliver(DeliverInput(
            run_id=ids.lead_workflow_id(state.lead_id), step_id=step_id, visit=state.round,
            contact_id=state.contact_id, to_user_id=found.to_user_id, channel=Channel.EMAIL,
            fallbacks=[Channel.SMS], template=template, category=Category.TRANSACTIONAL, data=found.data))

    def _busy(self) -> bool:
        return any(not task.done() for task in self._sending)

    def _continue_suggested(self) -> bool:
        info = workflow.info()
        limit = self._input.history_limit
        return info.is_continue_as_new_suggested() or (
            limit is not None and info.get_current_history_length() >= limit)

    def _view(self) -> LeadView:
        state = self._state
        return LeadView(lead_id=state.lead_id, stage=state.stage, score=state.score, owner_id=state.owner_id,
                        task_id=state.task_id, reason=state.reason)

