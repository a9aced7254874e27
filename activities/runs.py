"""Bookkeeping of the runs table, called by workflows as local activities."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from temporalio import activity

from followthrough.calendar import PinnedHolidays, pin_holidays
from followthrough.models.runs import PinHolidaysInput, RunFinish, StepRecord, StepRecords
from followthrough.store import runs, timeline
from followthrough.store.db import session_scope


class RunActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="record_step")
    async def record_step(self, step: StepRecord) -> None:
        await asyncio.to_thread(self._record_step, step)

    @activity.defn(name="record_steps")
    async def record_steps(self, records: StepRecords) -> None:
        """Several step records in one transaction (``lean-bookkeeping``)."""
        await asyncio.to_thread(self._record_steps, records.steps)

    @activity.defn(name="finish_run")
    async def finish_run(self, finish: RunFinish) -> None:
        await asyncio.to_thread(self._finish_run, finish)

    @activity.defn(name="pin_holidays")
    async def pin_holidays(self, input: PinHolidaysInput) -> dict[str, PinnedHolidays]:
        """Public holiday dates for a continuing run (read from the installed package here,
        outside the workflow, and then carried in its input)."""
        return await asyncio.to_thread(pin_holidays, input.countries, input.first_year, input.last_year)

    def _record_step(self, step: StepRecord) -> None:
        with session_scope(self._engine) as session:
            runs.record_step(session, step)

    def _record_steps(self, records: list[StepRecord]) -> None:
        with session_scope(self._engine) as session:
            runs.record_steps(session, records)

    def _finish_run(self, finish: RunFinish) -> None:
        with session_scope(self._engine) as session:
            runs.record_steps(session, finish.steps)
            run = runs.get(session, finish.run_id)
            was_running = run.ended_at is None
            run = runs.finish(session, finish.run_id, finish.status, finish.reason)
            if was_running and run.contact_id is not None:
                timeline.record(
                    session,
                    contact_id=run.contact_id,
                    kind=f"run.{run.status}",
                    summary=f"{run.definition_name or run.kind} {run.status}"
                    + (f": {run.reason}" if run.reason else ""),
                    run_id=run.id,
                )
