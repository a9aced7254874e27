"""The deliver activity writes the run's held step records in its claim's transaction, on every
attempt: an answer from it means they are written (the run then drops them)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.testing import ActivityEnvironment

from activities.delivery import DeliveryActivities
from channels.registry import build_channels
from followthrough.bootstrap import seed_builtins
from followthrough.models.runs import DeliverInput, StepRecord
from followthrough.models.vocab import Channel, LedgerState, StepState
from followthrough.rendering import Renderer
from followthrough.store import contacts, runs
from followthrough.store.db import session_scope
from followthrough.store.templates import DbTemplateSource
from tests.conftest import make_settings

NOON = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("attempt", [1, 2])
async def test_held_step_records_are_written_by_every_attempt(engine: Engine, tmp_path: Path, attempt: int) -> None:
    settings = make_settings(tmp_path)
    seed_builtins(engine, settings)
    with session_scope(engine) as session:
        contact_id = contacts.create(session, {"name": "Ilona", "phone": "+36301234567"}).id
        run, _ = runs.claim(session, kind="sequence", workflow_id="wf-1", active_key="k1",
                            contact_id=contact_id)
    before = StepRecord(run_id=run.id, seq=1, step_id="pause", type="wait", state=StepState.DONE,
                        started_at=NOON, finished_at=NOON)
    record = StepRecord(run_id=run.id, seq=2, step_id="s", type="send", state=StepState.ACTIVE, started_at=NOON)
    # legacy_to: the door skips the message without calling a channel.
    deliver = DeliverInput(run_id=run.id, step_id="s", contact_id=contact_id, channel=Channel.SMS,  # type: ignore[arg-type]
                           template="welcome_followup", at=NOON, legacy_to=True, steps=[before, record])
    channels = build_channels(settings)
    activities = DeliveryActivities(engine, Renderer(DbTemplateSource(engine), "en"), channels, settings)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    try:
        result = await env.run(activities.deliver, deliver)
    finally:
        await channels.aclose()
    assert result.state == LedgerState.SKIPPED
    with session_scope(engine) as session:
        assert [(s.step_id, s.state) for s in runs.steps(session, run.id)] == [("pause", "done"), ("s", "active")]
