"""LeadWorkflow on the time-skipping server, sending through the real door to the loopback
aiosmtpd: idempotent intake, the first-touch SLA across a weekend and a Hungarian public holiday
(breach -> manager -> reassignment), nurture -> sales, and cancelling what a lead owns."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from api.services.inbound import handle_contact_event
from channels.outbox import OutboxHandle
from followthrough import entities
from followthrough.calendar import pin_holidays
from followthrough.settings import Settings
from followthrough.store.db import as_utc, session_scope
from followthrough.store.tables import Lead, Run, Task
from tests.conftest import terminate_open_runs
from tests.support.leads import lead_events, lead_row, new_lead, publish_policy, sales_team
from tests.support.stack import running_worker
from tests.support.tasks import emails_to

BUDAPEST = ZoneInfo("Europe/Budapest")


@dataclass
class Env:
    ts: WorkflowEnvironment
    engine: Engine
    settings: Settings
    outbox: OutboxHandle


@pytest.fixture
async def env(ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings,
              outbox: OutboxHandle) -> AsyncIterator[Env]:
    settings = edge_settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
    publish_policy(engine)
    async with running_worker(ts_env.client, settings, engine):
        yield Env(ts_env, engine, settings, outbox)
        # Let the workflow tasks under way finish while the worker still runs: a task cut off by
        # the worker's shutdown keeps the test server from skipping time in the next test.
        await ts_env.sleep(timedelta(seconds=5))
    await terminate_open_runs(engine, ts_env.client)


async def until(check, env: Env, step: timedelta = timedelta(seconds=5), tries: int = 60):  # type: ignore[no-untyped-def]
    """Move the server's time in small steps until ``check()`` answers something truthy."""
    for _ in range(tries):
        found = check()
        if found:
            return found
        await env.ts.sleep(step)
    raise AssertionError(f"{check} never held")


def _runs(engine: Engine, **where: object) -> list[Run]:
    with session_scope(engine) as session:
        query = select(Run)
        for name, value in where.items():
            query = query.where(getattr(Run, name) == value)
        return list(session.exec(query))


def _tasks(engine: Engine, entity: str) -> list[Task]:
    with session_scope(engine) as session:
        return list(session.exec(select(Task).where(Task.entity == entity).order_by(Task.id)))  # type: ignore[arg-type]


def _eve_of_a_friday_holiday(after: date) -> date:
    """The first Thursday after ``after`` that is a working day in Hungary and is followed by a
    Hungarian public holiday on the Friday (so the weekend follows the holiday)."""
    pinned = pin_holidays(["HU"], after.year, after.year + 3)["HU"]
    closed = set(pinned.closed)
    for day in sorted(closed):
        eve = day - timedelta(days=1)
        monday = day + timedelta(days=3)
        if day > after + timedelta(days=1) and day.weekday() == 4 and eve not in closed and monday not in closed:
            return eve
    raise AssertionError("no Friday public holiday in Hungary in three years")


class TestIntake:
    async def test_the_same_external_id_sent_at_once_makes_one_lead_and_one_run(self, env: Env) -> None:
        sales_team(env.engine, "Peter")
        made = await asyncio.gather(*[
            new_lead(env.engine, env.ts.client, env.settings, external_id="crm-77", attributes={"budget": 5000})
            for _ in range(5)])
        assert len({lead.id for lead in made}) == 1
        with session_scope(env.engine) as session:
            assert len(list(session.exec(select(Lead)))) == 1
        [run] = _runs(env.engine, kind="lead")
        assert (run.workflow_id, run.status) == (f"lead-{made[0].id}", "running")
        # Sent again later (a CRM sync): the same lead, the same run.
        again = await new_lead(env.engine, env.ts.client, env.settings, external_id="crm-77",
                               attributes={"budget": 5000})
        assert again.id == made[0].id and len(_runs(env.engine, kind="lead")) == 1


