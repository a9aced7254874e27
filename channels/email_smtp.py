"""Email over SMTP (aiosmtplib): a pure MIME builder around one connection per message.

Errors are classified here, at the edge (ARCHITECTURE contract 5): SMTP reply classes per
RFC 5321 §4.2.1 — 4yz is a transient negative completion, 5yz a permanent one.
"""

from __future__ import annotations

import asyncio
import email.policy
import email.utils
import socket
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from channels.base import (
    OutboundMessage,
    PermanentChannelError,
    SendReceipt,
    TransientChannelError,
    UnknownOutcomeError,
)
from followthrough import ids
from followthrough.models.vocab import Channel
from followthrough.settings import Settings

#: Headers the channel owns: Message-ID carries the ledger key (replies are matched by it) and
#: the MIME structure is built here, so message.headers must not replace them.
_OWNED_HEADERS = frozenset(
    {"message-id", "mime-version", "content-type", "content-transfer-encoding"}
)

_STARTTLS: dict[str, bool | None] = {"auto": None, "true": True, "false": False}


class _HeaderClasses(HeaderRegistry):
    """``policy.default``'s header classes, each made once: CPython's registry makes a new class
    for every header it parses (``type(...)``, ~10 µs, some twenty times per message: issue 9,
    a sixth of building an email). The classes hold no state; the headers are the same."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


#: ``policy.default`` (RFC 2047 encodes non-ASCII headers: Cyrillic, ő, ű) with those classes.
POLICY = email.policy.default.clone(header_factory=_HeaderClasses())


def _put(msg: EmailMessage, name: str, value: str) -> None:
    """Set a header we built or were given. A short ASCII value on one line goes in as it is
    (what parsing and folding would make of it: issue 9); any other is parsed (encoded,
    folded, a line break refused) as before."""
    if value.isascii() and value.isprintable() and len(name) + len(value) + 2 <= 78:
        msg.set_raw(name, value)
    else:
        msg[name] = value


def mail_domain(mail_from: str) -> str:
    """Domain part of the From address; Message-IDs are minted under it (RFC 5322 §3.6.4)."""
    _local, at, domain = email.utils.parseaddr(mail_from)[1].rpartition("@")
    if not at or not domain:
        raise ValueError(f"mail_from has no domain: {mail_from!r}")
    return domain


def message_id_for(key: str, domain: str) -> str:
    """The Message-ID of a ledger key: stable, so a retry of the same key reuses it."""
    return f"<{ids.message_id_local_part(key)}@{domain}>"


def build_email(
    message: OutboundMessage, mail_from: str, domain: str, *, now: datetime | None = None
) -> EmailMessage:
    """Build the MIME message: text/plain alone, or multipart/alternative text + html; with
    attachments, multipart/mixed around it (an invitation is a ``text/calendar; method=...``
    part, RFC 6047 §2.4, which calendar clients offer to add).

    ``now`` fixes the Date header (tests); by default the current UTC time.
    """
    msg = EmailMessage(policy=POLICY)
    msg["From"] = mail_from
    msg["To"] = message.to
    _set_subject(msg, message.subject or "")
    _put(msg, "Date", email.utils.format_datetime(now or datetime.now(UTC)))
    _put(msg, "Message-ID", message_id_for(message.key, domain))
    for name, value in message.headers.items():
        if name.lower() in _OWNED_HEADERS:
            raise ValueError(f"header {name!r} is set by the email channel")
        del msg[name]  # replace, never duplicate (e.g. a second Reply-To)
        _put(msg, name, value)
    msg.set_content(message.text)
    if message.html is not None:
        # RFC 2046 §5.1.4: alternatives in increasing preference, so html comes last.
        msg.add_alternative(message.html, subtype="html")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(attachment.content, maintype=maintype, subtype=subtype,
                           filename=attachment.filename, params=dict(attachment.params))
    return msg


def _set_subject(msg: EmailMessage, subject: str) -> None:
    """Fold the subject with ``email.header.Header`` and set it raw.

    CPython's policy.default folder can put the space between two words into the folding
    whitespace between two encoded-words, where RFC 2047 §6.2 says decoders drop it ("Иван! Ваш"
    arrives as "Иван!Ваш"), and folds a long ASCII subject right after "Subject:", which leaves
    a leading space. Header keeps spaces inside encoded text and folds at whitespace.
    """
    if "\r" in subject or "\n" in subject:
        raise ValueError("subject must be a single line")
    charset = "us-ascii" if subject.isascii() else "utf-8"
    msg.set_raw("Subject", Header(subject, charset, header_name="Subject").encode(linesep="\n"))


class _TrackingSMTP(aiosmtplib.SMTP):
    """Remembers whether DATA was started: after that point a lost reply means the server may
    already hold the message, so the outcome is unknown rather than a clean failure."""

    data_started = False

    async def data(self, message: str | bytes, /, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        self.data_started = True
        return await super().data(message, **kwargs)


def classify_smtp_error(exc: Exception, *, data_started: bool, connected: bool = True) -> Exception:
    """Map an aiosmtplib failure onto the channel error vocabulary."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]  # one recipient per message, so the first refusal is the one
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        code = f"smtp_{exc.code}"
        text = f"SMTP {exc.code} {exc.message}"
        if 400 <= exc.code < 500:
            return TransientChannelError(text, code=code)
        if 500 <= exc.code < 600:
            return PermanentChannelError(text, code=code)
        # Not a 4yz/5yz (e.g. a 3yz where 2yz was due): a confused server, worth a retry.
        return TransientChannelError(text, code=code)
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        # Includes connect timeouts and refused connections: nothing was sent.
        return TransientChannelError(f"SMTP connect failed: {exc}", code="smtp_connect")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | aiosmtplib.SMTPServerDisconnected):
        # Conservative: once DATA is under way (even waiting for its 354) we cannot prove the
        # server lacks the message, so the ledger must say "uncertain", never "not sent".
        if data_started:
            return UnknownOutcomeError(f"SMTP reply to DATA lost: {exc}", code="smtp_unknown")
        return TransientChannelError(f"SMTP session failed before DATA: {exc}", code="smtp_io")
    if isinstance(exc, TimeoutError):
        # The whole session outlasted smtp_timeout (aiosmtplib's own timeout is per reply, so a
        # slow server answering every command just in time would otherwise hold us for minutes).
        if data_started:
            return UnknownOutcomeError(f"SMTP session timed out during DATA: {exc}", code="smtp_unknown")
        if not connected:  # no greeting, EHLO, STARTTLS or login in time: as a connect timeout
            return TransientChannelError("SMTP connect timed out", code="smtp_connect")
        return TransientChannelError("SMTP session timed out before DATA", code="smtp_io")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        # e.g. SMTPUTF8 needed for a non-ASCII address and the server lacks it: retrying won't help.
        return PermanentChannelError(str(exc), code="smtp_not_supported")
    if isinstance(exc, ValueError):
        # aiosmtplib refuses addresses that cannot go on an SMTP command line.
        return PermanentChannelError(str(exc), code="smtp_bad_address")
    if isinstance(exc, OSError):
        return TransientChannelError(f"SMTP connection error: {exc}", code="smtp_connect")
    return exc


