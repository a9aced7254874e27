"""One helper that takes email addresses and phone numbers out of text we did not write.

Providers echo the recipient in their error text ("550 5.1.1 <ann@example.com> user unknown",
Twilio 21211 "The 'To' number +15551234567 is not a valid phone number"). That text reaches
logs, ledger reasons, the timeline and activity failures in Temporal history, so it is
redacted once, at the channel edge, with this function.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"

#: Anything shaped like local@domain, with its angle brackets if it has them. Generous on
#: purpose: a false positive costs a word of a diagnostic, a false negative leaks an address.
_EMAIL = re.compile(r"<?[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+>?")

#: A run of digits with the separators people write in phone numbers; only runs with at least
#: seven digits are numbers (SMTP enhanced codes "5.1.1", Twilio codes "21211", ports stay).
_PHONE_CANDIDATE = re.compile(r"\+?\(?[0-9][0-9 ().\-]{5,}[0-9]")
_MIN_PHONE_DIGITS = 7


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    return REDACTED if digits >= _MIN_PHONE_DIGITS else text


def redact(text: str) -> str:
    """``text`` with every email address and phone number replaced by ``<redacted>``."""
    text = _EMAIL.sub(REDACTED, text)
    return _PHONE_CANDIDATE.sub(_phone, text)
