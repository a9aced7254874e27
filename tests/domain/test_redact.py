"""redact(): addresses and numbers out of provider text, diagnostics kept."""

from __future__ import annotations

import pytest

from followthrough.redact import redact


@pytest.mark.parametrize(("text", "expected"), [
    ("550 5.1.1 <ann@example.com> user unknown", "550 5.1.1 <redacted> user unknown"),
    ("550 5.1.1 Mailbox ann.o+tag@mail.example.test unavailable", "550 5.1.1 Mailbox <redacted> unavailable"),
    ("recipients: a@x.test, b@y.test", "recipients: <redacted>, <redacted>"),
    ("The 'To' number +15551234567 is not a valid phone number.",
     "The 'To' number <redacted> is not a valid phone number."),
    ("call +36 30 123 4567 or (555) 123-4567", "call <redacted> or <redacted>"),
    ("452 4.5.3 Too many recipients", "452 4.5.3 Too many recipients"),
    ("Twilio error 21211 from 127.0.0.1:8025", "Twilio error 21211 from 127.0.0.1:8025"),
    ("SMTP 421 4.7.0 try again in 300 seconds", "SMTP 421 4.7.0 try again in 300 seconds"),
    ("", ""),
])
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
