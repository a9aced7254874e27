"""Personal data in Temporal history and logs, on the real dev server: payloads are encrypted
(the raw history holds no address, number or message text) and provider error text is redacted
before it reaches a log, the ledger or the history."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent

from followthrough.codec import ENCODING, KEY_ID, key_id, parse_keys
from followthrough.models.runs import SequenceInput
from tests.conftest import PAYLOAD_KEY, LiveStack
from tests.support.factories import create_contact, enroll, save_definition
from tests.support.history import decoded_payloads, payloads_in, raw_events
from tests.support.waiting import eventually

EMAIL = "ann.private@example.test"
PHONE = "+15555550777"
TEXT = "Your private appointment is confirmed"
NOTE = "met at the clinic"


def _sequence(name: str, *steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "kind": "sequence", "category": "service", "locales": ["en"],
            "description": "personal data test", "steps": list(steps)}


async def _ended(live: LiveStack, run_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        run = (await live.api.get(f"/v1/runs/{run_id}")).json()
        return run if run["status"] != "running" else None

    return await eventually(check)


def _value_payloads(event: HistoryEvent) -> list[Payload]:
    """The payloads that carry our values. Not encrypted, and holding none: search attributes
    (ids) and the SDK's own local-activity marker bookkeeping (``data``: sequence number,
    activity type, times; the activity's result is in ``result``)."""
    if event.HasField("marker_recorded_event_attributes"):
        return list(event.marker_recorded_event_attributes.details["result"].payloads)
    if event.HasField("workflow_execution_started_event_attributes"):
        copy = HistoryEvent()
        copy.CopyFrom(event)
        copy.workflow_execution_started_event_attributes.ClearField("search_attributes")
        return list(payloads_in(copy))
    return list(payloads_in(event))


class TestEncryptedHistory:
    async def test_the_raw_history_holds_no_address_number_or_text_and_the_codec_decodes_it(
        self, live: LiveStack
    ) -> None:
        for channel, body in (("email", {"subject": "Hello", "text": TEXT}), ("sms", {"text": TEXT})):
            response = await live.api.put(f"/v1/templates/{channel}/pd_note/en", json=body)
            assert response.status_code == 201, response.text
        await save_definition(live.api, _sequence(
            "pd_encrypted",
            {"id": "mail", "type": "send", "channel": "email", "template": "pd_note"},
            {"id": "text", "type": "send", "channel": "sms", "template": "pd_note"}))
        contact = await create_contact(live.api, email=EMAIL, phone=PHONE)
        run = (await enroll(live.api, "pd_encrypted", contact["id"], note=NOTE, email=EMAIL)).json()
        assert (await _ended(live, run["run_id"]))["status"] == "completed"
        assert sorted((c.channel, c.to, c.text.strip()) for c in live.outbox.store.list(limit=None)) == [
            ("email", EMAIL, TEXT), ("sms", PHONE, TEXT)]

        events = await raw_events(live.temporal, run["workflow_id"])
        raw = b"".join(event.SerializeToString() for event in events)
        for secret in (EMAIL, PHONE, TEXT, NOTE):
            assert secret.encode() not in raw, secret
        payloads = [p for event in events for p in _value_payloads(event)]
        assert len(payloads) >= 4  # the input, activity inputs and results, the result
        ours = key_id(parse_keys(PAYLOAD_KEY)[0]).encode()
        assert {(p.metadata["encoding"], p.metadata[KEY_ID]) for p in payloads} == {(ENCODING, ours)}

        decoded = await decoded_payloads(live.temporal, events)
        assert {p.metadata["encoding"] for p in decoded} <= {b"json/plain", b"binary/null"}
        start = events[0].workflow_execution_started_event_attributes.input.payloads
        [sequence_input] = await live.temporal.data_converter.decode(start, [SequenceInput])
        assert (sequence_input.contact_id, sequence_input.data) == (contact["id"], {"note": NOTE, "email": EMAIL})
        assert EMAIL.encode() in b"".join(p.data for p in decoded)

    async def test_search_attributes_are_ids_only(self, live: LiveStack) -> None:
        await save_definition(live.api, _sequence(
            "pd_search", {"id": "mail", "type": "send", "channel": "email", "template": "welcome"}))
        contact = await create_contact(live.api, email=EMAIL, phone=PHONE)
        run = (await enroll(live.api, "pd_search", contact["id"])).json()
        await _ended(live, run["run_id"])
        described = await live.temporal.get_workflow_handle(run["workflow_id"]).describe()
        fields = described.raw_description.workflow_execution_info.search_attributes.indexed_fields
        ours = {key: fields[key].data for key in fields if key.startswith("Ft")}
        assert ours == {"FtContactId": f'"{contact["id"]}"'.encode(), "FtRunId": f'"{run["run_id"]}"'.encode(),
                        "FtRunKind": b'"sequence"', "FtDefinition": b'"pd_search"'}
        assert run["workflow_id"] == f"seq-pd_search-{contact['id']}"


