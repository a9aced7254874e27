"""Record workflow histories for the replay test: `uv run python -m tests.workflows.histories.record`.

Each scenario runs SequenceWorkflow on the time-skipping server against the real loopback
SMTP/Twilio-compatible servers, then its history is written next to this file. Re-record only
when a change is *meant* to be incompatible (and then keep the old files too, with patching).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
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
from followthrough.models.runs import RunEvent
from followthrough.policy.contact_policy import PolicyConfig, QuietHours
from followthrough.store import contacts, definitions
from followthrough.store.db import make_engine, session_scope, upgrade
from followthrough.store.policy import put_config
from followthrough.temporal import SEARCH_ATTRIBUTES, register_search_attributes
from tests.conftest import make_settings
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


SCENARIOS: dict[str, tuple[dict[str, Any], Driver]] = {
    "welcome_completed": ({"steps": [
        {"id": "mail", **MAIL}, {"id": "pause", "type": "wait", "duration": "P2D"},
        {"id": "text", **SMS}]}, _sleep),
    "stopped_by_reply": ({"stop_on": ["reply"], "steps": [
        {"id": "mail", **MAIL}, {"id": "pause", "type": "wait", "duration": "P2D"},
        {"id": "text", **SMS}]}, _reply_then_sleep),
    "branches_and_wait_for": ({"steps": [
        {"id": "mail", **MAIL},
        {"id": "answer", "type": "wait_for", "event": "reply", "timeout": "P1D"},
        {"id": "check", "type": "if", "condition": "events.reply.received", "then": "thanks", "else": "nudge"},
        {"id": "nudge", **SMS},
        {"id": "done", "type": "exit", "reason": "no_reply"},
        {"id": "thanks", **MAIL}]}, _sleep),
}


async def record(target: Path) -> None:
    tmp = Path(tempfile.mkdtemp())
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()), data_converter=pydantic_data_converter)
    await register_search_attributes(env.client, "default", [k.name for k in SEARCH_ATTRIBUTES])
    store = OutboxStore()
    smtp = OutboxSmtpServer(store, "127.0.0.1", 0)
    twilio = OutboxTwilioServer(store, "127.0.0.1", 0, account_sid="AC" + "1" * 32, auth_token="t")
    smtp.start()
    twilio.start()
    try:
        settings = outbox_settings(make_settings(tmp), OutboxHandle(store, smtp, twilio))
        engine = make_engine(settings.resolved_database_url)
        upgrade(engine)
        seed_builtins(engine, settings)
        with session_scope(engine) as session:
            put_config(session, PolicyConfig(quiet_hours=QuietHours(channels=[])))
        async with running_worker(env.client, settings, engine):
            for index, (name, (body, drive)) in enumerate(SCENARIOS.items(), start=1):
                document = {"name": name, "kind": "sequence", "category": "service",
                            "locales": ["en"], "stop_on": [], **body}
                with session_scope(engine) as session:
                    definitions.save(session, name, "sequence", document, publish=True)
                    contact_id = contacts.create(session, {
                        "name": f"Replay {index}", "email": f"r{index}@example.test",
                        "phone": f"+1555555020{index}"}).id

                async def client():  # type: ignore[no-untyped-def]
                    return env.client

                run, _ = await enroll(engine, client, settings, name, contact_id, {})  # type: ignore[arg-type]
                handle = env.client.get_workflow_handle(run.workflow_id)
                await drive(env, handle)
                await handle.result()
                history = await handle.fetch_history()
                (target / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))
                print(f"recorded {name}")  # noqa: T201 - a command-line tool
    finally:
        smtp.stop()
        twilio.stop()
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