class TestFirstTouchSla:
    async def test_breach_tells_the_manager_and_the_second_breach_reassigns_across_a_holiday_weekend(
            self, env: Env) -> None:
        manager, (peter, paul) = sales_team(env.engine, "Peter", "Paul")
        now = await env.ts.get_current_time()
        eve = _eve_of_a_friday_holiday(now.astimezone(BUDAPEST).date())
        monday = eve + timedelta(days=4)
        start = datetime.combine(eve, time(16, 30), BUDAPEST)
        await env.ts.sleep(start - now)

        lead = await new_lead(env.engine, env.ts.client, env.settings, attributes={"budget": 5000})
        row = await until(lambda: (r := lead_row(env.engine, lead.id or 0)).task_id and r, env)
        # 30 working minutes on Thursday; Friday is a public holiday, then the weekend: Monday 09:30.
        due = datetime.combine(monday, time(9, 30), BUDAPEST).astimezone(UTC)
        assert (row.stage, row.owner_id, row.score) == ("assigned", peter, 60)
        # (The lead arrives within seconds of 16:30 on the server's clock.)
        assert timedelta(0) <= as_utc(row.sla_due_at) - due < timedelta(seconds=5)  # type: ignore[operator]
        [task] = _tasks(env.engine, f"lead:{lead.id}")
        assert (task.owner_id, task.kind, as_utc(task.due_at), task.state) == (peter, "call", as_utc(row.sla_due_at),
                                                                              "open")
        [told] = await until(lambda: emails_to(env.outbox, "peter@example.test"), env)
        assert told.subject == "New lead: Anna Kovács (web, score 60.0)"
        assert "- fit:big_budget: 60.0" in told.text and f"/v1/leads/{lead.id}" in told.text

        # Just before the breach nothing has happened; at it, the manager hears.
        now = await env.ts.get_current_time()
        await env.ts.sleep(due - now - timedelta(minutes=1))
        assert emails_to(env.outbox, "maria@example.test") == []
        await env.ts.sleep(timedelta(minutes=2))
        [breach] = await until(lambda: emails_to(env.outbox, "maria@example.test"), env)
        assert breach.subject == "Lead not contacted in time: Anna Kovács (Peter)"
        assert lead_row(env.engine, lead.id or 0).owner_id == peter

        # The second breach (two working hours used: Monday 10:30) goes to the next rep.
        second = datetime.combine(monday, time(10, 30), BUDAPEST).astimezone(UTC)
        now = await env.ts.get_current_time()
        await env.ts.sleep(second - now - timedelta(minutes=1))
        assert lead_row(env.engine, lead.id or 0).owner_id == peter
        await env.ts.sleep(timedelta(minutes=2))
        row = await until(lambda: (r := lead_row(env.engine, lead.id or 0)).owner_id == paul and r.task_id != task.id
                          and r, env)
        assert (row.stage, row.sla_breaches, row.reassignments) == ("assigned", 2, 1)
        old, new = await until(lambda: (t := _tasks(env.engine, f"lead:{lead.id}"))[0].state == "cancelled" and t, env)
        assert (old.id, new.owner_id, new.state) == (task.id, paul, "open")
        kinds = [(e.kind, e.rule) for e in lead_events(env.engine, lead.id or 0) if e.kind in ("assignment", "sla")]
        assert kinds == [("assignment", "default"), ("sla", None), ("sla", None), ("assignment", "default")]
        [_, reassigned] = lead_events(env.engine, lead.id or 0, "assignment")
        assert {"user_id": peter, "reason": "excluded"} in [
            {**s, "reason": s["reason"].split(" ")[0]} for s in reassigned.detail["skipped"]]
        assert manager not in (row.owner_id,)

    async def test_completing_the_call_task_stops_the_clock(self, env: Env) -> None:
        from followthrough.models.tasks import CompleteInput
        from followthrough.tasks import service as tasks_service

        _, (peter,) = sales_team(env.engine, "Peter", calendar=None)
        lead = await new_lead(env.engine, env.ts.client, env.settings, attributes={"budget": 5000})
        row = await until(lambda: (r := lead_row(env.engine, lead.id or 0)).task_id and r, env)
        await tasks_service.act_on(env.engine, env.ts.client, row.task_id or 0, "complete", CompleteInput())
        row = await until(lambda: (r := lead_row(env.engine, lead.id or 0)).stage == "contacted" and r, env)
        assert row.first_touch_at is not None and row.first_touch_seconds is not None
        await env.ts.sleep(timedelta(hours=3))  # past both tiers: nothing more happens
        row = lead_row(env.engine, lead.id or 0)
        assert (row.stage, row.owner_id, row.sla_breaches) == ("contacted", peter, 0)
        assert emails_to(env.outbox, "maria@example.test") == []


    async def test_a_message_sent_to_the_contact_after_assignment_is_the_first_touch(self, env: Env) -> None:
        from followthrough.enrollment import enroll

        _, (peter,) = sales_team(env.engine, "Peter", calendar=None)
        lead = await new_lead(env.engine, env.ts.client, env.settings, attributes={"budget": 5000})
        await until(lambda: lead_row(env.engine, lead.id or 0).task_id, env)

        async def client():  # type: ignore[no-untyped-def]
            return env.ts.client

        # Any run's message to the contact (not one to a user) counts: here a sequence's email.
        await enroll(env.engine, client, env.settings, "welcome_sequence", lead.contact_id, {})
        row = await until(lambda: (r := lead_row(env.engine, lead.id or 0)).stage == "contacted" and r, env)
        [touch] = [e for e in lead_events(env.engine, lead.id or 0, "stage") if e.rule == "contacted"]
        assert touch.detail["reason"] == "message sent to the contact"
        assert (row.owner_id, row.sla_breaches) == (peter, 0) and row.first_touch_seconds is not None
        await env.ts.sleep(timedelta(hours=3))  # past both tiers: nothing more happens
        assert lead_row(env.engine, lead.id or 0).sla_breaches == 0
        assert emails_to(env.outbox, "maria@example.test") == []


