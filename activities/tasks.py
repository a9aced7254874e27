"""Task activities: keep the tasks row in step with its workflow, and gather what a task's
messages show (the door renders and sends them like every other message)."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode

from followthrough import action_links, ids
from followthrough.dsl.interpreter import TASK_CANCELLED, TASK_COMPLETED
from followthrough.errors import FollowthroughError
from followthrough.models.runs import RunEvent
from followthrough.models.tasks import (
    MessageData,
    MessageDataInput,
    NextOccurrence,
    NextOccurrenceInput,
    RunTaskInput,
    RunTaskResult,
    TaskEndedInput,
    TaskSync,
)
from followthrough.models.vocab import ACTIVE_RUN_STATUSES, FINAL_TASK_STATES, TaskState
from followthrough.settings import Settings
from followthrough.store import tasks
from followthrough.store.db import as_utc, read_scope, session_scope
from followthrough.store.tables import Contact, Run, Task, User
from followthrough.tasks import service
from followthrough.tasks.recurrence import next_due

#: The one-click links of a task's reminder (see ``api/services/task_actions.py``).
REMINDER_LINKS = ("done", "snooze", "open")


class TaskActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    @activity.defn(name="sync_task")
    async def sync(self, change: TaskSync) -> None:
        """Idempotent: the row gets the workflow's values, whatever it had."""
        await asyncio.to_thread(self._sync, change)

    @activity.defn(name="task_message")
    async def message(self, input: MessageDataInput) -> MessageData:
        """The data of a reminder (one task) or of the manager's digest (the rep's tasks that
        turned overdue in one window), read when the message is about to go."""
        return await asyncio.to_thread(self._message, input)

    @activity.defn(name="next_task_occurrence")
    async def next_occurrence(self, input: NextOccurrenceInput) -> NextOccurrence:
        """A completed recurring task's next occurrence: a new task (``previous_id`` = this
        one) with its own workflow. A retry finds the task it created and starts (or finds)
        its workflow; a series that has ended creates nothing."""
        created = await asyncio.to_thread(self._follow, input.task_id)
        if created is None:
            return NextOccurrence()
        await service.start(activity.client(), self._settings, created)
        return NextOccurrence(task_id=created.id, due_at=tasks.due_at(created))

    @activity.defn(name="create_run_task")
    async def create_for_run(self, input: RunTaskInput) -> RunTaskResult:
        """A sequence's ``task`` step, through the API's own creation (``service.create``): the
        owner defaults to the contact's, the due time is computed the same way. Idempotent: the
        row is keyed ``<run id>:<step id>:<visit>``, so a retry finds the task its first attempt
        made (and starts or finds its workflow) instead of making a second one. What the API
        would refuse (no owner, an unknown one, a due time already past) is a skip, with why."""
        draft = service.TaskDraft(
            kind=input.kind, title=input.title, note=input.note,
            due=input.due_at or input.due,  # type: ignore[arg-type]
            contact_id=input.contact_id, owner_id=input.owner_id, priority=input.priority,
            run_id=input.run_id, run_key=ids.ledger_key(input.run_id, input.step_id, input.visit),
        )
        try:
            task = await service.create(self._engine, activity.client(), self._settings, draft, input.at)
        except FollowthroughError as exc:  # a 4xx of the API: nothing to retry
            details = "; ".join(f"{e.path.lstrip('/')}: {e.message}" for e in exc.errors)
            return RunTaskResult(reason=f"{exc.message} {details}".strip())
        return RunTaskResult(task_id=task.id, due_at=tasks.due_at(task), owner_id=task.owner_id)

    @activity.defn(name="task_ended")
    async def tell_run(self, input: TaskEndedInput) -> None:
        """Signal the run that created the task (``task.completed`` with the outcome, or
        ``task.cancelled``) straight to its workflow, not through the contact's fan-out: the
        event is this run's alone. A run that has ended hears nothing (its workflow id may
        already belong to a later enrollment). The entity that owns the task (``lead:12``)
        hears it at ``lead-12``; one that has ended hears nothing."""
        workflow_ids = []
        if input.run_id is not None:
            workflow_ids.append(await asyncio.to_thread(self._active_run, input.run_id))
        if input.entity is not None:  # a lead's (a ticket's) workflow, by its business key
            workflow_ids.append(ids.entity_workflow_id(input.entity))
        kind = TASK_COMPLETED if input.state == TaskState.DONE else TASK_CANCELLED
        event = RunEvent(kind=kind, data={"task_id": input.task_id, "state": input.state.value,
                                          "outcome": input.outcome})
        for workflow_id in workflow_ids:
            if workflow_id is None:
                continue
            try:
                await activity.client().get_workflow_handle(workflow_id).signal("event", event)
            except RPCError as exc:
                if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                    raise
                activity.logger.info("%s ended before its task %s did", workflow_id, input.task_id)

    def _active_run(self, run_id: str) -> str | None:
        with read_scope(self._engine) as session:
            run = session.get(Run, run_id)
            return run.workflow_id if run is not None and run.status in ACTIVE_RUN_STATUSES else None

    def _follow(self, task_id: int) -> Task | None:
        with session_scope(self._engine) as session:
            existing = tasks.follower(session, task_id)
            if existing is not None:
                return existing
            task = tasks.get(session, task_id)
            owner = session.get(User, task.owner_id)
            if task.rrule is None or owner is None:
                return None
            due = next_due(task.rrule, tasks.series_start(session, task), tasks.due_at(task), owner.time_zone)
            if due is None:
                return None
            return tasks.create(session, {
                "owner_id": task.owner_id, "contact_id": task.contact_id, "kind": task.kind,
                "title": task.title, "note": task.note, "due_at": due, "remind_before": task.remind_before,
                "priority": task.priority, "rrule": task.rrule, "previous_id": task.id,
            })

    def _reminder(self, task_id: int) -> MessageData:
        """One task's message data; while the task is open it carries one-click links
        (``data.links.done``, ``.snooze``, ``.open``) in the owner's language. Issued here, in a
        writing session: a retry issues fresh links, and the message sends whichever it got."""
        with session_scope(self._engine) as session:
            task = tasks.get(session, task_id)
            owner = session.get(User, task.owner_id)
            data: dict[str, object] = {"task": _task_data(session, task), "owner": _owner_data(owner)}
            if task.state not in FINAL_TASK_STATES:
                locale = (owner.locale if owner is not None else None) or self._settings.default_locale
                data["links"] = action_links.issue_all(session, self._settings, "task", task_id,
                                                       list(REMINDER_LINKS), locale)
            return MessageData(data=data, to_user_id=task.owner_id, title=task.title)

    def _sync(self, change: TaskSync) -> None:
        with session_scope(self._engine) as session:
            tasks.sync(session, change)

    def _message(self, input: MessageDataInput) -> MessageData:
        if input.kind == "reminder":
            return self._reminder(input.task_id)
        with read_scope(self._engine) as session:
            task = tasks.get(session, input.task_id)
            owner = session.get(User, task.owner_id)
            manager_id = owner.manager_id if owner is not None else None
            if manager_id is None or input.window is None or input.owner_id is None:
                return MessageData()
            listed = tasks.overdue_in_window(session, input.owner_id, input.window)
            if not listed:
                return MessageData()
            return MessageData(
                data={"owner": _owner_data(owner), "tasks": [_task_data(session, t) for t in listed]},
                to_user_id=manager_id, title=f"{len(listed)} overdue",
            )


def _task_data(session: Session, task: Task) -> dict[str, object]:
    contact = session.get(Contact, task.contact_id) if task.contact_id is not None else None
    return {
        "contact": contact.name if contact is not None else "",
        "id": task.id, "kind": task.kind, "title": task.title, "note": task.note or "",
        "priority": task.priority, "state": task.state, "contact_id": task.contact_id,
        "due_at": as_utc(task.due_at).isoformat(),  # type: ignore[union-attr]
    }


def _owner_data(owner: User | None) -> dict[str, object]:
    if owner is None:
        return {"id": None, "name": "", "time_zone": "UTC"}
    return {"id": owner.id, "name": owner.name, "time_zone": owner.time_zone}



