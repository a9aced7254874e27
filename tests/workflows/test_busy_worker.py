"""A worker too busy to heartbeat while it sends (issue 9): Temporal retries the delivery while
the first attempt is still on the wire. The retry must wait for that attempt, never resend.

Real parts: the dev server, the in-process worker, the loopback SMTP server holding its reply to
DATA. "Busy" is the worker's event loop blocked (as CPU-bound workflow tasks do to it), longer
than the heartbeat timeout. "Exactly once" is counted at the SMTP server.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from channels.outbox import OutboxHandle
from followthrough.settings import Settings
from tests.conftest import LiveStack
from tests.support.factories import create_contact, enroll, save_definition
from tests.support.waiting import eventually
from worker import HEARTBEAT_THROTTLE
from workflows._support import DELIVERY_HEARTBEAT

pytestmark = pytest.mark.slow

#: Longer than the heartbeat timeout plus the last throttled heartbeat: Temporal times the
#: attempt out while the worker cannot say it is alive.
STARVED = (DELIVERY_HEARTBEAT + HEARTBEAT_THROTTLE).total_seconds() + 3


@pytest.fixture
def edge_settings(edge_settings: Settings) -> Settings:
    """An SMTP session allowed to outlast the starvation (the provider timeout's maximum)."""
    return edge_settings.model_copy(update={"smtp_timeout": 60.0})


async def _rows(live: LiveStack, run_id: str) -> list[dict[str, Any]]:
    return (await live.api.get("/v1/deliveries", params={"run_id": run_id})).json()["items"]


class TestRetriedWhileSending:
    async def test_the_retry_waits_for_the_first_attempt_and_the_mail_goes_out_once(
        self, live: LiveStack, outbox: OutboxHandle
    ) -> None:
        await save_definition(live.api, {
            "name": "busy_worker", "kind": "sequence", "category": "transactional", "locales": ["en"],
            "steps": [{"id": "mail", "type": "send", "channel": "email", "template": "welcome"}]})
        contact = await create_contact(live.api, email="busy@example.test", phone=None)
        outbox.smtp.hold_data = threading.Event()
        run = (await enroll(live.api, "busy_worker", contact["id"])).json()
        await eventually(lambda: _captured(outbox))  # the first attempt is in DATA, held

        time.sleep(STARVED)  # noqa: ASYNC251 - the point: the worker's event loop starves
        handle = live.temporal.get_workflow_handle(run["workflow_id"])

        async def backed_off() -> Any:
            pending = (await handle.describe()).raw_description.pending_activities
            if pending and pending[0].last_failure.application_failure_info.type == "AttemptInFlight":
                return pending[0]
            return None

        # Temporal retried the delivery (the first attempt timed out: no heartbeat); the retry
        # found the row pending and backed off, and keeps asking while the first one is held.
        activity = await eventually(backed_off, timeout=20)
        assert activity.attempt >= 2

        async def backed_off_again() -> Any:
            again = await backed_off()
            return again if again is not None and again.attempt > activity.attempt else None

        # At least one more retry backs off (within IN_FLIGHT_POLL) while the first is held.
        await eventually(backed_off_again, timeout=20)
        rows = await _rows(live, run["run_id"])
        assert [(r["state"], r["attempts"]) for r in rows] == [("pending", 1)]

        outbox.smtp.hold_data.set()  # the first attempt's send completes and is recorded

        async def ended() -> Any:
            found = (await live.api.get(f"/v1/runs/{run['run_id']}")).json()
            return found if found["status"] != "running" else None

        finished = await eventually(ended, timeout=30)
        assert (finished["status"], [(s["step_id"], s["state"]) for s in finished["steps"]]) == (
            "completed", [("mail", "sent")])
        rows = await _rows(live, run["run_id"])
        assert [(r["state"], r["attempts"], r["reason"]) for r in rows] == [("sent", 1, None)]
        emails = outbox.store.list(channel="email", limit=None)
        assert [e.to for e in emails] == ["busy@example.test"]
        assert rows[0]["provider_id"] == (emails[0].message_id or "").strip()


async def _captured(outbox: OutboxHandle) -> bool:
    return bool(outbox.store.list(channel="email", limit=None))
