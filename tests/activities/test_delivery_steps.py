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
from activities.door import Door
from channels.base import SendReceipt
from channels.registry import build_channels
from followthrough.bootstrap import seed_builtins
from followthrough.models.runs import DeliverInput, RunEnd, RunFinish, StepRecord
from followthrough.models.vocab import Channel, LedgerState, RunStatus, StepState
from followthrough.rendering import Renderer
from followthrough.store import contacts, runs, timeline
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


def test_the_last_sends_outcome_ends_the_run_and_a_correction_replaces_that_end(
    any_engine: Engine, tmp_path: Path
) -> None:
    """``end-with-last-send``: ``sent`` closes the step and ends the run in its transaction, with
    one end on the timeline; a run that learns of a stop during that send corrects it (the same
    entry, now ``run.stopped``), once however often the correction is retried; only a running
    run or that end is replaced, never another end."""
    engine = any_engine
    settings = make_settings(tmp_path)
    seed_builtins(engine, settings)
    with session_scope(engine) as session:
        contact_id = contacts.create(session, {"name": "Ilona", "phone": "+36301234567"}).id
        run, _ = runs.claim(session, kind="sequence", workflow_id="wf-end", active_key="k-end",
                            contact_id=contact_id, definition_name="welcome")
    step = StepRecord(run_id=run.id, seq=1, step_id="s", type="send", state=StepState.ACTIVE, started_at=NOON)
    deliver = DeliverInput(run_id=run.id, step_id="s", contact_id=contact_id, channel=Channel.SMS,  # type: ignore[arg-type]
                           template="welcome_followup", at=NOON, category="service",  # type: ignore[arg-type]
                           end=RunEnd(status=RunStatus.COMPLETED, reason="end_of_sequence", step=step))
    door = Door(engine, Renderer(DbTemplateSource(engine), "en"), settings)
    key = f"{run.id}:s:1"
    prepared = door.prepare(deliver, key, NOON, [])
    assert prepared.message is not None
    result = door.sent(deliver, key, prepared.message, SendReceipt("SM1", "queued"), False)
    assert (result.state, result.ended) == (LedgerState.SENT, True)

    def ends() -> tuple[tuple[str, str | None, str | None], list[str], list[tuple[str, str | None]]]:
        with session_scope(engine) as session:
            row = runs.get(session, run.id)
            kinds = [e.kind for e in timeline.page(session, contact_id, before=None, limit=20)
                     if e.kind.startswith("run.")]
            steps = [(s.state, s.reason) for s in runs.steps(session, run.id)]
            return (row.status, row.reason, row.active_key), kinds, steps

    assert ends() == (("completed", "end_of_sequence", None), ["run.completed"], [("sent", None)])
    with session_scope(engine) as session:
        [closed] = runs.steps(session, run.id)
        assert closed.finished_at is not None and closed.finished_at.replace(tzinfo=UTC) >= NOON
        first_end = (runs.get(session, run.id).ended_at,
                     [e.occurred_at for e in timeline.page(session, contact_id, before=None, limit=20)])
    # The answer was lost; Temporal retries the attempt, which hands over the send's record as
    # under way again: the step is closed again, the run's end and its entry stay as they were.
    retry = door.prepare(deliver.model_copy(update={"steps": [step]}), key, NOON, [])
    assert retry.result is not None and (retry.result.state, retry.result.ended) == (LedgerState.SENT, True)
    assert ends() == (("completed", "end_of_sequence", None), ["run.completed"], [("sent", None)])
    with session_scope(engine) as session:
        assert first_end == (runs.get(session, run.id).ended_at,
                             [e.occurred_at for e in timeline.page(session, contact_id, before=None, limit=20)])
    stopped = RunFinish(run_id=run.id, status=RunStatus.STOPPED, reason="reply", corrects=RunStatus.COMPLETED)
    for _ in range(2):  # a retried correction changes nothing more
        with session_scope(engine) as session:
            runs.close(session, stopped)
        assert ends() == (("stopped", "reply", None), ["run.stopped"], [("sent", None)])
        with session_scope(engine) as session:  # the same entry, in its place
            assert [e.occurred_at for e in timeline.page(session, contact_id, before=None, limit=20)] == first_end[1]
    # A finish that corrects an end the run does not have (it was never written, or replaced):
    # the first end stands.
    with session_scope(engine) as session:
        runs.close(session, RunFinish(run_id=run.id, status=RunStatus.CANCELLED, corrects=RunStatus.COMPLETED))
    assert ends() == (("stopped", "reply", None), ["run.stopped"], [("sent", None)])


def test_a_finish_that_corrects_to_the_same_end_changes_nothing(any_engine: Engine) -> None:
    """A run whose last send ended it says ``corrects`` whenever it finishes itself afterwards
    (it may not know whether that delivery's end was written): finishing with that same end,
    or retrying such a finish, leaves the end's time and its timeline entry as they were."""
    engine = any_engine
    with session_scope(engine) as session:
        contact_id = contacts.create(session, {"name": "Anna", "phone": "+79161234567"}).id
        run, _ = runs.claim(session, kind="sequence", workflow_id="wf-same", active_key="k-same",
                            contact_id=contact_id, definition_name="welcome")
        runs.close(session, RunFinish(run_id=run.id, status=RunStatus.COMPLETED, reason="end_of_sequence"))

    def end() -> tuple[object, list[tuple[str, object]]]:
        with session_scope(engine) as session:
            return (runs.get(session, run.id).ended_at,
                    [(e.kind, e.occurred_at) for e in timeline.page(session, contact_id, before=None, limit=20)
                     if e.kind.startswith("run.")])

    first = end()
    for _ in range(2):
        with session_scope(engine) as session:
            runs.close(session, RunFinish(run_id=run.id, status=RunStatus.COMPLETED, reason="end_of_sequence",
                                          corrects=RunStatus.COMPLETED))
        assert end() == first
