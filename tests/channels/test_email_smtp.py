"""Email channel: the pure MIME builder, and real aiosmtplib sends to the outbox SMTP server."""

from __future__ import annotations

import asyncio
import email
import email.utils
import re
import socket
import threading
import time
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest
from aiosmtplib.email import flatten_message

from channels.base import (
    Attachment,
    OutboundMessage,
    PermanentChannelError,
    TransientChannelError,
    UnknownOutcomeError,
)
from channels.email_smtp import SmtpEmailChannel, build_email, mail_domain
from channels.outbox import OutboxSmtpServer, OutboxStore
from followthrough.models.vocab import Channel
from followthrough.settings import Settings
from tests.channels.conftest import MAIL_FROM, edge_settings

KEY = "run-42:welcome:1"
MESSAGE_ID = "<ft.run-42.welcome.1@ft.example.test>"
SUBJECT_RU = "Добро пожаловать, Иван! Ваш заказ №42"
TEXT_RU = "Здравствуйте, Иван!\nСпасибо за заказ."
HTML_RU = "<p>Здравствуйте, <b>Иван</b>!</p>"


def make_message(**overrides: object) -> OutboundMessage:
    values: dict[str, object] = {
        "channel": Channel.EMAIL,
        "key": KEY,
        "to": "ivan@example.test",
        "text": TEXT_RU,
        "subject": SUBJECT_RU,
        "html": HTML_RU,
        "locale": "ru",
    }
    values.update(overrides)
    return OutboundMessage(**values)  # type: ignore[arg-type]


