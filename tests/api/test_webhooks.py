"""Twilio webhooks: signature first, then record once, then fan out."""

from __future__ import annotations

import httpx
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
