"""Inbound email: validate the payload, then normalise it into one ``InboundEmail``. Pure.

Two sources feed it: a mail-parsing service posting a parsed email as JSON
(``InboundEmailPayload``) and our SMTP listener handing over an ``email.message.EmailMessage``.
Both end as the same type, so matching, dedupe and auto-reply rules exist once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

from pydantic import BaseModel, ConfigDict, Field

from channels.inbound.auth_results import verified_by

_MSG_ID = re.compile(r"<[^<>\s]+>")

#: Subject prefixes mail clients put on automatic replies (Outlook, Gmail, Yandex, Mail.ru,
#: Hungarian Outlook/Freemail), casefolded. Headers are the reliable signal; subjects catch the
#: servers that send out-of-office notices without RFC 3834 headers.
AUTO_SUBJECT_PREFIXES = (
    "out of office", "automatic reply", "auto reply", "auto-reply", "autoreply", "auto:",
    "автоответ", "автоматический ответ", "нет на месте",
    "automatikus válasz", "házon kívül", "távol vagyok",
)
#: ``Precedence`` values of machine-sent mail (RFC 3834 §3.1.8 cites them; not ``list``: a
#: person may answer through a mailing list).
AUTO_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk"})
#: Non-delivery reports come from these local parts (RFC 3464 DSNs often lack Auto-Submitted).
BOUNCE_SENDERS = ("mailer-daemon@", "postmaster@")


class InboundEmailPayload(BaseModel):
    """A parsed email as a mail-parsing service posts it (``POST /v1/webhooks/email/inbound``)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    from_: str = Field(alias="from", min_length=3, max_length=1000)
    to: str | list[str] = ""
    subject: str = Field(default="", max_length=2000)
    text: str = Field(default="", max_length=1_000_000)
    html: str | None = Field(default=None, max_length=2_000_000)
    headers: dict[str, str] = Field(default_factory=dict, max_length=500)
    message_id: str | None = Field(default=None, max_length=998)  # RFC 5322 line limit
    in_reply_to: str | None = Field(default=None, max_length=998)
    references: str | list[str] | None = Field(default=None)


