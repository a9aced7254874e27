"""Record workflow histories for the replay test: `uv run python -m tests.workflows.histories.record`.

Each scenario runs SequenceWorkflow on the time-skipping server against the real loopback
SMTP/Twilio-compatible servers, then its history is written next to this file. Only scenarios
without a file are recorded unless named: a stored history stands for the code that recorded it,
and must keep replaying (README "Versioning workflows"). ``*_before_patches.json`` files were
recorded with the code before the patches of issue 8 (commit 30f12f3), with this script run
from an export of that commit and ``--out``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from channels.outbox import (
    OutboxHandle,
    OutboxSmtpServer,
    OutboxStore,
    OutboxTwilioServer,
    outbox_settings,
)
from followthrough.bootstrap import seed_builtins
from followthrough.devserver import temporal_test_server
from followthrough.enrollment import enroll
from followthrough.ids import task_workflow_id
from followthrough.models.runs import RunEvent
from followthrough.models.tasks import CompleteInput
from followthrough.policy.contact_policy import PolicyConfig, QuietHours
from followthrough.store import contacts, definitions, teams, users
from followthrough.store.db import make_engine, session_scope, upgrade
from followthrough.store.policy import put_config
from followthrough.temporal import SEARCH_ATTRIBUTES, register_search_attributes
from tests.conftest import make_settings
from tests.support.leads import POLICY
from tests.support.stack import running_worker

HERE = Path(__file__).resolve().parent
MAIL = {"type": "send", "channel": "email", "template": "welcome"}
SMS = {"type": "send", "channel": "sms", "template": "welcome_followup"}

Driver = Callable[[WorkflowEnvironment, WorkflowHandle], Awaitable[None]]


async def _sleep(env: WorkflowEnvironment, _handle: WorkflowHandle) -> None:
    await env.sleep(timedelta(days=5))


async def _reply_then_sleep(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await env.sleep(timedelta(hours=1))
    await handle.signal("event", RunEvent(kind="reply", channel="sms"))
    await env.sleep(timedelta(days=1))


async def _cancel_in_the_wait(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await env.sleep(timedelta(hours=1))
    await handle.cancel()
    await env.sleep(timedelta(minutes=1))


async def _complete_the_task(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    """Complete the task the run waits for (the last one it made) through its Update."""
    await env.sleep(timedelta(minutes=1))
    history = await handle.fetch_history()
    made = [json.loads(event.activity_task_completed_event_attributes.result.payloads[0].data)
            for event in history.events if event.HasField("activity_task_completed_event_attributes")]
    [*_, task_id] = [m["task_id"] for m in made if isinstance(m, dict) and m.get("task_id")]
    await env.client.get_workflow_handle(task_workflow_id(task_id)).execute_update(
        "complete", CompleteInput(outcome="interested"))
    await env.sleep(timedelta(hours=1))


@dataclass(frozen=True)
class Scenario:
    body: dict[str, Any]
    drive: Driver = _sleep
    category: str = "service"
    #: Twilio-compatible server: number -> (HTTP status, Twilio code) on every request.
    twilio_rule: tuple[int, int] | None = None
    history_limit: int | None = None
    #: The contact has an owner (a rep with an email): where ``internal`` sends without
    #: ``to_user`` and a ``task`` step's task go.
    owner: bool = False
    #: A published lead policy (``default_leads``) whose team ``sales`` is the owner: for ``lead``
    #: steps.
    lead_policy: bool = False


#: Email, two days, SMS: recorded again by each change of what such a run does.
WELCOME = [{"id": "mail", **MAIL}, {"id": "pause", "type": "wait", "duration": "P2D"}, {"id": "text", **SMS}]

SCENARIOS: dict[str, Scenario] = {
    "welcome_completed": Scenario({"steps": WELCOME}),
    # The same run after ``contact-when-read``: no reload of the contact after the wait.
    "welcome_contact_when_read": Scenario({"steps": WELCOME}),
    # ... and after ``steps-with-activities``: no step write before the wait either.
    "welcome_steps_with_activities": Scenario({"steps": WELCOME}),
    # ... and with ``baseline-2026-12-04``: one patch marker instead of one per change.
    "welcome_baseline": Scenario({"steps": WELCOME}),
    "stopped_by_reply": Scenario({"stop_on": ["reply"], "steps": WELCOME}, _reply_then_sleep),
    "branches_and_wait_for": Scenario({"steps": [
        {"id": "mail", **MAIL},
        {"id": "answer", "type": "wait_for", "event": "reply", "timeout": "P1D"},
        {"id": "check", "type": "if", "condition": "events.reply.received", "then": "thanks", "else": "nudge"},
        {"id": "nudge", **SMS},
        {"id": "done", "type": "exit", "reason": "no_reply"},
        {"id": "thanks", **MAIL}]}),
    # wait_for timeouts in working time through the clock (issue 11): 8 working hours on a
    # pinned calendar, then the next working day at 10:00 in the contact's zone.
    "business_wait_for": Scenario({"steps": [
        {"id": "answer", "type": "wait_for", "event": "reply",
         "timeout": {"after": "PT8H", "business": True, "calendar": "budapest_office"}},
        {"id": "callback", "type": "wait_for", "event": "reply",
         "timeout": {"after": "P1D", "business": True, "at": "10:00", "zone": "contact"}},
        {"id": "mail", **MAIL}]}),
    # Sales: at most two a day (the default cap), so the third message is deferred a day.
    "deferral": Scenario({"steps": [
        {"id": "one", **MAIL}, {"id": "two", **MAIL}, {"id": "three", **MAIL}]}, category="sales"),
    # Twilio answers 503 for 24 h: the delivery gives up and the run goes on.
    "give_up": Scenario({"steps": [{"id": "text", **SMS}, {"id": "after", **MAIL}]},
                        twilio_rule=(503, 20503)),
    "set_and_split": Scenario({"steps": [
        {"id": "score", "type": "set", "target": "lead.score", "value": 40},
        {"id": "bump", "type": "set", "target": "lead.score", "expression": "lead.score + 10"},
        {"id": "ab", "type": "split", "variants": [{"percent": 50, "goto": "a"}, {"percent": 50, "goto": "b"}]},
        {"id": "a", **MAIL}, {"id": "skip", "type": "goto", "goto": "end"},
        {"id": "b", **SMS},
        {"id": "end", "type": "exit", "reason": "split done"}]}),
    "start": Scenario({"steps": [{"id": "other", "type": "start", "definition": "welcome_sequence"}]}),
    "cancel": Scenario({"steps": WELCOME}, _cancel_in_the_wait),
    # A loop over a wait, continued as new every few loops (the first run's history is kept).
    "continue_as_new": Scenario({"steps": [
        {"id": "mail", **MAIL}, {"id": "pause", "type": "wait", "duration": "PT1H"},
        {"id": "again", "type": "if", "condition": "run.visits.mail < 4", "then": "mail"}]},
        history_limit=30),
    # An internal send without to_user goes to the contact's owner (``internal-to-owner``).
    "internal_to_owner": Scenario({"steps": [
        {"id": "tell", "type": "send", "channel": "internal", "template": "welcome"},
        {"id": "mail", **MAIL}]}, owner=True),
    # A task without wait, then one the run waits for: completed with an outcome the run reads.
    "task_step": Scenario({"steps": [
        {"id": "brochure", "type": "task", "kind": "todo", "title": "Send the brochure", "due": {"after": "PT4H"}},
        {"id": "call", "type": "task", "kind": "call", "title": "Call back", "due": {"after": "P1D", "at": "10:00"},
         "wait": True, "timeout": "P2D", "as": "call"},
        {"id": "check", "type": "if", "condition": "events.call.data.outcome == 'interested'", "then": "thanks"},
        {"id": "done", "type": "exit", "reason": "no_interest"},
        {"id": "thanks", **MAIL}]}, _complete_the_task, owner=True),
    # A lead step (issue 12): the contact goes to qualification; the run reads the lead's score.
    "lead_step": Scenario({"steps": [
        {"id": "qualify", "type": "lead", "source": "webinar", "attributes": {"budget": 5000}},
        {"id": "settle", "type": "wait", "duration": "PT1M"},
        {"id": "hot", "type": "if", "condition": "lead.score >= 50", "then": "mail"},
        {"id": "cold", "type": "exit", "reason": "cold"},
        {"id": "mail", **MAIL}]}, owner=True, lead_policy=True),
}

# The baseline (``baseline-2026-12-04``, ``steps-with-activities``) on the paths that cancel,
# defer, give up and continue as new: held step records written by ``finish_run``, a give-up, a
# deferral's wait and a continuation.
for _name in ("cancel", "deferral", "give_up", "continue_as_new"):
    SCENARIOS[f"{_name}_baseline"] = SCENARIOS[_name]
# Sequence behaviour 1 (``SequenceInput.behaviour``): every change without a patch marker, and
# ``end-with-last-send``: the last send's delivery ends the run, which then completes without
# ``finish_run``; the paths that end otherwise still call it.
for _name in ("welcome_baseline", "cancel", "deferral", "give_up", "stopped_by_reply", "continue_as_new"):
    SCENARIOS[f"{_name.removesuffix('_baseline')}_behaviour_1"] = SCENARIOS[_name]


@asynccontextmanager
async def recording_edge() -> AsyncIterator[tuple[WorkflowEnvironment, OutboxHandle]]:
    """The time-skipping server (payloads unencrypted, as the stored histories are) and the
    loopback SMTP and Twilio-compatible servers, for the recording scripts."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()), data_converter=pydantic_data_converter)
    await register_search_attributes(env.client, "default", [k.name for k in SEARCH_ATTRIBUTES])
    store = OutboxStore()
    smtp = OutboxSmtpServer(store, "127.0.0.1", 0)
    twilio = OutboxTwilioServer(store, "127.0.0.1", 0, account_sid="AC" + "1" * 32, auth_token="t")
    smtp.start()
    twilio.start()
    try:
        yield env, OutboxHandle(store, smtp, twilio)
    finally:
        smtp.stop()
        twilio.stop()
        await env.shutdown()


