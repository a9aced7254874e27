"""Inbound SMTP listener (aiosmtpd): parses each message and hands it to a callback.

It serves on the caller's event loop (not aiosmtpd's ``Controller`` thread) so the callback can
use the API's Temporal client and thread pool, which belong to that loop. A message is accepted
(250) only after the callback returned: if recording fails we answer 451 and the sending MTA
retries later (RFC 5321 §4.2.5), so a message is never acknowledged and then lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.smtp import SMTP, Envelope, Session

from followthrough.logging import get_logger

log = get_logger("inbound.smtp")

#: Mail bigger than this is refused at DATA (552): replies are text, not attachments archives.
DATA_SIZE_LIMIT = 10 * 1024 * 1024


@dataclass(frozen=True)
class SmtpEnvelope:
    """What the SMTP session said, beside the message itself."""

    mail_from: str
    rcpt_tos: list[str] = field(default_factory=list)
    peer: str = ""


MessageCallback = Callable[[EmailMessage, SmtpEnvelope], Awaitable[None]]


class InboundSmtpListener:
    """An SMTP server on ``host:port`` (port 0: a free port, read ``.port`` after ``start()``)."""

    def __init__(self, callback: MessageCallback, host: str = "127.0.0.1", port: int = 0,
                 *, server_hostname: str = "inbound.localhost") -> None:
        self.callback = callback
        self.host = host
        self.port = port
        # A fixed name: the default socket.getfqdn() can take seconds without DNS.
        self.server_hostname = server_hostname
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind and serve on the running loop."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("inbound SMTP listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        """Stop accepting connections and close the server."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _protocol(self) -> SMTP:
        return SMTP(self, hostname=self.server_hostname, data_size_limit=DATA_SIZE_LIMIT,
                    enable_SMTPUTF8=True, loop=asyncio.get_running_loop())

    async def handle_DATA(  # aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content or "").encode()
        try:
            message = BytesParser(policy=policy.default).parsebytes(raw)
        except Exception:  # odd MIME must not crash the server; the sender gets a reason
            log.exception("inbound SMTP could not parse a message")
            return "554 5.6.0 Message could not be parsed"
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        info = SmtpEnvelope(mail_from=envelope.mail_from or "", rcpt_tos=list(envelope.rcpt_tos),
                            peer=peer)
        try:
            await self.callback(message, info)  # type: ignore[arg-type]
        except Exception:
            log.exception("inbound SMTP message not recorded; asking the sender to retry")
            return "451 4.3.0 Temporary failure, try again later"
        return "250 2.0.0 OK: message accepted"