class TestNurture:
    async def test_engagement_over_the_threshold_cancels_the_nurture_run_and_goes_to_sales_once(
            self, env: Env) -> None:
        _, (peter,) = sales_team(env.engine, "Peter", calendar=None)
        lead = await new_lead(env.engine, env.ts.client, env.settings)
        row = await until(lambda: (r := lead_row(env.engine, lead.id or 0)).nurture_run_id and r, env)
        assert (row.stage, row.score) == ("nurturing", 0)
        [nurture] = _runs(env.engine, id=row.nurture_run_id)
        assert (nurture.definition_name, nurture.entity, nurture.status) == ("lead_nurture", f"lead:{lead.id}", "running")

        async def client():  # type: ignore[no-untyped-def]
            return env.ts.client

        await handle_contact_event(env.engine, client, lead.contact_id, "form.submitted", {})
        row = await until(lambda: (r := lead_row(env.engine, lead.id or 0)).score == 30 and r, env)
        assert row.stage == "nurturing"
        await handle_contact_event(env.engine, client, lead.contact_id, "form.submitted", {})
        await handle_contact_event(env.engine, client, lead.contact_id, "form.submitted", {})
        row = await until(lambda: (r := lead_row(env.engine, lead.id or 0)).stage == "assigned" and r, env)
        assert (row.owner_id, row.score) == (peter, 90)
        [nurture] = await until(lambda: (r := _runs(env.engine, id=nurture.id))[0].status == "cancelled" and r, env)
        await env.ts.sleep(timedelta(minutes=5))
        # To sales once: one assignment, one task, one message to the owner.
        assert len(lead_events(env.engine, lead.id or 0, "assignment")) == 1
        assert len(_tasks(env.engine, f"lead:{lead.id}")) == 1
        assert len(emails_to(env.outbox, "peter@example.test")) == 1
        score_rules = [(e.rule, e.points) for e in lead_events(env.engine, lead.id or 0, "score")]
        # Every change with its rule and points: at intake the fit rule that does not hold (0,
        # with why), then 30, 60 and 90 (or 90 at once, when the two events arrived together).
        assert score_rules[:2] == [("fit:big_budget", 0), ("engagement:form.submitted", 30)]
        assert score_rules[-1] == ("engagement:form.submitted", 90)
        assert {rule for rule, _ in score_rules[1:]} == {"engagement:form.submitted"}