class SmtpEmailChannel:
    """ChannelSender for email: one SMTP session per message, no pooling, no retries."""

    channel = Channel.EMAIL

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._domain = mail_domain(settings.mail_from)
        #: The name our EHLO gives: this host's, looked up once (aiosmtplib asks the resolver
        #: for it on every connection, on a thread: issue 9, ~5 % of a delivery's Python time).
        self._local_hostname: str | None = None

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Send one message; raises Transient/Permanent/UnknownOutcome channel errors."""
        s = self._settings
        try:
            msg = build_email(message, s.mail_from, self._domain)
        except ValueError as exc:  # a multi-line subject, an owned header: never sendable
            raise PermanentChannelError(str(exc), code="email_invalid") from None
        # Settings: an empty smtp_host means the dev outbox on loopback (channels/outbox).
        host, port = (
            (s.smtp_host, s.smtp_port) if s.smtp_host else ("127.0.0.1", s.outbox_smtp_port)
        )
        client = _TrackingSMTP(
            hostname=host,
            port=port,
            username=s.smtp_username or None,
            password=s.smtp_password or None,
            use_tls=s.smtp_tls,
            start_tls=None if s.smtp_tls else _STARTTLS[s.smtp_starttls],
            timeout=s.smtp_timeout,
        )
        reply: str | None = None
        connected = False
        try:
            # One bound for the whole session, so the delivery activity's attempt ends in time.
            async with asyncio.timeout(s.smtp_timeout):
                await client.connect(local_hostname=await self._ehlo_name())
                connected = True
                _refused, reply = await client.send_message(msg)
                await client.quit()
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:  # TimeoutError is an OSError
            if reply is None:
                mapped = classify_smtp_error(exc, data_started=client.data_started, connected=connected)
                if mapped is exc:
                    raise
                # from None: aiosmtplib's exception holds the server's raw text (the address).
                raise mapped from None
            # Accepted (250 to DATA): a QUIT that fails or times out changes nothing.
        finally:
            client.close()
        return SendReceipt(provider_id=message_id_for(message.key, self._domain), status=f"250 {reply}".strip())

    async def _ehlo_name(self) -> str | None:
        """This host's name (None: aiosmtplib's own lookup), resolved on the first send, within
        its session's timeout: a slow resolver is a transient failure before connecting."""
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        return self._local_hostname or None

    async def aclose(self) -> None:
        """Nothing to release: each send opens and closes its own session."""
