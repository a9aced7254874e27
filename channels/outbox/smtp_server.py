"""The outbox SMTP server (aiosmtpd): accepts every message and captures it, one per recipient.

It runs in aiosmtpd's own thread and event loop, so a client blocking its loop can never stall
the server (as with a real remote server). Test hooks are plain public attributes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.outbox.store import Capture, OutboxStore

log = logging.getLogger(__name__)

ACCEPTED = "250 2.0.0 OK: message accepted"


class _Controller(Controller):
    def _trigger_server(self) -> None:
        # Port 0: learn the port the OS picked before aiosmtpd connects to itself to warm up.
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class OutboxSmtpServer:
    """SMTP sink on ``host:port`` (port 0: a free port, read ``.port`` after ``start()``).

    Test hooks, read by the server thread at each command:

    - ``fail_next``: SMTP replies such as ``"451 4.3.0 Try again later"`` or
      ``"550 5.1.1 No such user"``; one is popped per message and returned for its DATA.
    - ``reject_rcpt``: address → reply returned for RCPT TO, for every message.
    - ``hold_data``: while this ``threading.Event`` is unset, the reply to DATA waits (the
      message is already captured, as a real server would have it). ``data_delay`` adds a
      fixed wait in seconds.
    """

    def __init__(self, store: OutboxStore, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.fail_next: list[str] = []
        self.reject_rcpt: dict[str, str] = {}
        self.hold_data: threading.Event | None = None
        self.data_delay: float = 0.0
        self._controller: _Controller | None = None

    def start(self) -> None:
        """Bind and serve in a background thread; returns once the server answers."""
        controller = _Controller(
            self,  # aiosmtpd calls our handle_RCPT / handle_DATA
            hostname=self.host,
            port=self.port,
            # A fixed name: the default socket.getfqdn() can take seconds without DNS.
            server_hostname="outbox.localhost",
        )
        controller.start()
        self._controller = controller
        self.port = controller.port

    def stop(self) -> None:
        """Stop serving; held DATA replies are cancelled."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    # aiosmtpd handler hooks -----------------------------------------------------------------

    async def handle_RCPT(  # aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.reject_rcpt.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        reply = self.fail_next.pop(0) if self.fail_next else ACCEPTED
        if reply.startswith("2"):
            try:
                self._capture(envelope)
            except Exception:  # a sink must not crash on odd MIME; say so and refuse
                log.exception("outbox could not parse a message")
                reply = "554 5.6.0 Message could not be parsed"
        await self._hold()
        return reply

    def _capture(self, envelope: Envelope) -> None:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        msg: Any = BytesParser(policy=policy.default).parsebytes(content)
        text, html = _part(msg, "plain"), _part(msg, "html")
        headers = {name: str(value) for name, value in msg.items()}
        for rcpt in envelope.rcpt_tos:
            self.store.append(
                Capture(
                    channel="email",
                    to=rcpt,
                    from_=str(msg.get("From", envelope.mail_from or "")),
                    subject=str(msg.get("Subject", "")),
                    text=text or "",
                    html=html,
                    message_id=msg.get("Message-ID"),
                    headers=headers,
                    attachments=_attachments(msg),
                )
            )

    async def _hold(self) -> None:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        # hold_data is a threading.Event set from the test's thread (an asyncio.Event is bound
        # to one loop); polling, unlike a thread blocked in Event.wait(), stop() can cancel.
        while self.hold_data is not None and not self.hold_data.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def _attachments(msg: EmailMessage) -> list[dict[str, str]]:
    """Each attachment's name, full content type (``text/calendar; method=REQUEST; ...``) and
    decoded text."""
    found = []
    for part in msg.iter_attachments():
        content = part.get_content()
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
        found.append({"filename": part.get_filename() or "", "content_type": str(part["Content-Type"]),
                      "content": text.replace("\r\n", "\n")})
    return found


def _part(msg: EmailMessage, subtype: str) -> str | None:
    """Decoded text of the preferred ``text/<subtype>`` part; CRLF (the wire form, RFC 5322
    §2.3) shown as ``\n`` like the sender wrote it."""
    body = msg.get_body(preferencelist=(subtype,))
    return None if body is None else str(body.get_content()).replace("\r\n", "\n")
