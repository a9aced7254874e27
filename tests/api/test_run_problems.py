"""A run that cannot make progress shows it (real dev server): a contact of 3 MB makes every
workflow task of its run fail with PAYLOADS_TOO_LARGE, and the run says so and can be listed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from followthrough.run_watch import check_runs
from followthrough.store import contacts
from followthrough.store.db import session_scope
from tests.conftest import LiveStack
from tests.support.factories import create_contact, enroll, save_definition
from tests.support.waiting import eventually

DEFINITION = {"name": "stuck_check", "kind": "sequence", "category": "service", "locales": ["en"],
              "steps": [{"id": "pause", "type": "wait", "duration": "PT1H"}]}


class TestRunProblems:
    async def test_a_run_whose_workflow_task_keeps_failing_shows_the_problem_and_is_listed(
        self, live: LiveStack
    ) -> None:
        await save_definition(live.api, DEFINITION)
        healthy = await create_contact(live.api, email="healthy@example.test")
        with session_scope(live.engine) as session:  # past the API's own size limits, on purpose
            huge = contacts.create(session, {"name": "Huge", "email": "huge@example.test",
                                             "attributes": {"notes": "x" * 3_000_000}}).id
        before = datetime.now(UTC) - timedelta(seconds=1)
        fine = (await enroll(live.api, "stuck_check", healthy["id"])).json()
        stuck = (await enroll(live.api, "stuck_check", huge)).json()

        async def found() -> list[str]:
            return await check_runs(live.engine, live.temporal)

        assert await eventually(found) == [stuck["run_id"]]
        run = (await live.api.get(f"/v1/runs/{stuck['run_id']}")).json()
        assert run["status"] == "running"
        problem: dict[str, Any] = run["problem"]
        assert problem["code"] == "PAYLOADS_TOO_LARGE"
        assert "size" in problem["message"].lower()
        assert before <= datetime.fromisoformat(problem["since"]) <= datetime.now(UTC)
        assert (await live.api.get(f"/v1/runs/{fine['run_id']}")).json()["problem"] is None

        listed = (await live.api.get("/v1/runs", params={"problem": "true"})).json()["items"]
        assert [r["run_id"] for r in listed] == [stuck["run_id"]]
        others = (await live.api.get("/v1/runs", params={"problem": "false"})).json()["items"]
        assert [r["run_id"] for r in others] == [fine["run_id"]]

    async def test_the_problem_clears_once_a_workflow_task_completes_again(self, live: LiveStack) -> None:
        await save_definition(live.api, DEFINITION)
        with session_scope(live.engine) as session:
            huge = contacts.create(session, {"name": "Huge", "email": "huge2@example.test",
                                             "attributes": {"notes": "x" * 3_000_000}})
            huge_id = huge.id
        stuck = (await enroll(live.api, "stuck_check", huge_id)).json()

        async def found() -> list[str]:
            return await check_runs(live.engine, live.temporal)

        assert await eventually(found) == [stuck["run_id"]]
        with session_scope(live.engine) as session:  # the data is repaired
            contact = contacts.get(session, huge_id)
            contacts.update(session, contact, {"attributes": {"notes": "short"}})

        async def cleared() -> bool:
            return await check_runs(live.engine, live.temporal) == []

        await eventually(cleared, timeout=60, interval=1)
        run = (await live.api.get(f"/v1/runs/{stuck['run_id']}")).json()
        assert (run["status"], run["problem"]) == ("running", None)
        assert [s["step_id"] for s in run["steps"]] == ["pause"]
