"""The channel protocol: one typed interface, a closed status vocabulary, classified errors.

A channel builds its payload (pure), makes one I/O call and maps the answer. No templating and
no retries in here: rendering happens before, retries are Temporal's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from followthrough.models.vocab import Channel
from followthrough.redact import redact


@dataclass(frozen=True)
class Attachment:
    """A file a message carries (email only), e.g. an RFC 5545 invitation: ``text/calendar``
    with ``params={"method": "REQUEST"}``."""

    filename: str
    content_type: str  # maintype/subtype
    content: bytes
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundMessage:
    """A rendered message ready for one provider call."""

    channel: Channel
    key: str  # the ledger idempotency key
    to: str  # E.164 phone or email address
    text: str
    subject: str | None = None
    html: str | None = None
    locale: str = "en"
    headers: dict[str, str] = field(default_factory=dict)
    status_callback: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class SendReceipt:
    provider_id: str  # SMTP Message-ID, Twilio MessageSid or CallSid
    status: str = "sent"  # provider's own word, e.g. "queued", "250 OK"


class ChannelError(Exception):
    """Base of every channel failure: our code (``smtp_550``, ``twilio_21211``) and the
    provider's text with addresses and numbers redacted. The text reaches logs, ledger reasons,
    the timeline and Temporal history, so it is redacted here, once, whoever raises it.

    Raise it ``from None`` when translating a provider exception: the provider's exception
    carries the raw text, and a chained cause would carry it into tracebacks and into the
    activity failure Temporal stores."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(redact(message))
        self.code = code


class TransientChannelError(ChannelError):
    """Retry with backoff: SMTP 4xx, Twilio 429/5xx, timeouts, refused connections."""

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentChannelError(ChannelError):
    """Never retried: SMTP 5xx, Twilio 21211/21610/21614. Recorded; the workflow falls back."""


class UnknownOutcomeError(ChannelError):
    """The request may have reached the provider but no answer came (e.g. a read timeout after
    the SMTP DATA was sent). The ledger marks it ``uncertain``."""


class ChannelSender(Protocol):
    channel: Channel

    async def send(self, message: OutboundMessage) -> SendReceipt: ...

    async def aclose(self) -> None: ...
