"""A run's business waits read the public holidays pinned into its input, never the ``holidays``
package (time-skipping server, the production worker and runner)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from followthrough import ids
from followthrough.calendar import Calendar, PinnedHolidays, add_business_time, pin_holidays
from followthrough.enrollment import enroll, start_sequence
from followthrough.models.runs import SequenceInput, StepRecord
from followthrough.settings import Settings
from followthrough.store import calendars, contacts, definitions, runs
from followthrough.store.db import session_scope
from followthrough.store.tables import RunStep
from tests.conftest import TEST_CONVERTER
from tests.support.run_view import shown_steps
from tests.support.stack import running_worker
from tests.support.waiting import eventually
from tests.workflows.test_pinning import _start_input
from worker import workflow_runner
from workflows import WORKFLOWS

#: Open every day 09:00-17:00 UTC, with Hungary's public holidays.
OFFICE: dict[str, Any] = {"time_zone": "UTC", "country": "HU",
                          "week": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
STEPS = [{"id": "office", "type": "wait", "business": {"duration": "PT16H", "calendar": "office"}}]


def _definition(name: str) -> dict[str, Any]:
    return {"name": name, "kind": "sequence", "category": "service", "locales": ["en"], "steps": STEPS}


async def _office_step(engine: Engine, client: Client, run_id: str) -> RunStep | StepRecord:
    async def check() -> RunStep | StepRecord | None:
        return next((s for s in await shown_steps(engine, client, run_id) if s.step_id == "office"), None)

    return await eventually(check)


async def _with_timer(handle: WorkflowHandle) -> WorkflowHistory | None:
    history = await handle.fetch_history()
    return history if any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in history.events) else None


def _utc(value: datetime | None) -> datetime:
    assert value is not None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class TestPinnedHolidays:
    async def test_enrollment_pins_the_holidays_of_the_calendars_countries(
        self, ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
    ) -> None:
        settings = settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
        name = f"office_{uuid.uuid4().hex[:8]}"
        with session_scope(engine) as session:
            calendars.put(session, Calendar.model_validate({"name": "office", **OFFICE}))
            definitions.save(session, name, "sequence", _definition(name), publish=True)
            contact_id = contacts.create(session, {"name": "Ada", "email": "ada@example.test"}).id
        assert contact_id is not None

        async def client():  # type: ignore[no-untyped-def]
            return ts_env.client

        async with running_worker(ts_env.client, settings, engine):
            run, _ = await enroll(engine, client, settings, name, contact_id, {})
            step = await _office_step(engine, ts_env.client, run.id)
            handle = ts_env.client.get_workflow_handle(run.workflow_id)
            start = await _start_input(ts_env, handle)
            await handle.terminate("test done")

        year = datetime.now(UTC).year
        assert start.holidays is not None and list(start.holidays) == ["HU"]
        hu = start.holidays["HU"]
        assert (hu.first_year, hu.last_year) == (year - 1, year + 2)
        assert {date(y, 10, 23) for y in range(year - 1, year + 3)} <= set(hu.closed)
        calendar = Calendar.model_validate({"name": "office", **OFFICE}).with_holidays(start.holidays)
        began = _utc(step.started_at)
        assert _utc(step.due_at) == add_business_time(calendar, began, timedelta(hours=16))

    async def test_the_wait_reads_the_pinned_dates_not_the_package(
        self, ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
    ) -> None:
        today = (await ts_env.get_current_time()).date()  # the server's clock, skipped ahead
        # The next three days that are no Hungarian holiday are pinned as holidays.
        real = set(pin_holidays(["HU"], today.year, today.year + 1)["HU"].closed)
        invented = [d for d in (today + timedelta(days=n) for n in range(1, 30)) if d not in real][:3]
        pinned = {"HU": PinnedHolidays(first_year=today.year - 1, last_year=today.year + 2, closed=invented)}
        step = await self._run_office_wait(ts_env, engine, settings, pinned)

        office = Calendar.model_validate({"name": "office", **OFFICE})
        began, due = _utc(step.started_at), _utc(step.due_at)
        assert due == add_business_time(office.with_holidays(pinned), began, timedelta(hours=16))
        assert due.date() > invented[-1]
        assert due != add_business_time(office, began, timedelta(hours=16))

    async def test_a_run_started_before_holidays_were_pinned_pins_them_at_its_first_live_decision(
        self, ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
    ) -> None:
        step = await self._run_office_wait(ts_env, engine, settings, None)
        began = _utc(step.started_at)
        pinned = pin_holidays(["HU"], began.year - 1, began.year + 2)
        office = Calendar.model_validate({"name": "office", **OFFICE})
        assert _utc(step.due_at) == add_business_time(office.with_holidays(pinned), began, timedelta(hours=16))
        # The due time alone may not show it (no holiday within two days): the history does.
        markers = [e.marker_recorded_event_attributes for e in self.history.events
                   if e.HasField("marker_recorded_event_attributes")]
        patches = [bytes(p.data) for m in markers if m.marker_name == "core_patch"
                   for p in m.details["patch-data"].payloads]
        assert [b'"late-holidays-1"' in p for p in patches].count(True) == 1
        assert not any(b'"late-holidays-2"' in p for p in patches)
        activities = [bytes(m.details["data"].payloads[0].data) for m in markers
                      if m.marker_name == "core_local_activity"]
        assert [b'"pin_holidays"' in a for a in activities].count(True) == 1
        # And the history replays: every decision replayed answers the same.
        replayer = Replayer(workflows=WORKFLOWS, data_converter=TEST_CONVERTER,
                            workflow_runner=workflow_runner())
        assert (await replayer.replay_workflow(self.history, raise_on_replay_failure=False)).replay_failure is None

    async def _run_office_wait(
        self, ts_env: WorkflowEnvironment, engine: Engine, settings: Settings,
        pinned: dict[str, PinnedHolidays] | None,
    ) -> RunStep:
        settings = settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
        name = f"office_{uuid.uuid4().hex[:8]}"
        with session_scope(engine) as session:
            contact_id = contacts.create(session, {"name": "Ada", "email": "ada2@example.test"}).id
            assert contact_id is not None
            run, _ = runs.claim(session, kind="sequence", workflow_id=ids.sequence_workflow_id(name, contact_id),
                                active_key=ids.sequence_active_key(name, contact_id), contact_id=contact_id,
                                definition_name=name, definition_version=1)
        start = SequenceInput(run_id=run.id, contact_id=contact_id, definition_name=name, definition_version=1,
                              definition=_definition(name), calendars={"office": OFFICE}, holidays=pinned)

        async with running_worker(ts_env.client, settings, engine):
            handle = await start_sequence(ts_env.client, settings, run, start)
            step = await _office_step(engine, ts_env.client, run.id)
            # The history is complete up to the wait once the task that started its timer did.
            self.history = await eventually(lambda: _with_timer(handle))
            await handle.terminate("test done")
        return step


class TestHolidaysOfALongRun:
    async def test_a_continuation_pins_the_years_ahead(
        self, ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
    ) -> None:
        settings = settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex}"})
        name = f"long_{uuid.uuid4().hex[:8]}"
        year = (await ts_env.get_current_time()).year
        stale = {"HU": PinnedHolidays(first_year=year - 4, last_year=year - 2, closed=[date(year - 2, 10, 23)])}
        steps = [{"id": "tick", "type": "wait", "duration": "PT1H"},
                 {"id": "again", "type": "if", "condition": "run.visits.tick < 3", "then": "tick"}]
        with session_scope(engine) as session:
            contact_id = contacts.create(session, {"name": "Ada", "email": "ada3@example.test"}).id
            assert contact_id is not None
            run, _ = runs.claim(session, kind="sequence", workflow_id=ids.sequence_workflow_id(name, contact_id),
                                active_key=ids.sequence_active_key(name, contact_id), contact_id=contact_id,
                                definition_name=name, definition_version=1)
        start = SequenceInput(run_id=run.id, contact_id=contact_id, definition_name=name, definition_version=1,
                              definition={**_definition(name), "steps": steps}, holidays=stale,
                              history_limit=10)

        async with running_worker(ts_env.client, settings, engine):
            handle = await start_sequence(ts_env.client, settings, run, start)
            await ts_env.sleep(timedelta(hours=4))
            assert (await handle.result())["status"] == "completed"
            latest = await _start_input(ts_env, ts_env.client.get_workflow_handle(run.workflow_id))

        assert latest.carry is not None and latest.carry.state.visits["tick"] >= 1
        assert latest.holidays == pin_holidays(["HU"], year - 1, year + 2)
