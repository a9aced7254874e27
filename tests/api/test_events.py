"""Custom contact events: recorded on the timeline, signalled to every active run."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import LiveStack
from tests.support.factories import create_contact, enroll, save_definition, welcome_definition
from tests.support.waiting import eventually


async def _ended(live: LiveStack, run_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        run = (await live.api.get(f"/v1/runs/{run_id}")).json()
        return run if run["status"] != "running" else None

    return await eventually(check)


class TestContactEvents:
    async def test_a_custom_event_reaches_every_active_run(self, live: LiveStack) -> None:
        await save_definition(live.api, welcome_definition("ev_stops", wait="PT1H", stop_on=["custom.event"]))
        await save_definition(live.api, welcome_definition("ev_other", wait="PT1H", stop_on=["custom.event"]))
        contact = await create_contact(live.api, email="events@example.test", phone=None)
        runs = [(await enroll(live.api, name, contact["id"])).json() for name in ("ev_stops", "ev_other")]
        response = await live.api.post(f"/v1/contacts/{contact['id']}/events",
                                       json={"event": "custom.event", "data": {"plan": "pro"}})
        assert response.status_code == 202, response.text
        body = response.json()
        assert sorted(body["workflow_ids"]) == sorted(r["workflow_id"] for r in runs)
        for run in runs:
            stopped = await _ended(live, run["run_id"])
            assert (stopped["status"], stopped["reason"]) == ("stopped", "custom.event")
        timeline = (await live.api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        entry = next(e for e in timeline if e["kind"] == "event.custom.event")
        assert (entry["id"], entry["direction"], entry["data"]) == (body["timeline_id"], "inbound", {"plan": "pro"})

    async def test_an_event_not_in_stop_on_leaves_the_run_running(self, live: LiveStack) -> None:
        await save_definition(live.api, welcome_definition("ev_ignores", wait="PT1H", stop_on=["reply"]))
        contact = await create_contact(live.api, email="ignored@example.test", phone=None)
        run = (await enroll(live.api, "ev_ignores", contact["id"])).json()
        response = await live.api.post(f"/v1/contacts/{contact['id']}/events", json={"event": "demo.booked"})
        assert response.json()["workflow_ids"] == [run["workflow_id"]]
        handle = live.temporal.get_workflow_handle(run["workflow_id"])

        async def signalled() -> list[str]:
            return [(await live.temporal.data_converter.decode(
                [e.workflow_execution_signaled_event_attributes.input.payloads[0]]))[0]["kind"]
                async for e in handle.fetch_history_events()
                if e.HasField("workflow_execution_signaled_event_attributes")]

        assert await eventually(signalled) == ["demo.booked"]
        assert (await live.api.get(f"/v1/runs/{run['run_id']}")).json()["status"] == "running"
        await live.api.post(f"/v1/runs/{run['run_id']}/cancel")


class TestValidation:
    @pytest.mark.parametrize("name", ["Custom", "1abc", "a b", "a..b", "a.", "", "x" * 43, "a-b"])
    async def test_bad_event_names_are_422(self, api: httpx.AsyncClient, name: str) -> None:
        contact = await create_contact(api, phone=None)
        response = await api.post(f"/v1/contacts/{contact['id']}/events", json={"event": name})
        assert response.status_code == 422

    async def test_unknown_contact_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/contacts/999/events", json={"event": "x"})
        assert response.status_code == 404

    async def test_without_runs_no_temporal_is_needed(self, api: httpx.AsyncClient) -> None:
        contact = await create_contact(api, phone=None)
        response = await api.post(f"/v1/contacts/{contact['id']}/events", json={"event": "x" * 42})
        assert (response.status_code, response.json()["workflow_ids"]) == (202, [])
