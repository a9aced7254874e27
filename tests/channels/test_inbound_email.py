"""Inbound email normalisation: JSON payloads and parsed messages end as one InboundEmail."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from pydantic import ValidationError

from channels.inbound.email import (
    InboundEmailPayload,
    auto_reply_reason,
    from_message,
    from_payload,
    message_ids,
)

OUR_ID = "<ft.run_1.welcome_email.1@followthrough.example.test>"


def _payload(**fields: object) -> InboundEmailPayload:
    body: dict[str, object] = {"from": "Anna Test <Anna@Example.test>", "to": "hello@followthrough.example.test",
                               "subject": "Re: Welcome", "text": "Thanks!\r\nAnna",
                               "message_id": "<reply-1@example.test>", **fields}
    return InboundEmailPayload.model_validate(body)


class TestFromPayload:
    def test_fields(self) -> None:
        mail = from_payload(_payload(in_reply_to=OUR_ID, references=f"<older@x.test> {OUR_ID}"))
        assert mail.from_address == "Anna@Example.test"
        assert mail.from_name == "Anna Test"
        assert mail.to == ["hello@followthrough.example.test"]
        assert mail.subject == "Re: Welcome"
        assert mail.text == "Thanks!\nAnna"
        assert mail.message_id == "<reply-1@example.test>"
        assert mail.in_reply_to == [OUR_ID]
        assert mail.references == ["<older@x.test>", OUR_ID]
        assert mail.thread_ids == [OUR_ID, "<older@x.test>"]
        assert (mail.auto_submitted, mail.auto_reason) == (False, None)

    def test_headers_fill_missing_fields(self) -> None:
        mail = from_payload(_payload(message_id=None, subject="", headers={
            "Message-ID": "<h@x.test>", "In-Reply-To": OUR_ID, "Subject": "From headers"}))
        assert (mail.message_id, mail.in_reply_to, mail.subject) == ("<h@x.test>", [OUR_ID], "From headers")

    def test_without_message_id_a_stable_one_is_made(self) -> None:
        first, second = from_payload(_payload(message_id=None)), from_payload(_payload(message_id=None))
        assert first.message_id == second.message_id
        assert first.message_id.startswith("<nomid.") and first.message_id.endswith("@inbound.invalid>")
        assert from_payload(_payload(message_id=None, text="other")).message_id != first.message_id

    def test_to_as_a_list(self) -> None:
        mail = from_payload(_payload(to=["a@x.test", "B <b@x.test>"]))
        assert mail.to == ["a@x.test", "b@x.test"]

    def test_from_is_required(self) -> None:
        with pytest.raises(ValidationError):
            InboundEmailPayload.model_validate({"subject": "no sender"})


class TestFromMessage:
    def test_parsed_message(self) -> None:
        msg = EmailMessage()
        msg["From"] = "=?utf-8?b?0JDQvdC90LA=?= <anna@example.test>"
        msg["To"] = "hello@followthrough.example.test"
        msg["Subject"] = "Re: Добро пожаловать"
        msg["Message-ID"] = "<m1@example.test>"
        msg["In-Reply-To"] = OUR_ID
        msg.set_content("Спасибо!")
        msg.add_alternative("<p>Спасибо!</p>", subtype="html")
        parsed = BytesParser(policy=policy.default).parsebytes(msg.as_bytes())
        mail = from_message(parsed)  # type: ignore[arg-type]
        assert (mail.from_address, mail.from_name) == ("anna@example.test", "Анна")
        assert mail.subject == "Re: Добро пожаловать"
        assert mail.text == "Спасибо!\n"
        assert mail.html == "<p>Спасибо!</p>\n"
        assert (mail.message_id, mail.in_reply_to, mail.references) == ("<m1@example.test>", [OUR_ID], [])

    def test_auto_submitted_header(self) -> None:
        msg = EmailMessage()
        msg["From"] = "anna@example.test"
        msg["Subject"] = "Re: Welcome"
        msg["Auto-Submitted"] = "auto-replied; owner-email=anna@example.test"
        msg.set_content("I am away.")
        mail = from_message(msg)
        assert (mail.auto_submitted, mail.auto_reason) == (True, "auto-submitted: auto-replied")


class TestVerification:
    def test_payload_headers_are_read_case_insensitively(self) -> None:
        mail = from_payload(_payload(headers={"authentication-results": "mx; dkim=pass header.d=example.test"}))
        assert mail.verified_by == "dkim header.d=example.test"

    def test_a_payload_without_the_header_is_not_verified(self) -> None:
        assert from_payload(_payload()).verified_by is None

    def test_the_relays_header_on_top_wins_over_one_the_sender_wrote(self) -> None:
        msg = EmailMessage()
        msg["Authentication-Results"] = "mx.ours.test; dkim=fail header.d=example.test; spf=fail"
        msg["From"] = "anna@example.test"
        msg["Authentication-Results"] = "mx.ours.test; dkim=pass header.d=example.test"  # forged below
        msg.set_content("Stop everything")
        assert from_message(msg).verified_by is None


class TestMessageIds:
    @pytest.mark.parametrize(("value", "expected"), [
        (None, []),
        ("<a@x>", ["<a@x>"]),
        ("a@x", ["<a@x>"]),
        ("<a@x> <b@x>\r\n <c@x>", ["<a@x>", "<b@x>", "<c@x>"]),
        (["<a@x>", "<a@x>", "<b@x>"], ["<a@x>", "<b@x>"]),
        ("not an id", []),
    ])
    def test_message_ids(self, value: object, expected: list[str]) -> None:
        assert message_ids(value) == expected  # type: ignore[arg-type]


AUTO_CASES = [
    # (headers, subject, from, reason)
    ({"Auto-Submitted": "auto-replied"}, "Re: hi", "a@x.test", "auto-submitted: auto-replied"),
    ({"Auto-Submitted": "auto-generated"}, "Re: hi", "a@x.test", "auto-submitted: auto-generated"),
    ({"auto-submitted": "Auto-Notified; x=y"}, "Re: hi", "a@x.test", "auto-submitted: auto-notified"),
    ({"Auto-Submitted": "no"}, "Re: hi", "a@x.test", None),
    ({"X-Autoreply": "yes"}, "Re: hi", "a@x.test", "x-autoreply"),
    ({"X-Autorespond": "Away"}, "Re: hi", "a@x.test", "x-autorespond"),
    ({"Precedence": "bulk"}, "Re: hi", "a@x.test", "precedence: bulk"),
    ({"Precedence": "auto_reply"}, "Re: hi", "a@x.test", "precedence: auto_reply"),
    ({"Precedence": "junk"}, "Re: hi", "a@x.test", "precedence: junk"),
    ({"Precedence": "list"}, "Re: hi", "a@x.test", None),
    ({}, "Out of Office: Welcome", "a@x.test", "subject: out of office"),
    ({}, "Automatic reply: Welcome", "a@x.test", "subject: automatic reply"),
    ({}, "Автоответ: Добро пожаловать", "a@x.test", "subject: автоответ"),
    ({}, "Автоматический ответ: Добро пожаловать", "a@x.test", "subject: автоматический ответ"),
    ({}, "Automatikus válasz: Üdvözöljük", "a@x.test", "subject: automatikus válasz"),
    ({}, "Házon kívül: Üdvözöljük", "a@x.test", "subject: házon kívül"),
    ({}, "Delivery Status Notification (Failure)", "MAILER-DAEMON@mx.test", "bounce"),
    ({}, "Re: Out of Office tomorrow?", "a@x.test", None),  # a person mentioning it
    ({}, "Re: Welcome", "a@x.test", None),
]


class TestAutoReply:
    @pytest.mark.parametrize(("headers", "subject", "sender", "reason"), AUTO_CASES)
    def test_auto_reply_reason(self, headers: dict[str, str], subject: str, sender: str,
                               reason: str | None) -> None:
        assert auto_reply_reason(headers, subject, sender) == reason
