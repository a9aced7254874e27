"""An absence's report to the manager is scheduled with the absence and dropped with it (the
API on the real dev server; the report itself: tests/workflows/test_absence_report.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine
from temporalio.client import WorkflowExecutionStatus

from followthrough.store import users
from followthrough.store.db import session_scope
from followthrough.store.tables import Absence
from tests.conftest import LiveStack
from tests.support.waiting import eventually


async def test_creating_an_absence_schedules_its_report_and_deleting_it_cancels_it(live: LiveStack) -> None:
    with session_scope(live.engine) as session:
        rep, _key = users.create(session, name="Olga", email="olga@example.test", role="rep")
    starts = datetime.now(UTC) + timedelta(days=2)
    url = f"/v1/users/{rep.id}/absences"
    response = await live.api.post(url, json={"starts_at": starts.isoformat(),
                                              "ends_at": (starts + timedelta(days=5)).isoformat()})
    assert response.status_code == 201, response.text
    absence_id = response.json()["id"]
    handle = live.temporal.get_workflow_handle(f"absence-{absence_id}")
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING  # its timer waits

    assert (await live.api.delete(f"{url}/{absence_id}")).status_code == 204

    async def cancelled() -> bool:
        return (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    await eventually(cancelled)


async def test_without_temporal_the_absence_is_still_created(api: httpx.AsyncClient, engine: Engine) -> None:
    with session_scope(engine) as session:
        rep, _key = users.create(session, name="Ivan", email="ivan@example.test", role="rep")
    starts = datetime.now(UTC) + timedelta(days=2)
    response = await api.post(f"/v1/users/{rep.id}/absences", json={
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(days=1)).isoformat()})
    assert response.status_code == 201, response.text  # the report is lost, with a warning
    with session_scope(engine) as session:
        assert session.get(Absence, response.json()["id"]) is not None
