"""How a sequence run meets channel failures (time-skipping server, real loopback servers)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.enrollment import enroll
from followthrough.models.runs import SequenceResult
from followthrough.settings import Settings
from followthrough.store import contacts, definitions, ledger, runs
from followthrough.store.db import session_scope
from tests.support.stack import running_worker

STEPS: list[dict[str, Any]] = [
    {"id": "mail", "type": "send", "channel": "email", "template": "welcome"},
    {"id": "pause", "type": "wait", "duration": "PT1H"},
    {"id": "text", "type": "send", "channel": "sms", "template": "welcome_followup"},
]


def _setup(engine: Engine, *, email: str | None = "f@example.test", phone: str | None = "+15555550161",
           category: str = "service") -> int:
    with session_scope(engine) as session:
        document = {"name": "failures", "kind": "sequence", "category": category, "locales": ["en"],
                    "stop_on": [], "steps": STEPS, "description": "", }
        definitions.save(session, "failures", "sequence", document, publish=True)
        return contacts.create(session, {"name": "Fay", "email": email, "phone": phone}).id  # type: ignore[return-value]


async def _run_to_end(ts_env: WorkflowEnvironment, engine: Engine, settings: Settings, contact_id: int,
                      skip: timedelta = timedelta(hours=2)) -> tuple[SequenceResult, list, list]:
    settings = settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})

    async def client():  # type: ignore[no-untyped-def]
        return ts_env.client

    async with running_worker(ts_env.client, settings, engine):
        run, _ = await enroll(engine, client, settings, "failures", contact_id, {})
        await ts_env.sleep(skip)
        result = await ts_env.client.get_workflow_handle(run.workflow_id, result_type=SequenceResult).result()
    with session_scope(engine) as session:
        steps = [(s.step_id, s.state, s.reason) for s in runs.steps(session, run.id)]
        rows = [(d.step_id, d.state, d.attempts, d.reason) for d in reversed(ledger.list_page(session, run_id=run.id))]
    return result, steps, rows


class TestPermanentFailure:
    async def test_smtp_550_fails_the_step_and_the_run_goes_on(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        outbox.smtp.fail_next.append("550 5.1.1 No such user")
        result, steps, rows = await _run_to_end(ts_env, engine, edge_settings, _setup(engine))
        assert result.status == "completed"
        assert [(s[0], s[1]) for s in steps] == [("mail", "failed"), ("pause", "done"), ("text", "sent")]
        assert steps[0][2].startswith("smtp_550")
        assert [(r[0], r[1], r[2]) for r in rows] == [("mail", "failed", 1), ("text", "sent", 1)]
        assert [c.channel for c in outbox.store.list(limit=None)] == ["sms"]

    async def test_twilio_21211_fails_the_sms_step(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        outbox.twilio.rules_by_to["+15555550161"] = (400, 21211)
        result, steps, rows = await _run_to_end(ts_env, engine, edge_settings, _setup(engine))
        assert result.status == "completed"
        assert [(s[0], s[1]) for s in steps][-1] == ("text", "failed")
        assert rows[-1][3].startswith("twilio_21211")


class TestTransientFailure:
    async def test_smtp_451_then_success_sends_once(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        outbox.smtp.fail_next.extend(["451 4.3.0 Try again later"] * 3)
        result, steps, rows = await _run_to_end(ts_env, engine, edge_settings, _setup(engine))
        assert [(s[0], s[1]) for s in steps][0] == ("mail", "sent")
        assert rows[0][:3] == ("mail", "sent", 4)
        assert len(outbox.store.list(channel="email", limit=None)) == 1

    async def test_twilio_429_with_retry_after_then_success_sends_once(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        outbox.twilio.fail_next.extend([(429, 20429, {"Retry-After": "7"}), (503, None, {})])
        result, steps, rows = await _run_to_end(ts_env, engine, edge_settings, _setup(engine))
        assert rows[-1][:3] == ("text", "sent", 3)
        assert len(outbox.store.list(channel="sms", limit=None)) == 1

    async def test_smtp_down_for_a_day_gives_up(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        outbox.smtp.fail_next.extend(["421 4.7.0 Service not available"] * 400)
        result, steps, rows = await _run_to_end(ts_env, engine, edge_settings, _setup(engine),
                                                skip=timedelta(hours=26))
        assert result.status == "completed"
        assert steps[0][:3] == ("mail", "failed", "gave_up")
        assert rows[0][1] == "failed" and rows[0][3] == "gave_up"
        assert outbox.store.list(channel="email", limit=None) == []


class TestNoAddress:
    @pytest.mark.parametrize(("email", "phone", "skipped"), [(None, "+15555550162", "mail"), ("n@example.test", None, "text")])
    async def test_a_channel_without_address_is_skipped(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings,
        email: str | None, phone: str | None, skipped: str,
    ) -> None:
        result, steps, rows = await _run_to_end(ts_env, engine, edge_settings, _setup(engine, email=email, phone=phone))
        assert result.status == "completed"
        assert [(s[0], s[2]) for s in steps if s[1] == "skipped"] == [(skipped, "no_address")]
