"""Which inbound messages open or continue a ticket, and which stay replies. Pure: the inbound
pipeline looks up what these decisions read, then carries them out (api/services/inbound*.py).

Email (the webhook and the SMTP listener alike):

1. A mail that answers one of a ticket's own emails (its ``In-Reply-To`` or ``References``
   name the Message-ID of a message the ticket sent, or of a mail already on the ticket)
   **continues** that ticket, whatever address it was sent to; a resolved ticket reopens.
2. Otherwise a mail to the support address (``FT_SUPPORT_EMAIL``, in ``To`` or ``Cc`` or the
   SMTP envelope) **opens** a ticket.
3. Everything else stays a ``reply`` (signalled to the contact's runs, as before).

SMS (Twilio's signed webhook): a text to the support number (``FT_SUPPORT_SMS_NUMBER``)
**continues** the contact's latest ticket opened by SMS that is not closed, else **opens** one.
A text to another of our numbers that a classification rule with ``opens_ticket`` matches (in
the published SLA policy, ``FT_SLA_POLICY``) is taken the same way (it continues the contact's
open SMS ticket, else opens one): a customer answering the acknowledgement, which may come from
``FT_TWILIO_FROM``, does not open a second ticket. Everything else stays a ``reply``.

Never a ticket, whatever the address: a mail from a sender who is no contact, an automatic reply
(out of office, bounce, bulk), a mail not verified as its sender's (``FT_INBOUND_TRUST_RELAY``),
an SMS keyword (STOP, START, HELP), a text from a number no contact has. Such a message is
recorded as before (the inbound list keeps every one).

A closed ticket is not continued: a mail threaded to it opens a new ticket when it went to the
support address, else it stays a reply. A retried webhook decides as the first post did: a
message that already opened or joined a ticket (``already``) is carried out again against that
ticket, which the ticket service makes idempotent on the provider's message id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Literal

import phonenumbers

Action = Literal["open", "continue", "reply"]
#: A ticket the decision reads: (id, status).
TicketRef = tuple[int, str]
CLOSED = "closed"


@dataclass(frozen=True)
class Intake:
    action: Action
    ticket_id: int | None = None
    #: Why, in words (kept on the timeline entry of the message).
    reason: str = ""


REPLY_NO_SUPPORT = "not to the support address and not in a ticket's thread"


def _bare(address: str) -> str:
    """``Support <SUPPORT@Shop.example>`` -> ``support@shop.example``."""
    return (parseaddr(address)[1] or address).strip().lower()


def addressed_to(recipients: Iterable[str], address: str) -> bool:
    """Whether ``address`` is among ``recipients`` (bare addresses, case-insensitive)."""
    wanted = _bare(address)
    return bool(wanted) and any(_bare(r) == wanted for r in recipients)


def same_number(a: str, b: str) -> bool:
    """Whether two phone numbers are the same E.164 number (``+36 20 123 4567`` is
    ``+36201234567``); an unparsable one matches only itself."""
    if not a or not b:
        return False
    try:
        return phonenumbers.format_number(phonenumbers.parse(a, None), phonenumbers.PhoneNumberFormat.E164) \
            == phonenumbers.format_number(phonenumbers.parse(b, None), phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        return a.strip() == b.strip()


def _again(already: TicketRef | None, opened_by_it: bool) -> Intake | None:
    if already is None:
        return None
    if opened_by_it:
        return Intake("open", already[0], "this message opened the ticket")
    return Intake("continue", already[0], "this message is on the ticket")


def decide_email(*, recipients: Iterable[str], support_address: str, contact_known: bool, acts: bool,
                 thread: TicketRef | None, already: TicketRef | None = None,
                 opened_by_it: bool = False) -> Intake:
    """The intake of one mail. ``acts``: the mail is the contact speaking (verified, not an
    automatic reply); ``thread``: the ticket its thread headers name; ``already``: the ticket
    this very message opened (``opened_by_it``) or joined on an earlier post."""
    if not contact_known:
        return Intake("reply", reason="the sender is no contact")
    if not acts:
        return Intake("reply", reason="an automatic or unverified mail")
    if (again := _again(already, opened_by_it)) is not None:
        return again
    if thread is not None and thread[1] != CLOSED:
        return Intake("continue", thread[0], "a reply in the ticket's thread")
    if addressed_to(recipients, support_address):
        reason = "to the support address" + (" (its thread's ticket is closed)" if thread else "")
        return Intake("open", reason=reason)
    if thread is not None:
        return Intake("reply", reason="in a closed ticket's thread, not to the support address")
    return Intake("reply", reason=REPLY_NO_SUPPORT)


def decide_sms(*, to: str, support_number: str, contact_known: bool, keyword: bool,
               open_ticket: TicketRef | None, already: TicketRef | None = None,
               opened_by_it: bool = False, rule_opens: str | None = None) -> Intake:
    """The intake of one text. ``open_ticket``: the contact's latest ticket opened by SMS that
    is not closed; ``rule_opens``: the policy's rule that says this text opens a ticket."""
    if not contact_known:
        return Intake("reply", reason="the sender is no contact")
    if keyword:
        return Intake("reply", reason="an SMS keyword")
    if (again := _again(already, opened_by_it)) is not None:
        return again
    if not same_number(to, support_number) and rule_opens is None:
        return Intake("reply", reason="not to the support number")
    if open_ticket is not None and open_ticket[1] != CLOSED:
        return Intake("continue", open_ticket[0], "the contact's open SMS ticket")
    if rule_opens is not None and not same_number(to, support_number):
        return Intake("open", reason=f"the policy's rule '{rule_opens}' opens a ticket")
    return Intake("open", reason="to the support number")
