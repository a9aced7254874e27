from __future__ import annotations

import httpx

from tests.conftest import LiveStack


class TestHealthz:
    async def test_ok_when_database_and_temporal_answer(self, live: LiveStack) -> None:
        transport = live.api._transport
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
            response = await anonymous.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "temporal": "ok"}

    async def test_503_when_temporal_is_down(self, api: httpx.AsyncClient) -> None:
        # The `api` fixture points at a port where nothing listens.
        response = await api.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "database": "ok", "temporal": "unavailable"}

    async def test_enrollment_is_503_with_a_readable_message_when_temporal_is_down(self, api: httpx.AsyncClient) -> None:
        contact = (await api.post("/v1/contacts", json={"name": "X", "email": "x@example.test"})).json()
        response = await api.post("/v1/sequences/welcome_sequence/enrollments", json={"contact_id": contact["id"]})
        assert response.status_code == 503
        assert "Temporal at 127.0.0.1:9 is not answering" in response.json()["detail"]
        runs = (await api.get("/v1/runs", params={"contact_id": contact["id"]})).json()["items"]
        assert [(r["status"], r["reason"].startswith("could not start")) for r in runs] == [("failed", True)]