async def record(target: Path, names: list[str]) -> None:
    tmp = Path(tempfile.mkdtemp())
    async with recording_edge() as (env, edge):
        twilio = edge.twilio
        base = outbox_settings(make_settings(tmp), edge)
        engine = make_engine(base.resolved_database_url)
        upgrade(engine)
        seed_builtins(engine, base)
        with session_scope(engine) as session:
            put_config(session, PolicyConfig(quiet_hours=QuietHours(channels=[])))
        for index, name in enumerate(names, start=1):
            scenario = SCENARIOS[name]
            settings = base.model_copy(update={"workflow_history_limit": scenario.history_limit})
            document = {"name": name, "kind": "sequence", "category": scenario.category,
                        "locales": ["en"], "stop_on": [], **scenario.body}
            phone = f"+1555555020{index}"
            if scenario.twilio_rule is not None:
                twilio.rules_by_to[phone] = scenario.twilio_rule
            with session_scope(engine) as session:
                definitions.save(session, name, "sequence", document, publish=True)
                owner = users.create(session, name=f"Owner {index}", email=f"o{index}@example.test",
                                     role="rep")[0].id if scenario.owner else None
                if scenario.lead_policy:
                    definitions.save(session, "default_leads", "lead_policy", POLICY, publish=True)
                    teams.put(session, "sales", members_in=[(owner, 1)] if owner else [], manager_id=None,
                              calendar=None)
                contact_id = contacts.create(session, {
                    "name": f"Replay {index}", "email": f"r{index}@example.test", "phone": phone,
                    "owner_id": owner}).id

            async def client():  # type: ignore[no-untyped-def]
                return env.client

            async with running_worker(env.client, settings, engine):
                run, _ = await enroll(engine, client, settings, name, contact_id, {})  # type: ignore[arg-type]
                handle = env.client.get_workflow_handle(run.workflow_id)
                await scenario.drive(env, handle)
                try:
                    await handle.result()
                except WorkflowFailureError:
                    pass  # cancelled: the history is what we keep
                history = await handle.fetch_history()
                first = history.events[0].workflow_execution_started_event_attributes.first_execution_run_id
                if first != handle.result_run_id:  # continued as new: keep the first run's history
                    history = await env.client.get_workflow_handle(run.workflow_id, run_id=first).fetch_history()
            (target / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))
            print(f"recorded {name}")  # noqa: T201 - a command-line tool


def main(argv: list[str]) -> None:
    """``record.py [--out DIR] [name ...]``: by default, only the scenarios without a history
    (a recorded history is never overwritten by accident: it stands for the code of its day)."""
    target = HERE
    if argv[:1] == ["--out"]:
        target, argv = Path(argv[1]), argv[2:]
    names = argv or [n for n in SCENARIOS if not (target / f"{n}.json").exists()]
    asyncio.run(record(target, names))


if __name__ == "__main__":
    main(sys.argv[1:])
