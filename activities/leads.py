"""Lead activities: score (the pure ``scoring.evaluate`` over the stored contact and lead, each
change recorded with its rule and points), assign (``assign.assign`` with the rotation locked),
keep the row in step, the owner's ``call`` task, the nurture run, the messages' data, and
cancelling what the lead owns. Every write is keyed by the workflow, so a retry records once."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from followthrough import entities, ids
from followthrough.clock import ClockError
from followthrough.enrollment import enroll
from followthrough.errors import Conflict, FollowthroughError, NotFound
from followthrough.leads import assign, scoring, service
from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.leads.preview import first_touch_calendar
from followthrough.leads.service import parse_policy
from followthrough.models.leads import (
    AssignInput,
    AssignOutput,
    CancelRunInput,
    CancelTaskInput,
    CascadeInput,
    CascadeOutput,
    LeadEventInput,
    LeadMessage,
    LeadMessageInput,
    LeadStepInput,
    LeadStepResult,
    NurtureInput,
    NurtureOutput,
    ScoreInput,
    ScoreOutput,
    StageChange,
    TouchTaskInput,
    TouchTaskOutput,
)
from followthrough.models.tasks import CancelInput
from followthrough.models.vocab import RunStatus, TaskKind, TaskPriority
from followthrough.settings import Settings
from followthrough.store import contacts, definitions, leads, runs, timeline
from followthrough.store.db import as_utc, read_scope, session_scope
from followthrough.store.tables import Lead, LeadEvent, Team, TeamMember, User
from followthrough.tasks import service as tasks_service
from followthrough.tasks.service import TaskDraft

#: Timeline entries a lead message shows as the last touches.
LAST_TOUCHES = 3


class LeadActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    # -- scoring and stages (synchronous: local activities on the worker's executor) ----------

    @activity.defn(name="score_lead")
    def score(self, input: ScoreInput) -> ScoreOutput:
        """Evaluate the pinned policy for the lead now; record every rule whose points changed
        (a lead event and a timeline entry each, keyed by round and rule) and the new score."""
        with session_scope(self._engine) as session:
            policy = self._policy(session, input.policy_name, input.policy_version)
            lead = leads.get(session, input.lead_id)
            contact = contacts.get(session, lead.contact_id)
            seen = contacts.snapshot(contact).model_dump(mode="json")
            result = scoring.evaluate(policy, contact=seen, lead=_lead_view(lead),
                                      engagement=[(name, at) for name, at in input.engagement], now=input.at)
            points: dict[str, float] = {}
            reasons: dict[str, str] = {}
            for change in result.changes:
                points[change.rule] = round(points.get(change.rule, 0.0) + change.points, 2)
                reasons[change.rule] = change.reason
            for rule in sorted(set(points) | set(input.previous)):
                now_points, before = points.get(rule, 0.0), input.previous.get(rule, 0.0)
                if rule in input.previous and now_points == before and rule in points:
                    continue
                if rule not in input.previous and now_points == 0 and not reasons.get(rule):
                    continue
                key = f"{ids.lead_workflow_id(lead.id or 0)}:score:{input.round}:{rule}"
                _, created = leads.record_event(
                    session, lead_id=lead.id or 0, key=key, kind="score", at=input.at, rule=rule,
                    points=now_points, score=result.score,
                    detail={"before": before, "cause": input.cause, "reason": reasons.get(rule, "")})
                if created:
                    timeline.record(session, contact_id=lead.contact_id, kind="lead.score", run_id=None,
                                    occurred_at=input.at,
                                    summary=f"lead {lead.id} {rule}: {now_points:+g} points (score {result.score:g})",
                                    data={"lead_id": lead.id, "rule": rule, "points": now_points,
                                          "before": before, "score": result.score,
                                          "reason": reasons.get(rule, "")})
            lead.score, lead.scored_at = result.score, input.at
            session.add(lead)
            return ScoreOutput(score=result.score, stage=result.stage, points=points,
                               disqualified_by=result.disqualified_by)

    @activity.defn(name="apply_lead_stage")
    def apply(self, change: StageChange) -> None:
        """Write the row as the workflow has it; a stage change lands on the timeline once."""
        with session_scope(self._engine) as session:
            lead, created = leads.apply(session, change)
            if created:
                summary = f"lead {lead.id} {change.previous.value if change.previous else 'new'} -> {change.stage.value}"
                timeline.record(session, contact_id=lead.contact_id, kind=f"lead.{change.stage.value}",
                                summary=summary + (f": {change.reason}" if change.reason else ""),
                                occurred_at=change.at,
                                data={"lead_id": lead.id, "owner_id": change.owner_id, **change.detail})

    @activity.defn(name="record_lead_event")
    def record_event(self, input: LeadEventInput) -> None:
        with session_scope(self._engine) as session:
            lead = leads.get(session, input.lead_id)
            _, created = leads.record_event(session, lead_id=input.lead_id, key=input.key, kind=input.kind,
                                            at=input.at, score=lead.score, detail=input.detail)
            if created:
                timeline.record(session, contact_id=lead.contact_id, kind=f"lead.{input.kind}",
                                occurred_at=input.at, summary=str(input.detail.get("summary", input.kind)),
                                data={"lead_id": lead.id, **input.detail})

    @activity.defn(name="lead_message")
    def message(self, input: LeadMessageInput) -> LeadMessage:
        """The data of a message about the lead (rendered by the door in the reader's language):
        who, source, score and why, the last touches, a link to the lead."""
        with read_scope(self._engine) as session:
            lead = leads.get(session, input.lead_id)
            contact = contacts.get(session, lead.contact_id)
            owner = session.get(User, input.owner_id) if input.owner_id is not None else None
            why = [{"rule": e.rule, "points": e.points} for e in leads.events(session, input.lead_id)
                   if e.kind == "score"]
            latest: dict[str, Any] = {}
            for entry in why:
                latest[str(entry["rule"])] = entry["points"]
            touches = [{"at": as_utc(t.occurred_at).isoformat(), "summary": t.summary}  # type: ignore[union-attr]
                       for t in timeline.page(session, lead.contact_id, before=None, limit=LAST_TOUCHES)]
            data: dict[str, Any] = {
                "lead": {"id": lead.id, "source": lead.source, "score": lead.score, "stage": lead.stage,
                         "link": f"{self._settings.public_base_url}/v1/leads/{lead.id}",
                         "sla_due_at": as_utc(lead.sla_due_at).isoformat() if lead.sla_due_at else None,
                         "breaches": lead.sla_breaches},
                "who": {"name": contact.name, "email": contact.email or "", "phone": contact.phone or ""},
                "why": [{"rule": r, "points": p} for r, p in latest.items() if p],
                "touches": touches,
                "owner": {"id": owner.id, "name": owner.name} if owner is not None else {"id": None, "name": ""},
            }
            if input.kind == "assigned":
                return LeadMessage(data=data, to_user_id=input.owner_id)
            return LeadMessage(data=data, to_user_id=_manager_of(session, owner, lead))

    # -- assignment (the rotation is locked in this transaction) ------------------------------

    @activity.defn(name="assign_lead")
    def assign(self, input: AssignInput) -> AssignOutput:
        """An owner for the lead by the policy's strategy (or the one a ``reassign`` named), with
        the calendar the first-touch SLA counts on. Recorded under ``lead-<id>:assign:<round>``:
        a retry returns what the first attempt decided and moves the rotation once."""
        key = f"{ids.lead_workflow_id(input.lead_id)}:assign:{input.round}"
        with session_scope(self._engine) as session:
            policy = self._policy(session, input.policy_name, input.policy_version)
            lead = leads.get(session, input.lead_id)
            existing = _event(session, key)
            if existing is not None:
                return self._with_calendar(session, policy, AssignOutput(**existing), input)
            if input.owner_id is not None:
                chosen = AssignOutput(owner_id=input.owner_id, team_id=lead.team_id,
                                      explanation={"rule": "manual", "owner_id": input.owner_id,
                                                   "team_id": lead.team_id, "skipped": []})
            else:
                result = assign.assign(session, policy, contact_id=lead.contact_id, lead=_lead_view(lead),
                                       now=input.at, exclude=tuple(input.exclude))
                chosen = AssignOutput(owner_id=result.owner_id, team_id=result.team_id,
                                      wait_until=result.wait_until, explanation=result.explanation())
            if chosen.owner_id is None:
                return chosen  # nobody now: nothing recorded, the workflow asks again later
            leads.record_event(session, lead_id=lead.id or 0, key=key, kind="assignment", at=input.at,
                               rule=str(chosen.explanation.get("rule")), score=lead.score,
                               detail={**chosen.explanation, "round": input.round,
                                       "owner_id": chosen.owner_id, "team_id": chosen.team_id})
            owner = session.get(User, chosen.owner_id)
            timeline.record(session, contact_id=lead.contact_id, kind="lead.assignment", occurred_at=input.at,
                            summary=f"lead {lead.id} given to {owner.name if owner else chosen.owner_id} "
                                    f"({chosen.explanation.get('rule')})",
                            data={"lead_id": lead.id, **chosen.explanation})
            return self._with_calendar(session, policy, chosen, input)

    def _with_calendar(self, session: Session, policy: LeadPolicyDefinition, chosen: AssignOutput,
                       input: AssignInput) -> AssignOutput:
        """The calendar the owner's first-touch SLA counts on (the preview's, so both agree);
        a calendar that cannot be used counts elapsed time, with the problem explained."""
        if chosen.owner_id is None:
            return chosen
        try:
            calendar, holidays = first_touch_calendar(session, policy, chosen.owner_id, input.at)
        except (ClockError, ValueError) as exc:
            explanation = {**chosen.explanation, "sla_problem": str(exc)}
            return chosen.model_copy(update={"explanation": explanation})
        return chosen.model_copy(update={"calendar": calendar, "holidays": holidays})

    # -- the owner's task, the nurture run, cancelling (asynchronous: they call Temporal) -----

    @activity.defn(name="create_lead_task")
    async def create_task(self, input: TouchTaskInput) -> TouchTaskOutput:
        """The owner's first-touch ``call`` task (``tasks.entity`` = ``lead:<id>``), once per
        round: a retry finds the task by its key and starts (or finds) its workflow."""
        name = await asyncio.to_thread(self._contact_name, input.contact_id)
        draft = TaskDraft(kind=TaskKind.CALL, title=f"First call: {name}"[:200], due=input.due_at,
                          contact_id=input.contact_id, owner_id=input.owner_id, priority=TaskPriority.NORMAL,
                          run_key=f"{ids.lead_workflow_id(input.lead_id)}:touch:{input.round}",
                          entity=ids.lead_entity(input.lead_id))
        try:
            task = await tasks_service.create(self._engine, activity.client(), self._settings, draft, input.at)
        except FollowthroughError as exc:  # what the API would refuse: recorded, not retried
            return TouchTaskOutput(reason=exc.message)
        return TouchTaskOutput(task_id=task.id)

    @activity.defn(name="hand_to_lead")
    async def hand_over(self, input: LeadStepInput) -> LeadStepResult:
        """A sequence's ``lead`` step (see ``service.hand_over``); what the API would refuse (no
        published lead policy, the contact gone) is a skip with why."""
        try:
            lead, created = await service.hand_over(
                self._engine, activity.client(), self._settings, input.contact_id,
                key=f"step:{ids.ledger_key(input.run_id, input.step_id, input.visit)}",
                source=input.source, attributes=dict(input.attributes))
        except FollowthroughError as exc:
            return LeadStepResult(reason=exc.message)
        return LeadStepResult(lead_id=lead.id, created=created)

    @activity.defn(name="cancel_lead_task")
    async def cancel_task(self, input: CancelTaskInput) -> None:
        try:
            await tasks_service.act_on(self._engine, activity.client(), input.task_id, "cancel",
                                       CancelInput(reason=input.reason[:200] or None))
        except tasks_service.InvalidTransition:
            pass  # already done or cancelled

    @activity.defn(name="enroll_lead_nurture")
    async def enroll_nurture(self, input: NurtureInput) -> NurtureOutput:
        """Enroll the contact in the policy's nurture sequence, owned by the lead (a retry finds
        the run by the sequence's business key)."""

        async def client() -> Client:
            return activity.client()

        try:
            run, _ = await enroll(self._engine, client, self._settings, input.sequence, input.contact_id, {},
                                  entity=ids.lead_entity(input.lead_id))
        except (NotFound, Conflict) as exc:
            return NurtureOutput(reason=exc.message)
        return NurtureOutput(run_id=run.id)

    @activity.defn(name="cancel_lead_run")
    async def cancel_run(self, input: CancelRunInput) -> None:
        """Cancel one run the lead owns (its nurture run when the lead goes to sales)."""
        workflow_id = await asyncio.to_thread(self._running, input.run_id)
        if workflow_id is None:
            return
        try:
            await activity.client().get_workflow_handle(workflow_id).cancel()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            await asyncio.to_thread(self._finish, input.run_id, input.reason)

    @activity.defn(name="cancel_owned")
    async def cascade(self, input: CascadeInput) -> CascadeOutput:
        done = await entities.cancel_owned(self._engine, activity.client(), input.entity, input.reason)
        return CascadeOutput(runs=done.runs, tasks=done.tasks)

    # -- helpers ----------------------------------------------------------------------------

    def _policy(self, session: Session, name: str, version: int) -> LeadPolicyDefinition:
        """The pinned version (immutable once saved)."""
        return parse_policy(definitions.get(session, name, version).document)

    def _contact_name(self, contact_id: int) -> str:
        with read_scope(self._engine) as session:
            return contacts.get(session, contact_id).name or f"contact {contact_id}"

    def _running(self, run_id: str) -> str | None:
        with read_scope(self._engine) as session:
            run = runs.get(session, run_id)
            return run.workflow_id if run.status == RunStatus.RUNNING else None

    def _finish(self, run_id: str, reason: str) -> None:
        with session_scope(self._engine) as session:
            runs.finish(session, run_id, RunStatus.CANCELLED, reason or "cancelled")


