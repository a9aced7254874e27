"""Inbound messages that open or continue a ticket, end to end: the email webhook, the SMTP
listener and Twilio's signed SMS webhook, through the real ticket service and TicketWorkflow on
the dev server (README "Which inbound messages open or continue a ticket")."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import col, select
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.settings import Settings
from followthrough.store.db import session_scope
from followthrough.store.tables import Delivery, InboundMessage, Ticket, TicketMessage
from tests.conftest import ADMIN_KEY, LiveStack, terminate_open_runs
from tests.support.factories import create_contact
from tests.support.stack import running_worker
from tests.support.tasks import person
from tests.support.tickets import publish_policy, support_team
from tests.support.waiting import eventually

SUPPORT = "support@shop.example.test"
SUPPORT_NUMBER = "+3615550100"
MAIN_NUMBER = "+15550000000"


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, edge_settings: Settings, engine: Engine,
                outbox: OutboxHandle) -> AsyncIterator[LiveStack]:
    """API (with its SMTP listener) + worker on the dev server, a support team and the policy."""
    from api.app import create_app

    settings = edge_settings.model_copy(update={
        "task_queue": f"ft-intake-{uuid.uuid4().hex[:12]}", "support_email": SUPPORT,
        "support_sms_number": SUPPORT_NUMBER, "inbound_smtp_port": 0, "inbound_trust_relay": True})
    manager = person(engine, "Marta", role="manager")
    agent = person(engine, "Adam", manager_id=manager)
    support_team(engine, [agent], manager)
    publish_policy(engine, manager, classification=[
        {"id": "complaint", "keywords": ["complaint", "жалоба", "panasz"], "category": "complaint",
         "priority": "high", "opens_ticket": True}])
    app = create_app(settings, engine=engine, temporal_client=dev_env.client)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with running_worker(dev_env.client, settings, engine) as worker, app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                                     headers=headers) as client:
            client.app = app  # type: ignore[attr-defined]
            yield LiveStack(client, settings, engine, outbox, dev_env.client, worker)
    with session_scope(engine) as session:
        open_ids = [t.workflow_id for t in session.exec(select(Ticket))]
    for workflow_id in open_ids:
        try:
            await dev_env.client.get_workflow_handle(workflow_id).terminate("test finished")
        except RPCError:
            pass  # already closed
    await terminate_open_runs(engine, dev_env.client)


def tickets(engine: Engine) -> list[tuple[int, int, str, str | None]]:
    with session_scope(engine) as session:
        rows = session.exec(select(Ticket).order_by(col(Ticket.id)))
        return [(t.id or 0, t.contact_id, t.channel, t.source_message_id) for t in rows]


def customer_messages(engine: Engine, ticket_id: int) -> list[tuple[str, str | None]]:
    with session_scope(engine) as session:
        rows = session.exec(select(TicketMessage).where(TicketMessage.ticket_id == ticket_id,
                                                        TicketMessage.direction == "in")
                            .order_by(col(TicketMessage.id)))
        return [(m.body, m.message_key) for m in rows]


def mail(message_id: str, *, to: str = SUPPORT, **fields: Any) -> dict[str, Any]:
    return {"from": "Anna <anna@example.test>", "to": to, "subject": "Broken order", "text": "The parcel was empty.",
            "message_id": message_id, **fields}


def sign(stack: LiveStack, path: str, params: dict[str, str]) -> dict[str, str]:
    from twilio.request_validator import RequestValidator

    url = stack.settings.public_base_url + path
    return {"X-Twilio-Signature": RequestValidator(stack.settings.twilio_auth_token).compute_signature(url, params)}


async def sms(stack: LiveStack, sid: str, body: str, to: str = SUPPORT_NUMBER) -> httpx.Response:
    params = {"From": "+36201234567", "To": to, "Body": body, "MessageSid": sid}
    return await stack.api.post("/v1/webhooks/twilio/sms", data=params,
                                headers=sign(stack, "/v1/webhooks/twilio/sms", params))


class TestEmail:
    async def test_a_mail_to_the_support_address_opens_one_ticket_however_often_it_is_posted(
            self, stack: LiveStack) -> None:
        contact = await create_contact(stack.api, email="anna@example.test", locale="en")
        for attempt in range(2):
            response = await stack.api.post("/v1/webhooks/email/inbound", json=mail("<m1@example.test>"))
            assert response.status_code == 202, response.text
            body = response.json()
            assert (body["new"], body["intake"], body["signalled_runs"]) == (attempt == 0, "open", 0)
        [(ticket_id, contact_id, channel, source)] = tickets(stack.engine)
        assert (body["ticket_id"], contact_id, channel, source) == (ticket_id, contact["id"], "email", "<m1@example.test>")
        timeline = (await stack.api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        entry = next(e for e in timeline if e["kind"] == "inbound.email")
        assert entry["data"]["ticket"] == {"action": "open", "ticket_id": None, "reason": "to the support address"}

    async def test_a_reply_to_the_tickets_acknowledgement_continues_it_at_any_address(self, stack: LiveStack) -> None:
        await create_contact(stack.api, email="anna@example.test", locale="en")
        opened = (await stack.api.post("/v1/webhooks/email/inbound", json=mail("<m2@example.test>"))).json()

        def ack() -> Delivery | None:
            with session_scope(stack.engine) as session:
                return session.exec(select(Delivery).where(Delivery.run_id == f"ticket-{opened['ticket_id']}",
                                                           Delivery.provider_id.is_not(None))).first()  # type: ignore[union-attr]

        async def acknowledged() -> Delivery | None:
            return ack()

        sent = await eventually(acknowledged)
        reply = mail("<m3@example.test>", to="replies@shop.example.test", text="Any news?",
                     in_reply_to=sent.provider_id, references=f"<m2@example.test> {sent.provider_id}")
        body = (await stack.api.post("/v1/webhooks/email/inbound", json=reply)).json()
        assert (body["intake"], body["ticket_id"], body["signalled_runs"]) == ("continue", opened["ticket_id"], 0)
        assert customer_messages(stack.engine, opened["ticket_id"]) == [
            ("The parcel was empty.", "<m2@example.test>"), ("Any news?", "<m3@example.test>")]
        assert len(tickets(stack.engine)) == 1

    async def test_other_mail_stays_a_reply(self, stack: LiveStack) -> None:
        await create_contact(stack.api, email="anna@example.test", locale="en")
        body = (await stack.api.post("/v1/webhooks/email/inbound",
                                     json=mail("<m4@example.test>", to="sales@shop.example.test"))).json()
        assert (body["intake"], body["ticket_id"]) == ("reply", None)
        auto = mail("<m5@example.test>", headers={"Auto-Submitted": "auto-replied"})
        assert (await stack.api.post("/v1/webhooks/email/inbound", json=auto)).json()["intake"] == "reply"
        unknown = mail("<m6@example.test>", **{"from": "stranger@example.test"})
        assert (await stack.api.post("/v1/webhooks/email/inbound", json=unknown)).json()["intake"] == "reply"
        assert tickets(stack.engine) == []

    async def test_a_mail_to_the_support_address_over_smtp_opens_a_ticket(self, stack: LiveStack) -> None:
        contact = await create_contact(stack.api, email="anna@example.test", locale="hu")
        message = EmailMessage()
        message["From"] = "Anna <anna@example.test>"
        message["To"] = "Ügyfélszolgálat <support@shop.example.test>"
        message["Subject"] = "Panasz"
        message["Message-ID"] = "<smtp1@example.test>"
        message.set_content("A panaszom: a csomag üres volt.")
        port = stack.api.app.state.inbound_smtp.port  # type: ignore[attr-defined]
        await aiosmtplib.send(message, hostname="127.0.0.1", port=port)
        [(_ticket_id, contact_id, channel, source)] = tickets(stack.engine)
        assert (contact_id, channel, source) == (contact["id"], "email", "<smtp1@example.test>")
        with session_scope(stack.engine) as session:
            ticket = session.exec(select(Ticket)).one()
        assert (ticket.subject, ticket.category, ticket.priority) == ("Panasz", "complaint", "high")


class TestSms:
    async def test_a_text_to_the_support_number_opens_a_ticket_and_the_next_continues_it(self, stack: LiveStack) -> None:
        contact = await create_contact(stack.api, email="anna@example.test", phone="+36201234567", locale="hu")
        first = await sms(stack, "SM" + "1" * 32, "Panaszt szeretnék tenni")
        assert first.status_code == 200
        [(ticket_id, contact_id, channel, source)] = tickets(stack.engine)
        assert (contact_id, channel, source) == (contact["id"], "sms", "SM" + "1" * 32)
        await sms(stack, "SM" + "1" * 32, "Panaszt szeretnék tenni")  # Twilio's retry
        await sms(stack, "SM" + "2" * 32, "Mikor válaszolnak?")
        assert len(tickets(stack.engine)) == 1
        assert customer_messages(stack.engine, ticket_id) == [
            ("Panaszt szeretnék tenni", "SM" + "1" * 32), ("Mikor válaszolnak?", "SM" + "2" * 32)]

    async def test_a_complaint_texted_to_another_number_opens_a_ticket_by_the_policys_rule(
            self, stack: LiveStack) -> None:
        contact = await create_contact(stack.api, email="anna@example.test", phone="+36201234567", locale="hu")
        await sms(stack, "SM" + "5" * 32, "A panaszom: nem jött meg a csomag", to=MAIN_NUMBER)
        assert [(c, ch) for _, c, ch, _ in tickets(stack.engine)] == [(contact["id"], "sms")]

    async def test_a_text_to_another_number_and_a_keyword_stay_replies(self, stack: LiveStack) -> None:
        await create_contact(stack.api, email="anna@example.test", phone="+36201234567", locale="hu")
        await sms(stack, "SM" + "3" * 32, "Köszönöm", to=MAIN_NUMBER)
        await sms(stack, "SM" + "4" * 32, "STOP")
        assert tickets(stack.engine) == []
        with session_scope(stack.engine) as session:
            assert len(session.exec(select(InboundMessage)).all()) == 2