class TestRedactedProviderErrors:
    async def test_a_550_for_an_address_leaves_no_address_in_logs_ledger_or_history(
        self, live: LiveStack, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
    ) -> None:
        caplog.set_level(logging.DEBUG)
        await save_definition(live.api, _sequence(
            "pd_bounce", {"id": "mail", "type": "send", "channel": "email", "template": "welcome"}))
        contact = await create_contact(live.api, email=EMAIL, phone=None)
        live.outbox.smtp.reject_rcpt[EMAIL] = f"550 5.1.1 <{EMAIL}>: Recipient address rejected: user unknown"
        run = (await enroll(live.api, "pd_bounce", contact["id"])).json()
        await _ended(live, run["run_id"])

        reason = "smtp_550: SMTP 550 5.1.1 <redacted>: Recipient address rejected: user unknown"
        rows = (await live.api.get("/v1/deliveries", params={"run_id": run["run_id"]})).json()["items"]
        assert [(r["state"], r["reason"]) for r in rows] == [("failed", reason)]
        timeline = (await live.api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        failed = [e["summary"] for e in timeline if e["kind"] == "message.failed"]
        assert failed == [f"email failed: {reason}"]

        # Temporal's activity logger appends the activity's context: " ({'activity_id': ...})".
        logged = [r.getMessage().split(" ({")[0] for r in caplog.records if "channel error" in r.getMessage()]
        assert logged == ["permanent channel error: SMTP 550 5.1.1 <redacted>: Recipient address "
                          "rejected: user unknown"]
        # Everything our process logged, tracebacks included; "mail.log" is aiosmtpd's, the
        # receiving server's own log, which is not ours to redact.
        ours = "\n".join(caplog.handler.format(r) for r in caplog.records if r.name != "mail.log")
        assert "transient" not in ours and len(ours) > 1000
        captured = capfd.readouterr()
        for text in (ours, captured.out, captured.err):
            assert EMAIL not in text

        # Decoded, the history holds the contact's snapshot (its address, on purpose: that is
        # why it is encrypted) but the provider's text only in its redacted form.
        events = await raw_events(live.temporal, run["workflow_id"])
        decoded = b"".join(p.data for p in await decoded_payloads(live.temporal, events))
        assert decoded.count(b"Recipient address rejected") >= 1
        assert decoded.count(b"Recipient address rejected") == decoded.count(
            b"<redacted>: Recipient address rejected")
        assert f"<{EMAIL}>".encode() not in decoded

    async def test_a_retried_450_leaves_no_address_in_the_failure_traceback_or_history(
        self, live: LiveStack, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        await save_definition(live.api, _sequence(
            "pd_busy", {"id": "mail", "type": "send", "channel": "email", "template": "welcome"}))
        contact = await create_contact(live.api, email=EMAIL, phone=None)
        live.outbox.smtp.reject_rcpt[EMAIL] = f"450 4.2.1 <{EMAIL}>: mailbox busy"
        run = (await enroll(live.api, "pd_busy", contact["id"])).json()

        async def retrying() -> bool:
            rows = (await live.api.get("/v1/deliveries", params={"run_id": run["run_id"]})).json()["items"]
            return bool(rows) and rows[0]["state"] == "retrying"

        await eventually(retrying)
        del live.outbox.smtp.reject_rcpt[EMAIL]
        assert (await _ended(live, run["run_id"]))["status"] == "completed"

        # The activity failed once: Temporal logs it with its traceback (the whole chain).
        failed = [r for r in caplog.records if r.getMessage().startswith("Completing activity as failed")]
        assert len(failed) >= 1
        ours = "\n".join(caplog.handler.format(r) for r in caplog.records if r.name != "mail.log")
        assert "transient error: SMTP 450 4.2.1 <redacted>: mailbox busy" in ours
        assert EMAIL not in ours

        events = await raw_events(live.temporal, run["workflow_id"])
        [started] = [e.activity_task_started_event_attributes for e in events
                     if e.HasField("activity_task_started_event_attributes")]
        assert started.attempt >= 2 and started.last_failure.message == "Encoded failure"
        decoded = b"".join(p.data for p in await decoded_payloads(live.temporal, events))
        assert b"transient error: SMTP 450 4.2.1 <redacted>: mailbox busy" in decoded
        assert f"<{EMAIL}>".encode() not in decoded

    async def test_a_twilio_error_naming_the_number_is_redacted(self, live: LiveStack) -> None:
        await save_definition(live.api, _sequence(
            "pd_21211", {"id": "text", "type": "send", "channel": "sms", "template": "welcome_followup"}))
        contact = await create_contact(live.api, email=None, phone=PHONE)
        live.outbox.twilio.rules_by_to[PHONE] = (400, 21211)
        run = (await enroll(live.api, "pd_21211", contact["id"])).json()
        await _ended(live, run["run_id"])
        rows = (await live.api.get("/v1/deliveries", params={"run_id": run["run_id"]})).json()["items"]
        assert [(r["state"], r["reason"]) for r in rows] == [
            ("failed", "twilio_21211: Unable to create record: The 'To' number <redacted> is not a valid phone number.")]
        events = await raw_events(live.temporal, run["workflow_id"])
        decoded = [p.data for p in await decoded_payloads(live.temporal, events)]
        assert any(b"The 'To' number <redacted>" in d for d in decoded)
