"""The absence report's reading: an absent owner's tasks due during the absence, for their
manager."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from temporalio import activity

from activities.tasks import _owner_data, _task_data
from followthrough.models.absence import AbsenceReport, AbsenceReportInput
from followthrough.store import tasks
from followthrough.store.db import as_utc, read_scope
from followthrough.store.tables import Absence, User


class AbsenceActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="absence_report")
    async def report(self, input: AbsenceReportInput) -> AbsenceReport:
        """Read when the absence starts: nothing when it was deleted, the owner has no manager,
        or no open task of theirs is due during it."""
        return await asyncio.to_thread(self._report, input.absence_id)

    def _report(self, absence_id: int) -> AbsenceReport:
        with read_scope(self._engine) as session:
            absence = session.get(Absence, absence_id)
            owner = session.get(User, absence.user_id) if absence is not None else None
            if absence is None or owner is None or owner.manager_id is None:
                return AbsenceReport()
            starts, ends = as_utc(absence.starts_at), as_utc(absence.ends_at)
            listed = tasks.open_due_between(session, owner.id, starts, ends)  # type: ignore[arg-type]
            if not listed:
                return AbsenceReport()
            return AbsenceReport(to_user_id=owner.manager_id, data={
                "owner": _owner_data(owner), "tasks": [_task_data(session, t) for t in listed],
                "absence": {"id": absence_id, "starts_at": starts.isoformat(),  # type: ignore[union-attr]
                            "ends_at": ends.isoformat(), "reason": absence.reason or ""},  # type: ignore[union-attr]
            })
