"""The dev outbox: its capture store, its SMTP and Twilio-compatible servers, run_outbox."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import aiosmtplib
import httpx
import pytest
from twilio.request_validator import RequestValidator

from channels.base import OutboundMessage
from channels.email_smtp import SmtpEmailChannel
from channels.outbox import (
    Capture,
    OutboxSmtpServer,
    OutboxStore,
    OutboxTwilioServer,
    outbox_settings,
    run_outbox,
)
from channels.registry import build_channels
from followthrough.models.vocab import Channel
from tests.channels.conftest import ACCOUNT_SID, AUTH_TOKEN, edge_settings

MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CALLS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def sms(to: str, text: str = "hi") -> Capture:
    return Capture(channel="sms", to=to, from_="+15550001111", text=text, sid="SM" + "0" * 32)


class TestOutboxStore:
    def test_file_is_jsonl_and_list_is_newest_first(self, tmp_path: Path) -> None:
        path = tmp_path / "sub" / "outbox.jsonl"
        store = OutboxStore(path)
        store.append(sms("+111", "first"))
        store.append(Capture(channel="email", to="a@x.test", from_="b@x.test", subject="Тема"))
        store.append(sms("+222", "третий"))

        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 3
        first = json.loads(lines[0])
        assert (first["channel"], first["to"], first["from"], first["text"]) == (
            "sms",
            "+111",
            "+15550001111",
            "first",
        )
        assert RFC3339_UTC.match(first["received_at"])
        assert re.fullmatch(r"[0-9a-f]{32}", first["id"])
        assert "Тема" in lines[1]  # UTF-8 as is, readable with `tail -f`

        reopened = OutboxStore(path)
        assert [c.text for c in reopened.list()] == ["третий", "", "first"]
        assert [c.to for c in reopened.list(channel="sms")] == ["+222", "+111"]
        assert [c.text for c in reopened.list(to="+111")] == ["first"]
        assert [c.text for c in reopened.list(limit=1)] == ["третий"]
        assert reopened.list()[1].subject == "Тема"

    def test_memory_mode(self) -> None:
        store = OutboxStore()
        assert store.path is None
        store.append(sms("+111"))
        store.append(sms("+222"))
        assert [c.to for c in store.list()] == ["+222", "+111"]
        store.clear()
        assert store.list() == []

    def test_missing_file_lists_nothing(self, tmp_path: Path) -> None:
        assert OutboxStore(tmp_path / "none.jsonl").list() == []

    def test_concurrent_appends_keep_lines_whole(self, tmp_path: Path) -> None:
        store = OutboxStore(tmp_path / "outbox.jsonl")

        def append_many(n: int) -> None:
            for i in range(50):
                store.append(sms(f"+{n}", "x" * 2000 + str(i)))

        threads = [threading.Thread(target=append_many, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(store.list(limit=None)) == 400
        assert len(store.list(to="+3", limit=None)) == 50


class TestOutboxSmtpServer:
    async def test_one_capture_per_recipient(
        self, smtp_server: OutboxSmtpServer, store: OutboxStore
    ) -> None:
        assert smtp_server.port > 0
        raw = "Subject: hi\r\nMessage-ID: <m1@x.test>\r\n\r\nbody\r\n"
        await aiosmtplib.send(
            raw,
            sender="from@x.test",
            recipients=["a@x.test", "b@x.test"],
            hostname="127.0.0.1",
            port=smtp_server.port,
        )
        captures = store.list()
        assert sorted(c.to for c in captures) == ["a@x.test", "b@x.test"]
        assert {(c.subject, c.text, c.html, c.message_id) for c in captures} == {
            ("hi", "body\n", None, "<m1@x.test>")
        }
        assert {c.from_ for c in captures} == {"from@x.test"}  # no From header: the envelope

    async def test_rejected_recipient_is_not_captured(
        self, smtp_server: OutboxSmtpServer, store: OutboxStore
    ) -> None:
        smtp_server.reject_rcpt["b@x.test"] = "550 5.1.1 No such user"
        refused, _ = await aiosmtplib.send(
            "Subject: hi\r\n\r\nbody\r\n",
            sender="from@x.test",
            recipients=["a@x.test", "b@x.test"],
            hostname="127.0.0.1",
            port=smtp_server.port,
        )
        assert {k: (v.code, v.message) for k, v in refused.items()} == {
            "b@x.test": (550, "5.1.1 No such user")
        }
        assert [c.to for c in store.list()] == ["a@x.test"]

    def test_stop_frees_the_port(self, store: OutboxStore) -> None:
        server = OutboxSmtpServer(store)
        server.start()
        port = server.port
        server.stop()
        again = OutboxSmtpServer(store, port=port)
        again.start()  # would raise if the port were still bound
        again.stop()


class TestOutboxTwilioServer:
    AUTH = (ACCOUNT_SID, AUTH_TOKEN)

    def post(
        self,
        server: OutboxTwilioServer,
        path: str,
        data: dict[str, str],
        auth: tuple[str, str] | None = AUTH,
    ) -> httpx.Response:
        return httpx.post(server.base_url + path, data=data, auth=auth, timeout=5)

    def test_message_json_shape(self, twilio_server: OutboxTwilioServer) -> None:
        body = "Ж" * 71  # UCS-2: two segments
        response = self.post(
            twilio_server, MESSAGES, {"To": "+79161234567", "From": "+1555", "Body": body}
        )
        assert response.status_code == 201
        data = response.json()
        assert re.fullmatch(r"SM[0-9a-f]{32}", data["sid"])
        assert (data["status"], data["to"], data["from"], data["body"]) == (
            "queued",
            "+79161234567",
            "+1555",
            body,
        )
        assert (data["num_segments"], data["account_sid"]) == ("2", ACCOUNT_SID)
        assert data["uri"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{data['sid']}.json"
        assert data["date_created"].endswith(" GMT")  # RFC 2822, as Twilio sends

    @pytest.mark.parametrize(
        ("auth", "path", "status", "code"),
        [
            ((ACCOUNT_SID, "wrong"), MESSAGES, 401, 20003),
            (None, MESSAGES, 401, 20003),
            (AUTH, "/2010-04-01/Accounts/AC999/Messages.json", 404, 20404),
            (AUTH, "/2010-04-01/Accounts/" + ACCOUNT_SID + "/Nope.json", 404, 20404),
        ],
    )
    def test_auth_and_routing_errors(
        self,
        twilio_server: OutboxTwilioServer,
        store: OutboxStore,
        auth: tuple[str, str] | None,
        path: str,
        status: int,
        code: int,
    ) -> None:
        response = self.post(
            twilio_server, path, {"To": "+79161234567", "From": "+1", "Body": "x"}, auth
        )
        assert response.status_code == status
        assert response.json() == {
            "code": code,
            "message": response.json()["message"],
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        assert store.list() == []

    @pytest.mark.parametrize(
        ("path", "form", "code"),
        [
            (MESSAGES, {"From": "+1", "Body": "x"}, 21604),
            (MESSAGES, {"To": "0612", "From": "+1", "Body": "x"}, 21211),
            (MESSAGES, {"To": "+36201234567", "Body": "x"}, 21603),
            (MESSAGES, {"To": "+36201234567", "From": "+1"}, 21602),
            (CALLS, {"To": "+36201234567", "From": "+1"}, 21205),
        ],
    )
    def test_validation_errors(
        self, twilio_server: OutboxTwilioServer, path: str, form: dict[str, str], code: int
    ) -> None:
        response = self.post(twilio_server, path, form)
        assert (response.status_code, response.json()["code"]) == (400, code)

    def test_fail_next_sends_headers_and_is_popped(self, twilio_server: OutboxTwilioServer) -> None:
        twilio_server.fail_next.append((429, 20429, {"Retry-After": "3"}))
        form = {"To": "+36201234567", "From": "+1", "Body": "x"}
        first = self.post(twilio_server, MESSAGES, form)
        assert (first.status_code, first.headers["Retry-After"], first.json()["code"]) == (
            429,
            "3",
            20429,
        )
        assert self.post(twilio_server, MESSAGES, form).status_code == 201

    def test_failure_without_code(self, twilio_server: OutboxTwilioServer) -> None:
        twilio_server.fail_next.append((503, None, {}))
        response = self.post(
            twilio_server, MESSAGES, {"To": "+36201234567", "From": "+1", "Body": "x"}
        )
        assert response.status_code == 503
        assert "code" not in response.json()

    def test_signed_status_callback(self, twilio_server: OutboxTwilioServer) -> None:
        received: list[tuple[str, dict[str, str], str]] = []
        arrived = threading.Event()

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's hook name
                raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
                params = {k: v[0] for k, v in parse_qs(raw).items()}
                received.append((self.path, params, self.headers["X-Twilio-Signature"]))
                self.send_response(204)
                self.end_headers()
                arrived.set()

            def log_message(self, *args: object) -> None:
                pass

        receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(
            target=receiver.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        callback = f"http://127.0.0.1:{receiver.server_address[1]}/webhooks/twilio/status?run=7"
        twilio_server.send_status_callbacks = True
        twilio_server.status_callback_delay = 0.0
        try:
            created = self.post(
                twilio_server,
                MESSAGES,
                {"To": "+36201234567", "From": "+1555", "Body": "x", "StatusCallback": callback},
            ).json()
            assert arrived.wait(5)
        finally:
            receiver.shutdown()
            receiver.server_close()

        [(path, params, signature)] = received
        assert path == "/webhooks/twilio/status?run=7"
        assert (params["MessageSid"], params["MessageStatus"], params["AccountSid"]) == (
            created["sid"],
            "delivered",
            ACCOUNT_SID,
        )
        assert RequestValidator(AUTH_TOKEN).validate(callback, params, signature)
        assert not RequestValidator("other-token").validate(callback, params, signature)

    def test_no_callback_by_default(self, twilio_server: OutboxTwilioServer) -> None:
        assert twilio_server.send_status_callbacks is False


class TestRunOutbox:
    async def test_channels_send_through_run_outbox(self, tmp_path: Path, closed_port: int) -> None:
        settings = edge_settings(tmp_path, outbox_smtp_port=0, outbox_twilio_port=0)
        handle = await run_outbox(settings, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
        try:
            pointed = outbox_settings(settings, handle)
            assert pointed.twilio_api_base == handle.twilio.base_url
            channels = build_channels(pointed)
            for channel, to in [
                (Channel.EMAIL, "olga@example.test"),
                (Channel.SMS, "+36201234567"),
                (Channel.VOICE, "+36201234568"),
            ]:
                message = OutboundMessage(
                    channel=channel, key=f"r:{channel}:1", to=to, text="Привет", subject="Тема"
                )
                await channels.get(channel).send(message)
            await channels.aclose()
        finally:
            await handle.aclose()

        captures = OutboxStore(settings.outbox_file).list()
        assert [(c.channel, c.to, c.text) for c in captures] == [
            ("voice", "+36201234568", "Привет"),
            ("sms", "+36201234567", "Привет"),
            ("email", "olga@example.test", "Привет\n"),
        ]

    async def test_empty_smtp_host_means_the_outbox(self, tmp_path: Path) -> None:
        settings = edge_settings(tmp_path, smtp_host="", outbox_smtp_port=0, outbox_twilio_port=0)
        handle = await run_outbox(settings, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
        try:
            dev = settings.model_copy(update={"outbox_smtp_port": handle.smtp.port})
            message = OutboundMessage(channel=Channel.EMAIL, key="k:1:1", to="a@x.test", text="x")
            await SmtpEmailChannel(dev).send(message)
        finally:
            await handle.aclose()
        assert [c.to for c in handle.store.list()] == ["a@x.test"]


class TestCaptureFile:
    def test_the_capture_file_is_0600_in_a_0700_directory(self, tmp_path: Path) -> None:
        import stat

        OutboxStore(tmp_path / "data" / "outbox.jsonl")
        modes = [stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "data", tmp_path / "data" / "outbox.jsonl")]
        assert modes == [0o700, 0o600]
