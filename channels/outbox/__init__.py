"""The dev outbox: loopback SMTP and Twilio-compatible servers that capture instead of sending.

``make dev`` points the channels at it; the tests use it as the fake of the network edge, so
the real aiosmtplib and Twilio SDK run end to end. Captures go to an append-only JSONL file
(``settings.outbox_file``) or, for tests, to memory.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from channels.outbox.smtp_server import OutboxSmtpServer
from channels.outbox.store import Capture, OutboxStore
from channels.outbox.twilio_server import OutboxTwilioServer
from followthrough.settings import Settings

__all__ = [
    "Capture",
    "OutboxHandle",
    "OutboxSmtpServer",
    "OutboxStore",
    "OutboxTwilioServer",
    "outbox_settings",
    "run_outbox",
]


@dataclass
class OutboxHandle:
    """The running outbox: its store and both servers."""

    store: OutboxStore
    smtp: OutboxSmtpServer
    twilio: OutboxTwilioServer

    def stop(self) -> None:
        """Stop both servers (blocking; joins their threads)."""
        self.smtp.stop()
        self.twilio.stop()

    async def aclose(self) -> None:
        """Stop both servers without blocking the event loop."""
        await asyncio.to_thread(self.stop)


async def run_outbox(
    settings: Settings, *, account_sid: str, auth_token: str, host: str = "127.0.0.1"
) -> OutboxHandle:
    """Start both servers on ``settings.outbox_smtp_port`` / ``outbox_twilio_port``, capturing
    to ``settings.outbox_file``. The caller chooses the Twilio credentials the server checks."""
    store = OutboxStore(settings.outbox_file)
    smtp = OutboxSmtpServer(store, host, settings.outbox_smtp_port)
    twilio = OutboxTwilioServer(
        store, host, settings.outbox_twilio_port, account_sid=account_sid, auth_token=auth_token
    )
    await asyncio.to_thread(smtp.start)  # start() waits for the server to answer
    try:
        await asyncio.to_thread(twilio.start)
    except BaseException:
        await asyncio.to_thread(smtp.stop)
        raise
    return OutboxHandle(store=store, smtp=smtp, twilio=twilio)


def outbox_settings(settings: Settings, handle: OutboxHandle) -> Settings:
    """A copy of ``settings`` whose channels send to the running outbox instead of providers."""
    return settings.model_copy(
        update={
            "smtp_host": handle.smtp.host,
            "smtp_port": handle.smtp.port,
            "smtp_starttls": "false",
            "smtp_tls": False,
            "smtp_username": "",
            "smtp_password": "",
            "twilio_api_base": handle.twilio.base_url,
            "twilio_account_sid": handle.twilio.account_sid,
            "twilio_auth_token": handle.twilio.auth_token,
        }
    )
