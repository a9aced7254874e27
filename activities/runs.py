"""Bookkeeping of the runs table, called by workflows as local activities."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from followthrough.calendar import PinnedHolidays, pin_holidays
from followthrough.models.runs import PinHolidaysInput, RunFinish, StepRecord, StepRecords
from followthrough.store import runs
from followthrough.store.db import session_scope


class RunActivities:
    """Synchronous activities: the worker runs them on its activity executor's threads
    (worker.py), not on the event loop's default executor where the deliveries' database work
    and provider calls queue. A workflow task that waits for one of these local activities
    then waits for the database only, not for that queue (issue 9: workflow task latency)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="record_step")
    def record_step(self, step: StepRecord) -> None:
        with session_scope(self._engine) as session:
            runs.record_step(session, step)

    @activity.defn(name="record_steps")
    def record_steps(self, records: StepRecords) -> None:
        """Several step records in one transaction (``lean-bookkeeping``)."""
        with session_scope(self._engine) as session:
            runs.record_steps(session, records.steps)

    @activity.defn(name="finish_run")
    def finish_run(self, finish: RunFinish) -> None:
        with session_scope(self._engine) as session:
            runs.close(session, finish)

    @activity.defn(name="pin_holidays")
    def pin_holidays(self, input: PinHolidaysInput) -> dict[str, PinnedHolidays]:
        """Public holiday dates for a continuing run (read from the installed package here,
        outside the workflow, and then carried in its input)."""
        return pin_holidays(input.countries, input.first_year, input.last_year)
