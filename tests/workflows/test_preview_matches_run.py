"""The preview equals what a real run does: same steps, same planned times, same rendered text.

The preview is computed first (from the time-skipping server's clock), nothing written, then the
contact is enrolled and SequenceWorkflow runs on that server with channels on the loopback outbox. The
run's clock also counts the real time its activities take, so absolute times are compared
within ``DRIFT``; a wait's length (due - start) is compared exactly.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.enrollment import enroll
from followthrough.models.runs import SequenceResult
from followthrough.policy.contact_policy import PolicyConfig
from followthrough.preview import PreviewResult, preview_sequence
from followthrough.rendering import Renderer
from followthrough.settings import Settings
from followthrough.store import contacts, definitions, policy, runs
from followthrough.store.db import session_scope
from followthrough.store.tables import RunStep
from followthrough.store.templates import DbTemplateSource
from tests.support.stack import running_worker

#: The run's clock also counts the real time its activities take (the first Twilio call alone
#: about 1.5 s here), and that adds up along the run. The planned times are hours and days apart,
#: so this window cannot mistake one for another; wait lengths are compared exactly.
DRIFT = timedelta(seconds=30)
STEPS = [
    {"id": "welcome_email", "type": "send", "channel": "email", "template": "welcome"},
    {"id": "pause", "type": "wait", "duration": "PT2H"},
    {"id": "followup_sms", "type": "send", "channel": "sms", "template": "welcome_followup"},
    {"id": "next_day", "type": "wait", "duration": "P1D"},
    {"id": "welcome_call", "type": "send", "channel": "voice", "template": "welcome_call"},
]


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _assert_same_times(rows: list[RunStep], preview: PreviewResult) -> None:
    for row, step in zip(rows, preview.steps, strict=True):
        started, finished, due = _utc(row.started_at), _utc(row.finished_at), _utc(row.due_at)
        assert _close(started, step.started_at), (row.step_id, started, step.started_at)
        assert _close(finished, step.finished_at), (row.step_id, finished, step.finished_at)
        assert _close(due, step.due_at), (row.step_id, due, step.due_at)
        if due is not None and step.due_at is not None and started is not None:
            assert due - started == step.due_at - step.started_at


def _close(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= DRIFT


def _save(engine: Engine, steps: list[dict[str, Any]], **contact: Any) -> int:
    document = {"name": "preview_twin", "kind": "sequence", "category": "service",
                "locales": ["en", "ru"], "stop_on": ["reply"], "steps": steps}
    fields = {"name": "Анна Иванова", "email": "anna@example.test", "phone": "+79161234567",
              "locale": "ru", "time_zone": "Europe/Moscow", **contact}
    with session_scope(engine) as session:
        definitions.save(session, "preview_twin", "sequence", document, publish=True)
        contact_id = contacts.create(session, fields).id
    assert contact_id is not None
    return contact_id


async def _preview_then_run(ts_env: WorkflowEnvironment, engine: Engine, settings: Settings,
                            contact_id: int, data: dict[str, Any]
                            ) -> tuple[PreviewResult, SequenceResult, list[RunStep]]:
    """Preview from the server's clock, then enroll at once (the worker is already up, so the
    run starts within milliseconds of that clock reading)."""
    settings = settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
    renderer = Renderer(DbTemplateSource(engine), settings.default_locale, settings.brand_name)

    async def client():  # type: ignore[no-untyped-def]
        return ts_env.client

    async with running_worker(ts_env.client, settings, engine):
        start = await ts_env.get_current_time()  # the clock the workflow starts on
        preview = preview_sequence(engine, renderer, "preview_twin", start=start,
                                   contact_id=contact_id, data=data)
        run, _ = await enroll(engine, client, settings, "preview_twin", contact_id, data)
        handle = ts_env.client.get_workflow_handle(run.workflow_id, result_type=SequenceResult)
        await ts_env.sleep(timedelta(days=2))
        result = await handle.result()
    with session_scope(engine) as session:
        return preview, result, runs.steps(session, run.id)


class TestPreviewMatchesRun:
    async def test_same_steps_times_and_text_as_the_real_run(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        contact_id = _save(engine, STEPS)
        data = {"company": "Север"}
        preview, result, rows = await _preview_then_run(ts_env, engine, edge_settings, contact_id, data)

        assert [(r.step_id, r.type, r.state, r.reason) for r in rows] == [
            (s.step_id, s.type, s.state, s.reason) for s in preview.steps]
        assert len(rows) == len(STEPS)
        _assert_same_times(rows, preview)
        assert preview.end is not None
        assert (result.status, result.reason) == (preview.end.status, preview.end.reason)

        sent = list(reversed(outbox.store.list(limit=None)))
        planned = [s.message for s in preview.steps if s.message is not None]
        assert [(c.channel, c.to) for c in sent] == [(m.channel, m.to) for m in planned]
        email, sms, call = sent
        assert (email.subject, email.text.strip(), (email.html or "").strip()) == (
            planned[0].subject, planned[0].text, (planned[0].html or "").strip())
        assert "Север" in planned[0].text and "Анна Иванова" in planned[0].text
        assert (sms.text, call.text) == (planned[1].text, planned[2].text)
        assert preview.warnings == []

    async def test_quiet_hours_defer_the_sms_to_the_same_morning(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings, outbox: OutboxHandle
    ) -> None:
        with session_scope(engine) as session:
            policy.put_config(session, PolicyConfig())  # quiet 21:00-09:00 for SMS and calls
        # A fixed-offset zone where the server's clock reads 22:xx: deep in quiet hours.
        now = await ts_env.get_current_time()
        offset = (22 - now.astimezone(UTC).hour + 12) % 24 - 12  # -12..+11 hours
        zone = f"Etc/GMT{-offset:+d}"  # POSIX sign: Etc/GMT-3 is UTC+3
        contact_id = _save(engine, STEPS[2:], time_zone=zone, phone="+15555550123")
        preview, result, rows = await _preview_then_run(ts_env, engine, edge_settings, contact_id, {})

        sms = preview.steps[0]
        assert [d.reason for d in sms.deferrals] == ["quiet_hours"]
        assert sms.at.astimezone(ZoneInfo(zone)).time() == time(9, 0)
        assert [(r.step_id, r.state, r.reason) for r in rows] == [
            (s.step_id, s.state, s.reason) for s in preview.steps]
        _assert_same_times(rows, preview)
        assert _close(_utc(rows[0].finished_at), sms.at)
        sent = list(reversed(outbox.store.list(limit=None)))
        assert [(c.channel, c.text) for c in sent] == [
            (s.message.channel, s.message.text) for s in preview.steps if s.message is not None]