def _lead_view(lead: Lead) -> dict[str, Any]:
    """The lead as policy expressions see it (``lead.source``, ``lead.attributes``, ...)."""
    return {"id": lead.id, "source": lead.source, "attributes": dict(lead.attributes or {}),
            "score": lead.score, "stage": lead.stage}


def _event(session: Session, key: str) -> dict[str, Any] | None:
    row = session.exec(select(LeadEvent).where(LeadEvent.key == key)).first()
    if row is None:
        return None
    detail = dict(row.detail or {})
    explanation = {k: v for k, v in detail.items() if k not in ("round",)}
    return {"owner_id": detail.get("owner_id"), "team_id": detail.get("team_id"), "explanation": explanation}


def _manager_of(session: Session, owner: User | None, lead: Lead) -> int | None:
    """Who hears of a breach: the owner's manager, else the manager of the lead's team."""
    if owner is not None and owner.manager_id is not None:
        return owner.manager_id
    if lead.team_id is not None:
        team = session.get(Team, lead.team_id)
        if team is not None and team.manager_id is not None:
            return team.manager_id
    if owner is not None and owner.id is not None:
        query = select(Team.manager_id).join(TeamMember, TeamMember.team_id == Team.id).where(
            TeamMember.user_id == owner.id, Team.manager_id.is_not(None))  # type: ignore[union-attr]
        found = session.exec(query).first()
        return found
    return None
