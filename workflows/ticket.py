"""TicketWorkflow: one ticket (``ticket-<id>``) from intake to ``closed``.

What happens next is decided by ``followthrough.tickets.lifecycle`` (pure): the SLA clocks, the
ladder's warnings, escalations and breaches at their exact business minute, the survey and the
close. This class waits on durable timers, sends through the one delivery door (the customer's
messages at once, as transactional ones; people's in their working time unless the priority is
urgent), keeps the tickets row in step (an idempotent local activity) and answers the changes:
Temporal Updates whose validators refuse an invalid transition before anything is written.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.tickets import TicketActivities
    from followthrough import ids
    from followthrough.models.runs import DeliverInput
    from followthrough.models.tickets import (
        OPEN_STATUSES,
        AssignInput,
        CalendarChanged,
        CustomerMessage,
        HoldInput,
        PriorityInput,
        ReopenInput,
        ResolveInput,
        RespondInput,
        StatusInput,
        SurveyAnswer,
        TicketDataInput,
        TicketEntity,
        TicketEventIn,
        TicketInput,
        TicketResult,
        TicketStatus,
        TicketSync,
        TicketView,
    )
    from followthrough.models.vocab import Category, Channel
    from followthrough.tickets import lifecycle
    from followthrough.tickets.lifecycle import Events, Pinned
    from followthrough.tickets.sla import Due
    from workflows import _door as door
    from workflows._support import (
        BOOKKEEPING_RETRY,
        BOOKKEEPING_START_TO_CLOSE,
        START_RETRY,
        START_TO_CLOSE,
    )
    from workflows._waits import until_or_change

#: Templates of a ticket's messages (templates/<channel>/<name>.<locale>.*).
ACK, RESPONSE, RESOLVED, SURVEY = "ticket_ack", "ticket_response", "ticket_resolved", "ticket_survey"
ESCALATION, AT_RISK = "ticket_escalation", "ticket_at_risk"


# Not sandboxed, like the task workflow (workflows/task.py says why): thousands of open tickets
# stay cached for days, and the sandbox's own copy of this module and its imports per run cost
# ~250 KiB each (10,000 open tickets: a 2.5 GiB worker, bench/RESULTS.md). The workflow and the
# core it calls make no I/O, clock or random calls (tests/test_architecture.py walks every
# module it imports), and recorded histories replay (tests/workflows/test_entity_replay.py).
@workflow.defn(sandboxed=False)
class TicketWorkflow:
    @workflow.init
    def __init__(self, input: TicketInput) -> None:
        self._input = input
        self._ticket: TicketEntity = input.entity
        self._pinned = Pinned.of(input.policy, input.calendars, input.holidays)
        self._lock = asyncio.Lock()
        #: Raised by every change: what the run waits for besides its timer.
        self._changes = 0
        #: Messages under way (a notice deferred to someone's working time does not hold up
        #: the ladder): awaited before the run ends or continues as new.
        self._sending: list[asyncio.Task[None]] = []

    # -- queries, updates, signals ---------------------------------------------------------

    @workflow.query
    def view(self) -> TicketView:
        return self._view()

    @workflow.update
    async def respond(self, input: RespondInput) -> TicketView:
        if input.internal:
            return self._view()  # a note: recorded by the API, never sent, no clock moves
        async with self._lock:
            self._refuse("respond")
            state = self._ticket.sla
            first = state is not None and not state.responded
            clock = state.clocks.get("first_response") if state is not None else None
            self._ticket, events = lifecycle.responded(self._ticket, workflow.now(), input.status)
            extra: dict[str, object] = {}
            if first and clock is not None:
                extra = {"first_response_at": workflow.now(),
                         "first_response_seconds": int(clock.elapsed(workflow.now()).total_seconds())}
            await self._changed(events, **extra)
        self._send(self._tell_customer(RESPONSE, f"response-{input.message_id}", message_id=input.message_id))
        return self._view()

    @respond.validator
    def _check_respond(self, input: RespondInput) -> None:
        self._refuse("note" if input.internal else "respond")

    @workflow.update
    async def assign(self, input: AssignInput) -> TicketView:
        async with self._lock:
            self._refuse("assign")
            now = workflow.now()
            before = self._ticket.assignee_id
            self._ticket = self._ticket.model_copy(update={"assignee_id": input.assignee_id})
            await self._changed([TicketEventIn(
                kind="assignment", key=f"ticket-{self._ticket.ticket_id}:assign-{int(now.timestamp() * 1000)}",
                at=now, detail={"before": before, "assignee_id": input.assignee_id, "by": "agent"})])
        return self._view()

    @assign.validator
    def _check_assign(self, input: AssignInput) -> None:
        self._refuse("assign")

    @workflow.update
    async def priority(self, input: PriorityInput) -> TicketView:
        async with self._lock:
            self._refuse("priority", priority=input.priority)
            self._ticket, events = lifecycle.reprioritised(self._ticket, self._pinned, input.priority, workflow.now())
            await self._changed(events)
        return self._view()

    @priority.validator
    def _check_priority(self, input: PriorityInput) -> None:
        self._refuse("priority", priority=input.priority)

    @workflow.update
    async def status(self, input: StatusInput) -> TicketView:
        async with self._lock:
            self._refuse("status", status=input.status)
            self._ticket, events = lifecycle.set_status(self._ticket, input.status, workflow.now(), input.note or "")
            await self._changed(events)
        return self._view()

    @status.validator
    def _check_status(self, input: StatusInput) -> None:
        self._refuse("status", status=input.status)

    @workflow.update
    async def resolve(self, input: ResolveInput) -> TicketView:
        async with self._lock:
            self._refuse("resolve")
            now = workflow.now()
            clock = self._ticket.sla.clocks.get("resolution") if self._ticket.sla is not None else None
            self._ticket, events = lifecycle.resolved(self._ticket, now, input.note)
            seconds = int(clock.elapsed(now).total_seconds()) if clock is not None else None
            await self._changed(events, resolved_at=now, resolution_seconds=seconds, resolution_note=input.note)
            await self._hold(False)
        self._send(self._tell_customer(RESOLVED, f"resolved-{self._ticket.resolutions}"))
        return self._view()

    @resolve.validator
    def _check_resolve(self, input: ResolveInput) -> None:
        self._refuse("resolve")

    @workflow.update
    async def reopen(self, input: ReopenInput) -> TicketView:
        async with self._lock:
            self._refuse("reopen")
            await self._reopen(input.reason)
        return self._view()

    @reopen.validator
    def _check_reopen(self, input: ReopenInput) -> None:
        self._refuse("reopen")

    @workflow.update
    async def survey(self, input: SurveyAnswer) -> TicketView:
        async with self._lock:
            self._refuse("survey")
            now = workflow.now()
            self._ticket = self._ticket.model_copy(update={"score": input.score})
            await self._changed([TicketEventIn(
                kind="survey", key=f"ticket-{self._ticket.ticket_id}:score-{self._ticket.resolutions}",
                at=now, detail={"score": input.score, "via": input.via})], csat=input.score)
            if input.score <= self._pinned.policy.survey.reopen_at_or_below:
                await self._reopen(f"survey score {input.score}")
                self._send(self._tell_people(ESCALATION, f"score-{self._ticket.resolutions}", ["team_manager"],
                                             {"why": "low_score", "score": input.score}, urgent=False))
        return self._view()

    @survey.validator
    def _check_survey(self, input: SurveyAnswer) -> None:
        self._refuse("survey")

    @workflow.signal
    async def customer_message(self, input: CustomerMessage) -> None:
        """The customer wrote: a paused ticket resumes with its remaining budget, a resolved
        one reopens (a closed one's workflow has ended: the intake opens a new ticket)."""
        async with self._lock:
            if self._ticket.status == TicketStatus.CLOSED or input.message_key in self._ticket.seen:
                return
            was_resolved = self._ticket.status == TicketStatus.RESOLVED
            self._ticket, events = lifecycle.customer_wrote(self._ticket, self._pinned, workflow.now(),
                                                            input.message_key)
            extra: dict[str, object] = {"reopened": self._ticket.resolutions} if was_resolved else {}
            await self._changed(events, **extra)
            if was_resolved:
                await self._hold(True)

    @workflow.signal
    async def calendar_changed(self, input: CalendarChanged) -> None:
        """A calendar was edited: clocks counting on it follow the new one from now."""
        async with self._lock:
            calendars = {**self._input.calendars, input.name: input.document}
            if input.name not in lifecycle.calendar_names(self._pinned.policy):
                return
            self._input = self._input.model_copy(update={"calendars": calendars})
            self._pinned = Pinned.of(self._input.policy, calendars, self._input.holidays)
            if self._ticket.status not in OPEN_STATUSES:
                return
            self._ticket, events = lifecycle.recalendared(self._ticket, self._pinned, input.name, workflow.now())
            await self._changed(events)

    def _refuse(self, action: lifecycle.Action, **details: object) -> None:
        if action == "priority":
            details["known"] = tuple(self._pinned.policy.priorities)
        reason = lifecycle.refusal(self._ticket, action, **details)
        if reason is not None:
            raise ApplicationError(reason, self._ticket.status.value, type="InvalidTransition")

    async def _reopen(self, reason: str) -> None:
        self._ticket, events = lifecycle.reopened(self._ticket, self._pinned, workflow.now(), reason)
        await self._changed(events, reopened=self._ticket.resolutions)
        await self._hold(True)

    # -- the run ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: TicketInput) -> TicketResult:
        if self._ticket.sla is None:
            async with self._lock:
                # The clocks count from the intake (never later than now, never in the future).
                start = min(self._ticket.opened_at or workflow.now(), workflow.now())
                self._ticket = lifecycle.opened(self._ticket, self._pinned, start)
                await self._changed([])
                await self._hold(True)
            self._send(self._tell_customer(ACK, "ack"))
        while True:
            step = lifecycle.plan(self._ticket, self._pinned, workflow.now())
            if step.kind == "end":
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._drain()
                return TicketResult(status=self._ticket.status, score=self._ticket.score)
            if self._continue_suggested() and workflow.all_handlers_finished():
                await self._drain()
                workflow.continue_as_new(self._input.model_copy(update={"entity": self._ticket}))
            seen = self._changes
            if not await self._sleep_until(step.at, seen) or self._changes != seen:
                continue  # a change came first: decide again
            async with self._lock:
                if self._changes != seen:
                    continue
                await self._carry_out(step)

    async def _carry_out(self, step: lifecycle.Next) -> None:
        now = workflow.now()
        if step.kind == "rung" and step.due is not None:
            await self._rung(step.due)
        elif step.kind == "survey":
            self._ticket = self._ticket.model_copy(update={"survey_sent": True})
            await self._changed([TicketEventIn(
                kind="survey", key=f"ticket-{self._ticket.ticket_id}:survey-{self._ticket.resolutions}",
                at=now, detail={"sent": True})])
            self._send(self._tell_customer(SURVEY, f"survey-{self._ticket.resolutions}", survey=True))
        elif step.kind == "close":
            self._ticket, events = lifecycle.set_status(self._ticket, TicketStatus.CLOSED, now, "no answer")
            await self._changed(events, closed_at=now)

    async def _rung(self, due: Due) -> None:
        now = workflow.now()
        found = await workflow.execute_local_activity_method(
            TicketActivities.data,
            TicketDataInput(ticket_id=self._ticket.ticket_id, audience="people", notify=list(due.notify)),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY)
        told = found.user_ids
        self._ticket, events = lifecycle.fired(self._ticket, due, told, now)
        await self._changed(events)
        if due.kind == "breach" or not told:
            return
        clock = self._ticket.sla.clocks[due.target]  # type: ignore[union-attr]
        data = {**found.data, "clock": {
            "target": due.target, "tier": due.tier, "due_at": due.at.isoformat(),
            "deadline": (clock.deadline(now) or now).isoformat(),
            "time_left_minutes": round(clock.remaining(now).total_seconds() / 60),
            "overdue_minutes": round(max(clock.elapsed(now) - clock.budget, timedelta(0)).total_seconds() / 60)}}
        template = AT_RISK if due.kind == "warning" else ESCALATION
        urgent = due.urgent or self._ticket.priority == "urgent"
        for user_id in told:
            self._send(self._deliver_to_user(template, f"{due.key}-{user_id}".replace("/", "."), user_id,
                                             data, urgent))

    # -- messages ---------------------------------------------------------------------------

    def _send(self, coroutine) -> None:  # type: ignore[no-untyped-def]
        self._sending = [t for t in self._sending if not t.done()]
        self._sending.append(asyncio.create_task(coroutine))

    async def _drain(self) -> None:
        while self._sending:
            pending, self._sending = self._sending, []
            await asyncio.gather(*pending)

    async def _tell_customer(self, template: str, step_id: str, *, message_id: int | None = None,
                             survey: bool = False) -> None:
        """A message to the customer on the ticket's channel, at once (transactional: quiet
        hours do not hold it); an email threads under the customer's latest mail."""
        ticket = self._ticket
        found = await workflow.execute_local_activity_method(
            TicketActivities.data, TicketDataInput(ticket_id=ticket.ticket_id, message_id=message_id, survey=survey),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY)
        channel = Channel(ticket.channel)
        other = Channel.SMS if channel == Channel.EMAIL else Channel.EMAIL
        data = {**found.data, "deadlines": {t: d.isoformat() for t, d in
                                            lifecycle.deadlines(ticket, workflow.now()).items() if d}}
        await door.deliver(DeliverInput(
            run_id=ids.ticket_workflow_id(ticket.ticket_id), step_id=step_id, contact_id=ticket.contact_id,
            channel=channel, fallbacks=[other], template=template, category=Category.TRANSACTIONAL,
            data=data, thread=found.thread if channel == Channel.EMAIL else None))

    async def _tell_people(self, template: str, key: str, notify: list[str | int], extra: dict[str, object],
                           *, urgent: bool) -> None:
        found = await workflow.execute_local_activity_method(
            TicketActivities.data, TicketDataInput(ticket_id=self._ticket.ticket_id, audience="people", notify=notify),
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY)
        for user_id in found.user_ids:
            await self._deliver_to_user(template, f"{key}-{user_id}", user_id, {**found.data, **extra}, urgent)

    async def _deliver_to_user(self, template: str, step_id: str, user_id: int, data: dict[str, object],
                               urgent: bool) -> None:
        """A notice to a person through the door, in their working time unless ``urgent``;
        withdrawn if the ticket is resolved before it may go."""
        async def wait(until: datetime) -> str | None:
            try:
                await workflow.wait_condition(lambda: self._ticket.status not in OPEN_STATUSES,
                                              timeout=until - workflow.now(), timeout_summary="notice")
            except TimeoutError:
                return None
            return f"ticket {self._ticket.status.value} while deferred"

        await door.deliver(DeliverInput(
            run_id=ids.ticket_workflow_id(self._ticket.ticket_id), step_id=step_id,
            contact_id=self._ticket.contact_id, to_user_id=user_id, channel=Channel.EMAIL,
            fallbacks=[Channel.SMS], template=template, category=Category.TRANSACTIONAL, data=data,
            urgent=urgent), wait=None if template == ESCALATION and "why" in data else wait)

    # -- bookkeeping ----------------------------------------------------------------------

    async def _hold(self, place: bool) -> None:
        """An open ticket of a hold category holds the contact's sales and marketing messages."""
        ticket = self._ticket
        if place and ticket.category not in self._pinned.policy.hold_categories:
            return
        if place == ticket.hold:
            return
        await workflow.execute_activity_method(
            TicketActivities.hold, HoldInput(ticket_id=ticket.ticket_id, place=place),
            start_to_close_timeout=START_TO_CLOSE, retry_policy=START_RETRY)
        self._ticket = self._ticket.model_copy(update={"hold": place})

    async def _changed(self, events: Events, **fields: object) -> None:
        """Write the row as the ticket is now with ``events`` (the caller holds the lock)."""
        self._changes += 1
        ticket, now = self._ticket, workflow.now()
        clocks = ticket.sla.clocks if ticket.sla is not None else {}
        running = {t: d for t, d in lifecycle.deadlines(ticket, now).items() if clocks[t].stopped_at is None}
        await workflow.execute_local_activity_method(
            TicketActivities.sync,
            TicketSync(ticket_id=ticket.ticket_id, status=ticket.status, priority=ticket.priority,
                       assignee_id=ticket.assignee_id, deadlines=running, events=events, **fields),  # type: ignore[arg-type]
            start_to_close_timeout=BOOKKEEPING_START_TO_CLOSE, retry_policy=BOOKKEEPING_RETRY)

    async def _sleep_until(self, until: datetime | None, seen: int) -> bool:
        """Wait for ``until`` (None: for ever); False when a change came first."""
        return await until_or_change(until, lambda: self._changes != seen, "ticket")

    def _continue_suggested(self) -> bool:
        info = workflow.info()
        limit = self._input.history_limit
        return info.is_continue_as_new_suggested() or (
            limit is not None and info.get_current_history_length() >= limit)

    def _view(self) -> TicketView:
        ticket, now = self._ticket, workflow.now()
        return TicketView(ticket_id=ticket.ticket_id, status=ticket.status, priority=ticket.priority,
                          assignee_id=ticket.assignee_id, time_left=lifecycle.time_left(ticket, now),
                          deadlines=lifecycle.deadlines(ticket, now))
