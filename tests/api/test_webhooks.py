"""Twilio webhooks: signature first, then record once, then fan out."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import select

from followthrough.store.db import session_scope
from followthrough.store.tables import InboundMessage
from tests.conftest import LiveStack
from tests.support.factories import create_contact, enroll, save_definition, welcome_definition
from tests.support.waiting import eventually


def _sign(live: LiveStack, path: str, params: dict[str, str]) -> dict[str, str]:
    from twilio.request_validator import RequestValidator

    url = live.settings.public_base_url + path
    return {"X-Twilio-Signature": RequestValidator(live.settings.twilio_auth_token).compute_signature(url, params)}


class TestSignature:
    async def test_wrong_signature_is_403_and_records_nothing(self, live: LiveStack) -> None:
        params = {"From": "+15555550131", "Body": "hi", "MessageSid": "SM" + "b" * 32}
        response = await live.api.post("/v1/webhooks/twilio/sms", data=params,
                                       headers={"X-Twilio-Signature": "bm90IGl0"})
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
        with session_scope(live.engine) as session:
            assert session.exec(select(InboundMessage)).all() == []

    async def test_missing_signature_is_403(self, live: LiveStack) -> None:
        response = await live.api.post("/v1/webhooks/twilio/status", data={"MessageSid": "SM1"})
        assert response.status_code == 403

    async def test_webhooks_take_no_bearer_key(self, live: LiveStack) -> None:
        params = {"From": "+15555550132", "Body": "hello", "MessageSid": "SM" + "c" * 32}
        transport = live.api._transport  # same app, no Authorization header
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
            response = await anonymous.post("/v1/webhooks/twilio/sms", data=params,
                                            headers=_sign(live, "/v1/webhooks/twilio/sms", params))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/xml")


class TestInboundSms:
    async def test_unknown_sender_is_kept_unmatched(self, live: LiveStack) -> None:
        params = {"From": "+15555550199", "To": "+15550000000", "Body": "who is this?", "MessageSid": "SM" + "d" * 32}
        response = await live.api.post("/v1/webhooks/twilio/sms", data=params,
                                       headers=_sign(live, "/v1/webhooks/twilio/sms", params))
        assert response.status_code == 200
        with session_scope(live.engine) as session:
            rows = session.exec(select(InboundMessage)).all()
        assert [(r.from_address, r.body, r.matched, r.contact_id) for r in rows] == [
            ("+15555550199", "who is this?", False, None)
        ]

    async def test_a_retried_webhook_is_processed_once(self, live: LiveStack) -> None:
        contact = await create_contact(live.api, email="twice@example.test", phone="+15555550141")
        params = {"From": "+15555550141", "Body": "да", "MessageSid": "SM" + "e" * 32}
        headers = _sign(live, "/v1/webhooks/twilio/sms", params)
        for _ in range(2):
            response = await live.api.post("/v1/webhooks/twilio/sms", data=params, headers=headers)
            assert response.status_code == 200
        timeline = (await live.api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        assert [(e["kind"], e["summary"]) for e in timeline] == [("inbound.sms", "да")]


class TestStatusCallback:
    async def test_delivered_callback_moves_the_ledger_row(self, live: LiveStack) -> None:
        document = welcome_definition("sms_only", wait="PT1S")
        document["steps"] = [{"id": "hello", "type": "send", "channel": "sms", "template": "welcome_followup"}]
        await save_definition(live.api, document)
        contact = await create_contact(live.api, email="cb@example.test", phone="+15555550151")
        run = (await enroll(live.api, "sms_only", contact["id"])).json()

        async def sent() -> list:
            items = (await live.api.get("/v1/deliveries", params={"run_id": run["run_id"]})).json()["items"]
            return [d for d in items if d["state"] == "sent"]

        delivery = (await eventually(sent))[0]
        assert delivery["provider_id"].startswith("SM")
        params = {"MessageSid": delivery["provider_id"], "MessageStatus": "delivered", "AccountSid": live.settings.twilio_account_sid}
        response = await live.api.post("/v1/webhooks/twilio/status", data=params,
                                       headers=_sign(live, "/v1/webhooks/twilio/status", params))
        assert response.status_code == 200
        items = (await live.api.get("/v1/deliveries", params={"run_id": run["run_id"]})).json()["items"]
        assert [(d["state"], d["provider_status"]) for d in items] == [("delivered", "delivered")]


class TestTemporalDownDuringAnInboundSms:
    async def test_the_retried_webhook_delivers_the_reply_that_could_not_be_signalled(self, live: LiveStack) -> None:
        from api.services.inbound import handle_inbound_sms
        from followthrough.errors import ServiceUnavailable

        await save_definition(live.api, welcome_definition("welcome_outage", wait="PT1H"))
        contact = await create_contact(live.api, email="outage@example.test", phone="+15555550171")
        run = (await enroll(live.api, "welcome_outage", contact["id"])).json()
        await eventually(lambda: _steps_are(live, run["run_id"], ["welcome_email", "wait_before_sms"]))
        form = {"From": "+15555550171", "Body": "call me later", "MessageSid": "SM" + "f" * 32}

        async def temporal_down():  # type: ignore[no-untyped-def]
            raise ServiceUnavailable("Temporal at test is not answering")

        async def temporal_up():  # type: ignore[no-untyped-def]
            return live.temporal

        with pytest.raises(ServiceUnavailable):
            await handle_inbound_sms(live.engine, temporal_down, form)
        assert (await live.api.get(f"/v1/runs/{run['run_id']}")).json()["status"] == "running"
        retried = await handle_inbound_sms(live.engine, temporal_up, form)  # Twilio's retry
        assert retried.new is False and retried.workflow_ids == [run["workflow_id"]]

        async def stopped() -> bool:
            return (await live.api.get(f"/v1/runs/{run['run_id']}")).json()["status"] == "stopped"

        await eventually(stopped)
        timeline = (await live.api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        assert [e["kind"] for e in timeline].count("inbound.sms") == 1
        again = await handle_inbound_sms(live.engine, temporal_up, form)  # a third delivery: nothing left
        assert again.workflow_ids == []


async def _steps_are(live: LiveStack, run_id: str, expected: list[str]) -> bool:
    steps = (await live.api.get(f"/v1/runs/{run_id}")).json()["steps"]
    return [s["step_id"] for s in steps] == expected
