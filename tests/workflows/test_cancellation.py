"""Cancelling a run while a send is in flight, on the real dev server with a slow SMTP server:
the ledger row never stays ``pending`` and no step of the cancelled run stays ``active``."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import Engine

from channels.outbox import OutboxHandle
from followthrough.settings import Settings
from tests.conftest import LiveStack
from tests.support.factories import create_contact, enroll, save_definition
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

#: The worker sends heartbeats at least every 3 s (worker.HEARTBEAT_THROTTLE): a cancellation
#: reaches a running activity with the next heartbeat's answer, within about 5 s.
CANCEL_REACHES_ACTIVITY = 9.0


@pytest.fixture
def edge_settings(edge_settings: Settings) -> Settings:
    """An SMTP timeout longer than a cancellation takes to reach the activity, but short enough
    that a DATA reply held for ever soon becomes an unknown outcome."""
    return edge_settings.model_copy(update={"smtp_timeout": 14.0})


def _mail_then_wait(name: str, category: str) -> dict[str, Any]:
    return {"name": name, "kind": "sequence", "category": category, "locales": ["en"],
            "steps": [{"id": "mail", "type": "send", "channel": "email", "template": "welcome"},
                      {"id": "pause", "type": "wait", "duration": "PT1H"}]}


async def _rows(live: LiveStack, run_id: str) -> list[dict[str, Any]]:
    return (await live.api.get("/v1/deliveries", params={"run_id": run_id})).json()["items"]


async def _run(live: LiveStack, run_id: str) -> dict[str, Any]:
    return (await live.api.get(f"/v1/runs/{run_id}")).json()


async def _sending(live: LiveStack, document: dict[str, Any]) -> tuple[int, str]:
    """Enroll a new contact in ``document`` (published); returns (contact id, run id) once its
    first message is claimed for sending (``pending``)."""
    name = document["name"]
    await save_definition(live.api, document)
    contact = await create_contact(live.api, email=f"{name}@example.test")
    run_id = (await enroll(live.api, name, contact["id"])).json()["run_id"]

    async def pending() -> bool:
        rows = await _rows(live, run_id)
        return bool(rows) and rows[0]["state"] == "pending"

    await eventually(pending)
    return contact["id"], run_id


async def _cancel_while_pending(live: LiveStack, name: str, category: str) -> str:
    _contact_id, run_id = await _sending(live, _mail_then_wait(name, category))
    response = await live.api.post(f"/v1/runs/{run_id}/cancel")
    assert response.status_code == 202, response.text
    return run_id


async def _ended(live: LiveStack, run_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        run = await _run(live, run_id)
        return run if run["status"] != "running" else None

    return await eventually(check, timeout=30)


class TestCancelDuringSend:
    async def test_the_send_under_way_finishes_and_the_step_closes_with_its_outcome(
        self, live: LiveStack, engine: Engine, outbox: OutboxHandle
    ) -> None:
        outbox.smtp.hold_data = threading.Event()
        run_id = await _cancel_while_pending(live, "cancel_held", "service")

        # The cancellation reached the activity, which lets the provider call finish: the run
        # waits for its outcome instead of ending with the row pending.
        await asyncio.sleep(CANCEL_REACHES_ACTIVITY)
        held = await _run(live, run_id)
        assert held["status"] == "running"
        assert [(s["step_id"], s["state"]) for s in held["steps"]] == [("mail", "active")]
        outbox.smtp.hold_data.set()

        ended = await _ended(live, run_id)
        assert (ended["status"], ended["reason"]) == ("cancelled", "cancelled")
        assert [(s["step_id"], s["state"], s["reason"]) for s in ended["steps"]] == [
            ("mail", "sent", "cancelled; message sent")]
        assert [(r["state"], r["attempts"]) for r in await _rows(live, run_id)] == [("sent", 1)]
        assert [c.to for c in outbox.store.list(limit=None)] == ["cancel_held@example.test"]

    async def test_an_outcome_that_stays_unknown_leaves_the_row_uncertain(
        self, live: LiveStack, outbox: OutboxHandle
    ) -> None:
        outbox.smtp.hold_data = threading.Event()  # never released: the SMTP client times out
        run_id = await _cancel_while_pending(live, "cancel_unknown", "service")

        ended = await _ended(live, run_id)
        outbox.smtp.hold_data.set()
        assert ended["status"] == "cancelled"
        assert [(s["step_id"], s["state"], s["reason"]) for s in ended["steps"]] == [
            ("mail", "uncertain", "cancelled; message uncertain")]
        # Service mail is resent after an unknown outcome, but not for a cancelled run.
        assert [(r["state"], r["attempts"]) for r in await _rows(live, run_id)] == [("uncertain", 1)]


class TestCancelDuringWait:
    async def test_the_wait_is_closed(self, live: LiveStack) -> None:
        await save_definition(live.api, _mail_then_wait("cancel_wait", "service"))
        contact = await create_contact(live.api, email="cancel_wait@example.test")
        run_id = (await enroll(live.api, "cancel_wait", contact["id"])).json()["run_id"]

        async def waiting() -> bool:
            return [s["step_id"] for s in (await _run(live, run_id))["steps"]] == ["mail", "pause"]

        await eventually(waiting)
        await live.api.post(f"/v1/runs/{run_id}/cancel")
        ended = await _ended(live, run_id)
        assert [(s["step_id"], s["state"], s["reason"]) for s in ended["steps"]] == [
            ("mail", "sent", None), ("pause", "done", "cancelled")]


class TestCancelBetweenRetries:
    async def test_a_message_not_sent_yet_is_skipped(self, live: LiveStack, outbox: OutboxHandle) -> None:
        await save_definition(live.api, {
            "name": "cancel_retrying", "kind": "sequence", "category": "service", "locales": ["en"],
            "steps": [{"id": "text", "type": "send", "channel": "sms", "template": "welcome_followup"}]})
        contact = await create_contact(live.api, email=None, phone="+15555550503")
        outbox.twilio.rules_by_to["+15555550503"] = (503, 20503)  # transient, for ever
        run_id = (await enroll(live.api, "cancel_retrying", contact["id"])).json()["run_id"]

        async def retried() -> bool:
            rows = await _rows(live, run_id)
            return bool(rows) and rows[0]["attempts"] >= 2 and rows[0]["state"] == "retrying"

        await eventually(retried)
        await live.api.post(f"/v1/runs/{run_id}/cancel")
        ended = await _ended(live, run_id)
        assert ended["status"] == "cancelled"
        assert [(s["step_id"], s["state"], s["reason"]) for s in ended["steps"]] == [
            ("text", "skipped", "cancelled; message skipped")]
        rows = await _rows(live, run_id)
        assert [(r["state"], r["reason"]) for r in rows] == [("skipped", "run cancelled")]
        assert outbox.store.list(limit=None) == []


def _mail_only(name: str) -> dict[str, Any]:
    """One send and nothing after it: its delivery ends the run (``end-with-last-send``)."""
    return {"name": name, "kind": "sequence", "category": "service", "locales": ["en"], "stop_on": ["reply"],
            "steps": [{"id": "mail", "type": "send", "channel": "email", "template": "welcome"}]}


async def _run_ends(live: LiveStack, contact_id: int, run_id: str) -> list[str]:
    """The run's end entries on its contact's timeline (``run.started`` aside)."""
    entries = (await live.api.get(f"/v1/contacts/{contact_id}/timeline")).json()["items"]
    return [e["kind"] for e in entries
            if e["run_id"] == run_id and e["kind"].startswith("run.") and e["kind"] != "run.started"]


async def _reaches(live: LiveStack, run_id: str, status: str) -> dict[str, Any]:
    """The run once its status is ``status`` (an end written by its last send may come first)."""
    async def check() -> dict[str, Any] | None:
        run = await _run(live, run_id)
        return run if run["status"] == status else None

    return await eventually(check, timeout=30)


class TestEndWithTheLastSend:
    """The last send's delivery ends the run as it records ``sent``; what comes during that send
    (a cancel, a stop) corrects that end, in the runs table and on the timeline alike."""

    async def _while_sending(self, live: LiveStack, outbox: OutboxHandle, name: str) -> tuple[int, str]:
        outbox.smtp.hold_data = threading.Event()
        return await _sending(live, _mail_only(name))

    async def test_without_anything_during_the_send_the_delivery_ends_the_run(
        self, live: LiveStack, outbox: OutboxHandle
    ) -> None:
        contact_id, run_id = await self._while_sending(live, outbox, "last_plain")
        outbox.smtp.hold_data.set()
        ended = await _ended(live, run_id)
        assert (ended["status"], ended["reason"]) == ("completed", "end_of_sequence")
        assert [(s["step_id"], s["state"]) for s in ended["steps"]] == [("mail", "sent")]
        assert await _run_ends(live, contact_id, run_id) == ["run.completed"]

    async def test_a_stop_during_the_last_send_corrects_the_end(
        self, live: LiveStack, outbox: OutboxHandle
    ) -> None:
        contact_id, run_id = await self._while_sending(live, outbox, "last_stopped")
        response = await live.api.post(f"/v1/contacts/{contact_id}/events", json={"event": "reply"})
        assert response.status_code == 202, response.text
        assert response.json()["workflow_ids"]  # the run got the event while it was sending

        async def signalled() -> bool:  # the run holds the event before the send ends
            history = live.temporal.get_workflow_handle(response.json()["workflow_ids"][0])
            events = [e async for e in history.fetch_history_events()]
            return any(e.HasField("workflow_execution_signaled_event_attributes") for e in events)

        await eventually(signalled)
        outbox.smtp.hold_data.set()

        ended = await _reaches(live, run_id, "stopped")
        assert ended["reason"] == "reply"
        assert [(s["step_id"], s["state"]) for s in ended["steps"]] == [("mail", "sent")]
        assert await _run_ends(live, contact_id, run_id) == ["run.stopped"]

    async def test_a_cancel_during_the_last_send_corrects_the_end(
        self, live: LiveStack, outbox: OutboxHandle
    ) -> None:
        contact_id, run_id = await self._while_sending(live, outbox, "last_cancelled")
        response = await live.api.post(f"/v1/runs/{run_id}/cancel")
        assert response.status_code == 202, response.text
        await asyncio.sleep(CANCEL_REACHES_ACTIVITY)
        outbox.smtp.hold_data.set()

        ended = await _reaches(live, run_id, "cancelled")
        assert [(s["step_id"], s["state"], s["reason"]) for s in ended["steps"]] == [
            ("mail", "sent", "cancelled; message sent")]
        assert await _run_ends(live, contact_id, run_id) == ["run.cancelled"]