class InboundEmail(BaseModel):
    """One received email, whatever carried it."""

    from_address: str  # the bare address, e.g. anna@example.test
    from_name: str = ""
    to: list[str] = Field(default_factory=list)
    subject: str = ""
    text: str = ""
    html: str | None = None
    message_id: str  # angle-bracketed; synthesised from the content when the sender gave none
    in_reply_to: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    auto_submitted: bool = False
    auto_reason: str | None = None  # which rule said "automatic", e.g. "auto-submitted: auto-replied"
    #: What the receiving relay's Authentication-Results proved about the From domain, e.g.
    #: "dkim header.d=example.com"; None: nothing (the mail may not be from whom it says).
    verified_by: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this mail answers, most specific first: In-Reply-To, then References from
        the newest (last) back, without repeats."""
        seen: dict[str, None] = dict.fromkeys(self.in_reply_to)
        seen.update(dict.fromkeys(reversed(self.references)))
        return list(seen)


def message_ids(value: str | Iterable[str] | None) -> list[str]:
    """Every ``<msg-id>`` in a header value (RFC 5322 §3.6.4); a bare id gets its brackets."""
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value)
    found: list[str] = []
    for item in values:
        ids = _MSG_ID.findall(item)
        if not ids and (bare := item.strip()) and " " not in bare:
            ids = [f"<{bare}>"]
        found += [i for i in ids if i not in found]
    return found


def auto_reply_reason(headers: Mapping[str, str], subject: str, from_address: str) -> str | None:
    """Why this email is machine-sent (an out-of-office, a bounce, a bulk mailing), or ``None``.

    RFC 3834 §5: any ``Auto-Submitted`` other than ``no`` is automatic. ``X-Autoreply`` and
    ``X-Autorespond`` are the older de-facto headers (Exchange, cPanel, vacation(1)).
    """
    lower = {name.lower(): value.strip() for name, value in headers.items()}
    auto = lower.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"auto-submitted: {auto}"
    for name in ("x-autoreply", "x-autorespond"):
        if name in lower:
            return name
    precedence = lower.get("precedence", "").lower()
    if precedence in AUTO_PRECEDENCE:
        return f"precedence: {precedence}"
    folded = " ".join(subject.split()).casefold()
    for prefix in AUTO_SUBJECT_PREFIXES:
        if folded.startswith(prefix):
            return f"subject: {prefix}"
    if from_address.lower().startswith(BOUNCE_SENDERS):
        return "bounce"
    return None


def from_payload(payload: InboundEmailPayload) -> InboundEmail:
    """Normalise a parsed-email JSON body. Top-level fields win over the same ``headers``."""
    headers = dict(payload.headers)
    header = {name.lower(): value for name, value in headers.items()}
    to = payload.to if isinstance(payload.to, list) else [payload.to]
    return _build(
        sender=payload.from_,
        to=[v for v in to if v],
        subject=payload.subject or header.get("subject", ""),
        text=payload.text,
        html=payload.html,
        message_id=payload.message_id or header.get("message-id"),
        in_reply_to=payload.in_reply_to or header.get("in-reply-to"),
        references=payload.references or header.get("references"),
        headers=headers,
    )


def from_message(msg: EmailMessage) -> InboundEmail:
    """Normalise a parsed message (``email.policy.default``), as the SMTP listener receives it."""
    headers: dict[str, str] = {}
    for name, value in msg.items():
        # A repeated header (Received) keeps its first value: the matching rules read only
        # single-occurrence headers.
        headers.setdefault(name, str(value))
    return _build(
        sender=str(msg.get("From", "")),
        to=[str(v) for v in msg.get_all("To", [])],
        subject=str(msg.get("Subject", "")),
        text=_body(msg, "plain") or "",
        html=_body(msg, "html"),
        message_id=msg.get("Message-ID"),
        in_reply_to=msg.get("In-Reply-To"),
        references=msg.get("References"),
        headers=headers,
    )


def _build(
    *, sender: str, to: list[str], subject: str, text: str, html: str | None,
    message_id: str | None, in_reply_to: str | list[str] | None,
    references: str | list[str] | None, headers: dict[str, str],
) -> InboundEmail:
    name, address = parseaddr(sender)
    address = address.strip() or sender.strip()
    subject = " ".join(subject.split())  # unfold (RFC 5322 §2.2.3)
    ids = message_ids(message_id)
    return InboundEmail(
        from_address=address,
        from_name=name,
        to=[addr for _, addr in getaddresses(to) if addr],
        subject=subject,
        text=text.replace("\r\n", "\n"),
        html=html,
        message_id=ids[0] if ids else _synthetic_id(address, to, subject, text, headers),
        in_reply_to=message_ids(in_reply_to),
        references=message_ids(references),
        auto_reason=(reason := auto_reply_reason(headers, subject, address)),
        auto_submitted=reason is not None,
        # The first occurrence: the receiving relay prepends its own above any the sender wrote.
        verified_by=verified_by(_header(headers, "authentication-results"), address),
        headers=headers,
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name), None)


def _synthetic_id(sender: str, to: list[str], subject: str, text: str,
                  headers: Mapping[str, str]) -> str:
    """A stable id for a mail without Message-ID, so a re-posted webhook still dedupes."""
    date = next((v for k, v in headers.items() if k.lower() == "date"), "")
    digest = hashlib.sha256("\x00".join([sender, *to, subject, date, text]).encode()).hexdigest()
    return f"<nomid.{digest[:40]}@inbound.invalid>"


def _body(msg: EmailMessage, subtype: str) -> str | None:
    part = msg.get_body(preferencelist=(subtype,))
    return None if part is None else str(part.get_content())