class TestBuildEmail:
    NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

    def build(self, **overrides: object) -> email.message.EmailMessage:
        return build_email(make_message(**overrides), MAIL_FROM, "ft.example.test", now=self.NOW)

    @pytest.mark.parametrize("overrides", [
        {},
        {"html": None, "subject": "Köszönjük a rendelését, Ödön!", "text": "Árvíztűrő tükörfúrógép " * 20},
        {"headers": {"List-Unsubscribe": "<https://ft.example.test/u/abc>", "List-Unsubscribe-Post":
                     "List-Unsubscribe=One-Click", "Reply-To": "Ирина <irina@example.test>",
                     "References": "<a@x.test> " * 12, "X-Tag": "tab\there"}},
        {"attachments": (Attachment(content=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", content_type="text/calendar",
                                    filename="invite.ics", params={"method": "REQUEST"}),)},
    ], ids=["russian", "hungarian-text-only", "headers", "invitation"])
    def test_the_fast_headers_make_the_same_bytes_as_policy_default(self, overrides: dict[str, object]) -> None:
        """The builder's shortcuts (header classes made once, short ASCII headers set as they
        are) change nothing on the wire: the same message built the plain ``policy.default`` way
        flattens to the same bytes (MIME boundaries aside)."""
        message = make_message(**overrides)
        plain = email.message.EmailMessage()
        plain["From"], plain["To"] = MAIL_FROM, message.to
        ours = self.build(**overrides)
        plain.set_raw("Subject", dict(ours.raw_items())["Subject"])  # folded by Header in both
        plain["Date"], plain["Message-ID"] = email.utils.format_datetime(self.NOW), MESSAGE_ID
        for name, value in message.headers.items():
            plain[name] = value
        plain.set_content(message.text)
        if message.html is not None:
            plain.add_alternative(message.html, subtype="html")
        for a in message.attachments:
            plain.add_attachment(a.content, maintype="text", subtype="calendar", filename=a.filename,
                                 params=dict(a.params))
        boundary = re.compile(rb"=+\d+==")
        assert boundary.sub(b"B", flatten_message(ours)) == boundary.sub(b"B", flatten_message(plain))
        assert type(ours["To"]) is type(self.build(**overrides)["To"])  # one class per header name

    def test_multipart_alternative_text_then_html(self) -> None:
        msg = self.build()
        assert msg.get_content_type() == "multipart/alternative"
        parts = list(msg.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
        assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
        assert parts[0].get_content() == TEXT_RU + "\n"
        assert parts[1].get_content() == HTML_RU + "\n"

    def test_text_only_without_html(self) -> None:
        msg = self.build(html=None)
        assert msg.get_content_type() == "text/plain"
        assert not msg.is_multipart()
        assert msg.get_content() == TEXT_RU + "\n"

    def test_headers(self) -> None:
        msg = self.build()
        assert msg["Message-ID"] == MESSAGE_ID
        assert msg["Date"] == "Mon, 02 Mar 2026 09:30:00 +0000"
        assert msg["From"] == MAIL_FROM
        assert msg["To"] == "ivan@example.test"

    @pytest.mark.parametrize(
        "subject",
        [
            SUBJECT_RU,
            "Köszönjük, hogy ő és ű",
            "Напоминание: встреча с менеджером Ольгой Петровой завтра в 10:00 (по Москве)",
            "Plain ASCII subject that is long enough to be folded by the generator, surely",
        ],
    )
    def test_subject_is_rfc2047_encoded_and_round_trips(self, subject: str) -> None:
        raw = self.build(subject=subject).as_bytes()
        header_block = raw.split(b"\n\n", 1)[0]
        assert header_block.isascii()  # RFC 2047 encoded words, nothing 8-bit in headers
        parsed = email.message_from_bytes(raw, policy=policy.default)
        assert parsed["Subject"] == subject

    def test_extra_headers_replace_not_duplicate(self) -> None:
        msg = self.build(
            headers={
                "List-Unsubscribe": "<https://x.test/u/1>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",  # RFC 8058
                "To": "other@example.test",
            }
        )
        assert msg.get_all("List-Unsubscribe") == ["<https://x.test/u/1>"]
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg.get_all("To") == ["other@example.test"]

    @pytest.mark.parametrize("name", ["Message-ID", "content-type", "MIME-Version"])
    def test_owned_headers_cannot_be_overridden(self, name: str) -> None:
        with pytest.raises(ValueError, match="set by the email channel"):
            self.build(headers={name: "x"})

    @pytest.mark.parametrize("subject", ["two\nlines", "Строка\r\nдве"])
    def test_multi_line_subject_is_rejected(self, subject: str) -> None:
        with pytest.raises(ValueError, match="single line"):
            self.build(subject=subject)

    def test_same_key_same_message_id(self) -> None:
        assert self.build()["Message-ID"] == self.build(text="changed")["Message-ID"]

    def test_mail_domain(self) -> None:
        assert mail_domain("Followthrough <noreply@ft.example.test>") == "ft.example.test"
        with pytest.raises(ValueError, match="no domain"):
            mail_domain("nobody")


class TestSmtpEmailChannel:
    async def test_multipart_russian_arrives_and_decodes_exactly(
        self, smtp_settings: Settings, store: OutboxStore
    ) -> None:
        receipt = await SmtpEmailChannel(smtp_settings).send(make_message())

        assert receipt.provider_id == MESSAGE_ID
        assert receipt.status == "250 2.0.0 OK: message accepted"
        captures = store.list()
        assert len(captures) == 1
        got = captures[0]
        assert (got.channel, got.to, got.from_) == ("email", "ivan@example.test", MAIL_FROM)
        assert got.subject == SUBJECT_RU
        assert got.text == TEXT_RU + "\n"  # set_content ends the part with a line break
        assert got.html == HTML_RU + "\n"
        assert got.message_id == MESSAGE_ID
        assert got.headers["Content-Type"].startswith("multipart/alternative;")

    async def test_an_invitation_arrives_as_a_calendar_part(self, smtp_settings: Settings, store: OutboxStore) -> None:
        ics = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nSUMMARY:\xd0\x97\xd0\xb2\xd0\xbe\xd0\xbd\xd0\xbe\xd0\xba\r\nEND:VCALENDAR\r\n"
        invite = Attachment("invite.ics", "text/calendar", ics, {"method": "REQUEST", "charset": "utf-8"})
        await SmtpEmailChannel(smtp_settings).send(make_message(attachments=(invite,)))
        [got] = store.list()
        assert got.headers["Content-Type"].startswith("multipart/mixed;")
        assert (got.text, got.html) == (TEXT_RU + "\n", HTML_RU + "\n")  # the body is unchanged
        [part] = got.attachments
        assert part["filename"] == "invite.ics"
        assert part["content_type"] == 'text/calendar; method="REQUEST"; charset="utf-8"'
        assert part["content"] == "BEGIN:VCALENDAR\nMETHOD:REQUEST\nSUMMARY:Звонок\nEND:VCALENDAR\n"

    async def test_hungarian_text_only(self, smtp_settings: Settings, store: OutboxStore) -> None:
        await SmtpEmailChannel(smtp_settings).send(
            make_message(subject="Köszönjük, hogy ő", text="Üdvözöljük: ő ű á", html=None)
        )
        [got] = store.list()
        assert (got.subject, got.text, got.html) == (
            "Köszönjük, hogy ő",
            "Üdvözöljük: ő ű á\n",
            None,
        )

    async def test_this_hosts_name_is_looked_up_once_not_per_message(
        self, smtp_settings: Settings, store: OutboxStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The EHLO name: aiosmtplib would ask the resolver on every connection."""
        import channels.email_smtp as module

        asked: list[int] = []

        def getfqdn() -> str:
            asked.append(1)
            return "worker-1.example.test"

        monkeypatch.setattr(module.socket, "getfqdn", getfqdn)
        channel = SmtpEmailChannel(smtp_settings)
        for n in range(3):
            await channel.send(make_message(key=f"ehlo-{n}"))
        assert (len(store.list()), len(asked)) == (3, 1)

    async def test_451_is_transient(
        self, smtp_settings: Settings, smtp_server: OutboxSmtpServer, store: OutboxStore
    ) -> None:
        smtp_server.fail_next.append("451 4.3.0 Try again later")
        with pytest.raises(TransientChannelError) as info:
            await SmtpEmailChannel(smtp_settings).send(make_message())
        assert info.value.code == "smtp_451"
        assert info.value.retry_after is None
        assert store.list() == []

    async def test_550_is_permanent(
        self, smtp_settings: Settings, smtp_server: OutboxSmtpServer, store: OutboxStore
    ) -> None:
        smtp_server.fail_next.append("550 5.1.1 No such user")
        with pytest.raises(PermanentChannelError) as info:
            await SmtpEmailChannel(smtp_settings).send(make_message())
        assert info.value.code == "smtp_550"
        assert "No such user" in str(info.value)
        assert store.list() == []

    async def test_fail_next_is_consumed_once(
        self, smtp_settings: Settings, smtp_server: OutboxSmtpServer, store: OutboxStore
    ) -> None:
        smtp_server.fail_next.append("451 4.3.0 Try again later")
        channel = SmtpEmailChannel(smtp_settings)
        with pytest.raises(TransientChannelError):
            await channel.send(make_message())
        await channel.send(make_message())
        assert len(store.list()) == 1
        assert smtp_server.fail_next == []

    @pytest.mark.parametrize(
        ("reply", "error", "code"),
        [
            ("550 5.1.1 No such user", PermanentChannelError, "smtp_550"),
            ("450 4.2.1 Mailbox busy", TransientChannelError, "smtp_450"),
        ],
    )
    async def test_refused_recipient(
        self,
        smtp_settings: Settings,
        smtp_server: OutboxSmtpServer,
        store: OutboxStore,
        reply: str,
        error: type[Exception],
        code: str,
    ) -> None:
        smtp_server.reject_rcpt["ivan@example.test"] = reply
        with pytest.raises(error) as info:
            await SmtpEmailChannel(smtp_settings).send(make_message())
        assert info.value.code == code  # type: ignore[attr-defined]
        assert store.list() == []

    async def test_unsendable_message_is_permanent(
        self, smtp_settings: Settings, store: OutboxStore
    ) -> None:
        with pytest.raises(PermanentChannelError) as info:
            await SmtpEmailChannel(smtp_settings).send(make_message(subject="a\nb"))
        assert info.value.code == "email_invalid"
        assert store.list() == []

    async def test_connection_refused_is_transient(self, tmp_path: Path, closed_port: int) -> None:
        settings = edge_settings(tmp_path, smtp_port=closed_port)
        with pytest.raises(TransientChannelError) as info:
            await SmtpEmailChannel(settings).send(make_message())
        assert info.value.code == "smtp_connect"

    async def test_lost_reply_to_data_is_unknown_outcome(
        self, tmp_path: Path, smtp_server: OutboxSmtpServer, store: OutboxStore
    ) -> None:
        settings = edge_settings(tmp_path, smtp_port=smtp_server.port, smtp_timeout=0.5)
        smtp_server.hold_data = threading.Event()
        try:
            with pytest.raises(UnknownOutcomeError) as info:
                await SmtpEmailChannel(settings).send(make_message())
        finally:
            smtp_server.hold_data.set()
        assert info.value.code == "smtp_unknown"
        # The server did receive it: exactly why the ledger must say "uncertain", not "failed".
        assert [c.message_id for c in store.list()] == [MESSAGE_ID]

    async def test_timeout_before_data_is_transient(self, tmp_path: Path) -> None:
        """A server that accepts the connection but never greets: nothing was sent."""
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            port = silent.getsockname()[1]
            settings = edge_settings(tmp_path, smtp_port=port, smtp_timeout=0.3)
            with pytest.raises(TransientChannelError) as info:
                await SmtpEmailChannel(settings).send(make_message())
        assert info.value.code == "smtp_connect"

    async def test_a_server_slow_at_every_command_is_cut_off_at_the_whole_sessions_timeout(
        self, tmp_path: Path
    ) -> None:
        """Each reply comes within the timeout (0.4 s of 1 s), the session would not (greeting,
        EHLO, MAIL, RCPT: 1.6 s): the whole session is bounded, before DATA, so nothing was sent."""
        lines: list[bytes] = []

        async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(0.4)
            writer.write(b"220 slow.example.test ESMTP\r\n")
            while line := await reader.readline():
                lines.append(line.split(b" ")[0].split(b":")[0].strip().upper())
                await asyncio.sleep(0.4)
                writer.write(b"250 OK\r\n")
            writer.close()

        server = await asyncio.start_server(slow, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        settings = edge_settings(tmp_path, smtp_port=port, smtp_timeout=1.0)
        started = time.monotonic()
        async with server:
            with pytest.raises(TransientChannelError) as info:
                await SmtpEmailChannel(settings).send(make_message())
        took = time.monotonic() - started
        assert (info.value.code, str(info.value)) == ("smtp_io", "SMTP session timed out before DATA")
        assert b"DATA" not in lines
        assert 1.0 <= took < 1.3


class TestRedaction:
    """The channel edge returns our code and the provider's text without the address, and
    keeps the provider's exception (which holds the raw text) out of the error's chain."""

    @pytest.mark.parametrize(("reply", "error", "text"), [
        ("550 5.1.1 <ivan@example.test>: user unknown", PermanentChannelError,
         "SMTP 550 5.1.1 <redacted>: user unknown"),
        ("450 4.2.1 ivan@example.test mailbox busy", TransientChannelError,
         "SMTP 450 4.2.1 <redacted> mailbox busy"),
    ])
    async def test_refusal_text_is_redacted_and_unchained(
        self, smtp_settings: Settings, smtp_server: OutboxSmtpServer, reply: str,
        error: type[Exception], text: str,
    ) -> None:
        smtp_server.reject_rcpt["ivan@example.test"] = reply
        with pytest.raises(error) as info:
            await SmtpEmailChannel(smtp_settings).send(make_message())
        assert str(info.value) == text
        assert info.value.__cause__ is None and info.value.__suppress_context__
