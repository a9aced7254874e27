"""The network edge misbehaving, on the real dev server and the real loopback servers: an SMTP
server down for seconds, a burst of Twilio 429s, a permanent SMS failure with an email fallback.

"Exactly once" is counted at the receiving servers (outbox captures), never from our ledger.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.outbox import OutboxSmtpServer
from tests.conftest import LiveStack
from tests.support.factories import create_contact, enroll, save_definition
from tests.support.waiting import eventually


def _one_step(name: str, step: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "kind": "sequence", "category": "service", "locales": ["en"],
            "description": "resilience test", "steps": [step]}


async def _ended(live: LiveStack, run_id: str, timeout: float = 20.0) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        run = (await live.api.get(f"/v1/runs/{run_id}")).json()
        return run if run["status"] != "running" else None

    return await eventually(check, timeout=timeout)


async def _rows(live: LiveStack, run_id: str) -> list[dict[str, Any]]:
    response = await live.api.get("/v1/deliveries", params={"run_id": run_id})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def _watch_attempts(live: LiveStack, run_id: str, until: int, timeout: float = 15.0) -> list[tuple[float, int, str]]:
    """(monotonic time, attempts, state) each time the ledger row changes, until ``until``
    attempts have been made and the last one is known to have failed (``retrying``)."""
    seen: list[tuple[float, int, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await _rows(live, run_id)
        if rows:
            now, attempts, state = time.monotonic(), rows[0]["attempts"], rows[0]["state"]
            if not seen or seen[-1][1:] != (attempts, state):
                seen.append((now, attempts, state))
            if attempts == until and state == "retrying":
                return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"attempt {until} did not fail within {timeout} s; seen {seen}")


def _starts(seen: list[tuple[float, int, str]]) -> list[float]:
    """When each attempt was first seen (its ledger claim)."""
    firsts: dict[int, float] = {}
    for at, attempts, _state in seen:
        firsts.setdefault(attempts, at)
    return [firsts[n] for n in sorted(firsts) if n > 0]


class TestSmtpServerDown:
    async def test_the_email_waits_for_the_server_and_goes_out_once(self, live: LiveStack) -> None:
        await save_definition(live.api, _one_step("res_smtp_down", {
            "id": "mail", "type": "send", "channel": "email", "template": "welcome"}))
        contact = await create_contact(live.api, email="down@example.test", phone=None)
        port = live.outbox.smtp.port
        await asyncio.to_thread(live.outbox.smtp.stop)  # connection refused from now on
        run = (await enroll(live.api, "res_smtp_down", contact["id"])).json()

        # Down until three attempts have failed (about 3 s with 1 s initial backoff, x2).
        seen = await _watch_attempts(live, run["run_id"], until=3)
        down = (await _rows(live, run["run_id"]))[0]
        assert (down["state"], down["reason"].split(":")[0]) == ("retrying", "smtp_connect")
        assert live.outbox.store.list(limit=None) == []
        server = OutboxSmtpServer(live.outbox.store, "127.0.0.1", port)  # the same port again
        await asyncio.to_thread(server.start)
        live.outbox.smtp = server  # the fixture stops it
        restarted = time.monotonic()

        ended = await _ended(live, run["run_id"])
        captured = time.monotonic()
        emails = live.outbox.store.list(limit=None)
        assert [(c.channel, c.to) for c in emails] == [("email", "down@example.test")]
        assert ended["status"] == "completed"
        rows = await _rows(live, run["run_id"])
        assert [(r["channel"], r["state"], r["attempts"]) for r in rows] == [("email", "sent", 4)]
        assert rows[0]["provider_id"] == (emails[0].message_id or "").strip()  # folded header
        first, second, third = _starts(seen)
        # Temporal's retry policy: 1 s, then 2 s, then 4 s (the 4th attempt, server back up). The
        # lower bounds prove the backoff; the upper ones only that it is that backoff and not a
        # longer one, with room for a loaded 2-core machine (CI runs beside other work).
        assert 0.8 <= second - first <= 3.0
        assert 1.8 <= third - second <= 4.5
        assert captured - restarted <= 8.0


class TestTwilio429Burst:
    async def test_five_429s_with_retry_after_then_one_sms(self, live: LiveStack) -> None:
        await save_definition(live.api, _one_step("res_429", {
            "id": "text", "type": "send", "channel": "sms", "template": "welcome_followup"}))
        contact = await create_contact(live.api, email=None, phone="+15555550429")
        live.outbox.twilio.fail_next.extend([(429, 20429, {"Retry-After": "1"})] * 5)
        started = time.monotonic()
        run = (await enroll(live.api, "res_429", contact["id"])).json()

        ended = await _ended(live, run["run_id"])
        took = time.monotonic() - started
        sms = live.outbox.store.list(limit=None)
        assert [(c.channel, c.to) for c in sms] == [("sms", "+15555550429")]
        assert live.outbox.twilio.fail_next == []  # all five 429s were answered
        assert ended["status"] == "completed"
        rows = await _rows(live, run["run_id"])
        assert [(r["channel"], r["state"], r["attempts"]) for r in rows] == [("sms", "sent", 6)]
        assert rows[0]["provider_id"] == sms[0].sid
        # Retry-After: 1 s each time (5 s), not the policy's backoff 1+2+4+8+16 = 31 s.
        assert 4.5 <= took <= 12.0


class TestPermanentSmsFailure:
    async def test_21211_takes_the_email_fallback_once(self, live: LiveStack) -> None:
        response = await live.api.put("/v1/templates/email/welcome_followup/en", json={
            "subject": "Hello {{ contact.name }}", "text": "We could not text you, so here is an email."})
        assert response.status_code == 201, response.text
        await save_definition(live.api, _one_step("res_fallback", {
            "id": "text", "type": "send", "channel": "sms", "template": "welcome_followup",
            "fallback": ["email"]}))
        contact = await create_contact(live.api, email="fb@example.test", phone="+15555550211")
        live.outbox.twilio.rules_by_to["+15555550211"] = (400, 21211)
        run = (await enroll(live.api, "res_fallback", contact["id"])).json()

        ended = await _ended(live, run["run_id"])
        captures = live.outbox.store.list(limit=None)
        assert [(c.channel, c.to, c.subject) for c in captures] == [("email", "fb@example.test", "Hello Anna Test")]
        assert ended["status"] == "completed"
        rows = await _rows(live, run["run_id"])
        assert [(r["channel"], r["state"], r["to"]) for r in rows] == [("email", "sent", "fb@example.test")]
        step = (await live.api.get(f"/v1/runs/{run['run_id']}")).json()["steps"]
        assert [(s["step_id"], s["state"]) for s in step] == [("text", "sent")]
        timeline = (await live.api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        messages = [(e["kind"], e["channel"]) for e in reversed(timeline) if e["kind"].startswith("message.")]
        assert messages == [("message.failed", "sms"), ("message.sent", "email")]
        failed = next(e for e in timeline if e["kind"] == "message.failed")
        assert "twilio_21211" in failed["summary"]
