"""A start Temporal refuses for its size is a 422 that says so, and leaves no run behind
(followthrough/enrollment.py on the real dev server)."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import select

from api.app import create_app
from followthrough.store.db import session_scope
from followthrough.store.tables import Run, TimelineEntry
from tests.conftest import ADMIN_KEY, LiveStack
from tests.support.factories import create_contact, save_definition, welcome_definition

MB = 1024 * 1024


class TestPayloadTooLarge:
    # 2.5 MB passes the server's blob limit (2 MB); 5 MB passes gRPC's message limit (4 MB).
    @pytest.mark.parametrize("size", [int(2.5 * MB), 5 * MB])
    async def test_a_refused_start_is_a_422_and_leaves_no_run(self, live: LiveStack,
                                                              size: int) -> None:
        # Our own limits raised far enough that only Temporal's limit is in the way.
        settings = live.settings.model_copy(update={"max_body_bytes": 16 * MB,
                                                    "max_object_bytes": 16 * MB})
        app = create_app(settings, engine=live.engine, temporal_client=live.temporal)
        await save_definition(live.api, welcome_definition("big_data", wait="PT1H"))
        contact = await create_contact(live.api, email="big@example.test", phone=None)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                     headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:
            response = await api.post("/v1/sequences/big_data/enrollments",
                                      json={"contact_id": contact["id"], "data": {"blob": "x" * size}})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "payload_too_large"
        assert body["detail"].startswith("Temporal refused to start the run: its input (the "
                                         "enrollment data with the definition) is too large (")
        with session_scope(live.engine) as session:
            assert session.exec(select(Run)).all() == []
            kinds = [e.kind for e in session.exec(select(TimelineEntry).where(
                TimelineEntry.contact_id == contact["id"]))]
        assert "run.started" not in kinds
        # The business key is free again: a normal enrollment starts.
        retry = await live.api.post("/v1/sequences/big_data/enrollments",
                                    json={"contact_id": contact["id"], "data": {"blob": "small"}})
        assert retry.status_code == 201, retry.text