class TestCascade:
    async def test_one_call_cancels_every_run_and_task_the_lead_owns(self, env: Env) -> None:
        from followthrough.models.vocab import TaskKind
        from followthrough.tasks import service as tasks_service
        from followthrough.tasks.service import TaskDraft

        _, (peter,) = sales_team(env.engine, "Peter", calendar=None)
        lead = await new_lead(env.engine, env.ts.client, env.settings)
        row = await until(lambda: (r := lead_row(env.engine, lead.id or 0)).nurture_run_id and r, env)
        now = await env.ts.get_current_time()
        task = await tasks_service.create(env.engine, env.ts.client, env.settings, TaskDraft(
            kind=TaskKind.TODO, title="Send the brochure", due=now + timedelta(days=1), owner_id=peter,
            contact_id=lead.contact_id, entity=f"lead:{lead.id}"), now)
        done = await entities.cancel_owned(env.engine, env.ts.client, f"lead:{lead.id}", "test")
        assert (done.runs, done.tasks) == ([row.nurture_run_id], [task.id])
        await until(lambda: _runs(env.engine, id=row.nurture_run_id)[0].status == "cancelled", env)
        await until(lambda: _tasks(env.engine, f"lead:{lead.id}")[0].state == "cancelled", env)
        # The lead's own run is not among them; a second call finds nothing left.
        assert _runs(env.engine, kind="lead")[0].status == "running"
        again = await entities.cancel_owned(env.engine, env.ts.client, f"lead:{lead.id}", "test")
        assert (again.runs, again.tasks) == ([], [])


class TestLeadStep:
    async def test_a_sequence_hands_the_contact_to_qualification_once_and_reads_the_leads_score(
            self, env: Env) -> None:
        from followthrough.enrollment import enroll
        from followthrough.leads import service
        from followthrough.store import definitions
        from tests.support.tasks import contact

        sales_team(env.engine, "Peter", calendar=None)
        with session_scope(env.engine) as session:
            definitions.save(session, "webinar_followup", "sequence", {
                "name": "webinar_followup", "kind": "sequence", "category": "sales", "steps": [
                    {"id": "qualify", "type": "lead", "source": "webinar", "attributes": {"budget": 5000}},
                    {"id": "settle", "type": "wait", "duration": "PT1M"},
                    {"id": "hot_or_not", "type": "if", "condition": "lead.score >= 50", "then": "hot"},
                    {"id": "cold", "type": "exit", "reason": "cold"},
                    {"id": "hot", "type": "exit", "reason": "hot"}]}, publish=True)
        anna = contact(env.engine, attributes={"lead_score": 5})

        async def client():  # type: ignore[no-untyped-def]
            return env.ts.client

        run, _ = await enroll(env.engine, client, env.settings, "webinar_followup", anna, {})
        [ended] = await until(lambda: (r := _runs(env.engine, id=run.id))[0].status != "running" and r, env)
        # The attribute says 5; the lead's score (60) is what lead.score reads.
        assert (ended.status, ended.reason) == ("completed", "hot")
        with session_scope(env.engine) as session:
            [lead] = list(session.exec(select(Lead)))
        assert (lead.contact_id, lead.source, lead.attributes, lead.score) == (anna, "webinar", {"budget": 5000}, 60)
        # The step again (a retried activity): the same lead, nothing new.
        again, created = await service.hand_over(env.engine, env.ts.client, env.settings, anna,
                                                 key=f"step:{run.id}:qualify:1", source="webinar", attributes={})
        assert (again.id, created) == (lead.id, False)
        [handover] = lead_events(env.engine, lead.id or 0, "handover")
        assert handover.key == f"step:{run.id}:qualify:1"
