"""The inbound SMTP listener: the real aiosmtplib client on loopback, port 0."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from channels.inbound.smtp_listener import InboundSmtpListener, SmtpEnvelope
from followthrough.settings import Settings
from followthrough.store.db import session_scope
from followthrough.store.tables import InboundMessage
from tests.conftest import ADMIN_KEY


def _mail(message_id: str, sender: str = "smtp.anna@example.test") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Anna <{sender}>"
    msg["To"] = "replies@followthrough.example.test"
    msg["Subject"] = "Re: Üdvözöljük"
    msg["Message-ID"] = message_id
    # What the receiving relay adds on top when the sender's domain signed the mail.
    msg["Authentication-Results"] = f"mx.followthrough.test; dkim=pass header.d={sender.rpartition('@')[2]}"
    msg.set_content("Köszönöm, érdekel!")
    return msg


class TestListener:
    async def test_each_message_reaches_the_callback_parsed(self) -> None:
        received: list[tuple[EmailMessage, SmtpEnvelope]] = []

        async def callback(message: EmailMessage, envelope: SmtpEnvelope) -> None:
            received.append((message, envelope))

        listener = InboundSmtpListener(callback, "127.0.0.1", 0)
        await listener.start()
        try:
            await aiosmtplib.send(_mail("<l1@example.test>"), hostname="127.0.0.1", port=listener.port)
        finally:
            await listener.stop()
        [(message, envelope)] = received
        # The wire form (CRLF, RFC 5322 §2.3); InboundEmail normalises it later.
        assert (str(message["Subject"]), message.get_content()) == ("Re: Üdvözöljük", "Köszönöm, érdekel!\r\n")
        assert (envelope.mail_from, envelope.rcpt_tos) == ("smtp.anna@example.test",
                                                          ["replies@followthrough.example.test"])

    async def test_a_failing_callback_is_a_451_so_the_sender_retries(self) -> None:
        async def callback(message: EmailMessage, envelope: SmtpEnvelope) -> None:
            raise RuntimeError("database down")

        listener = InboundSmtpListener(callback, "127.0.0.1", 0)
        await listener.start()
        try:
            with pytest.raises(aiosmtplib.SMTPDataError) as info:
                await aiosmtplib.send(_mail("<l2@example.test>"), hostname="127.0.0.1", port=listener.port)
        finally:
            await listener.stop()
        assert info.value.code == 451


class TestInTheApi:
    async def test_mail_to_the_api_listener_is_stored_and_matched(
        self, settings: Settings, engine: Engine
    ) -> None:
        from api.app import create_app

        app = create_app(settings.model_copy(update={"inbound_smtp_port": 0}), engine=engine)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as api:
            contact = (await api.post("/v1/contacts", json={"name": "Anna", "email": "smtp.anna@example.test",
                                                             "locale": "hu"})).json()
            port = app.state.inbound_smtp.port
            for _ in range(2):  # a resend of the same message is stored once
                await aiosmtplib.send(_mail("<api1@example.test>"), hostname="127.0.0.1", port=port)
            timeline = (await api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        with session_scope(engine) as session:
            rows = session.exec(select(InboundMessage)).all()
        assert [(r.channel, r.provider_id, r.from_address, r.contact_id, r.matched, r.body, r.raw["source"])
                for r in rows] == [("email", "<api1@example.test>", "smtp.anna@example.test", contact["id"],
                                    True, "Köszönöm, érdekel!\n", "smtp")]
        assert [(e["kind"], e["summary"], e["data"]["matched_by"]) for e in timeline] == [
            ("inbound.email", "Re: Üdvözöljük", "address")]
