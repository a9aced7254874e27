"""SMS channel: the real Twilio SDK against the outbox Twilio server on loopback."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import pytest

from channels.base import (
    OutboundMessage,
    PermanentChannelError,
    TransientChannelError,
    UnknownOutcomeError,
)
from channels.outbox import OutboxStore, OutboxTwilioServer
from channels.sms_twilio import TwilioSmsChannel
from channels.twilio_errors import parse_retry_after
from channels.twilio_http import build_twilio_client, rewrite_url
from followthrough.models.vocab import Channel
from followthrough.settings import Settings
from tests.channels.conftest import AUTH_TOKEN, TWILIO_FROM, edge_settings

TO = "+79161234567"
BODY_RU = "Здравствуйте! Ваш заказ №42 готов."
CALLBACK = "https://ft.example.test/webhooks/twilio/status"
SID = re.compile(r"^SM[0-9a-f]{32}$")


def make_message(**overrides: object) -> OutboundMessage:
    values: dict[str, object] = {
        "channel": Channel.SMS,
        "key": "run-1:remind:1",
        "to": TO,
        "text": BODY_RU,
        "locale": "ru",
        "status_callback": CALLBACK,
    }
    values.update(overrides)
    return OutboundMessage(**values)  # type: ignore[arg-type]


async def send_error(settings: Settings, **overrides: object) -> Exception:
    with pytest.raises((TransientChannelError, PermanentChannelError, UnknownOutcomeError)) as info:
        await TwilioSmsChannel(settings).send(make_message(**overrides))
    return info.value


class TestTwilioSmsChannel:
    async def test_cyrillic_sms_arrives_exactly_once(
        self, twilio_settings: Settings, store: OutboxStore
    ) -> None:
        receipt = await TwilioSmsChannel(twilio_settings).send(make_message())

        assert SID.match(receipt.provider_id)
        assert receipt.status == "queued"
        captures = store.list()
        assert len(captures) == 1
        got = captures[0]
        assert (got.channel, got.to, got.from_, got.text) == ("sms", TO, TWILIO_FROM, BODY_RU)
        assert got.sid == receipt.provider_id
        assert got.status_callback == CALLBACK
        assert "Authorization" not in got.headers

    async def test_no_status_callback_param_when_none(
        self, twilio_settings: Settings, store: OutboxStore
    ) -> None:
        await TwilioSmsChannel(twilio_settings).send(make_message(status_callback=None))
        assert [c.status_callback for c in store.list()] == [None]

    @pytest.mark.parametrize("code", [21211, 21610, 21614, 21408])
    async def test_4xx_codes_are_permanent(
        self, twilio_settings: Settings, twilio_server: OutboxTwilioServer, code: int
    ) -> None:
        twilio_server.fail_next.append((400, code, {}))
        error = await send_error(twilio_settings)
        assert type(error) is PermanentChannelError
        assert error.code == f"twilio_{code}"  # type: ignore[attr-defined]

    async def test_invalid_number_rejected_by_server_is_21211(
        self, twilio_settings: Settings, store: OutboxStore
    ) -> None:
        error = await send_error(twilio_settings, to="12345")
        assert type(error) is PermanentChannelError
        assert error.code == "twilio_21211"  # type: ignore[attr-defined]
        assert "not a valid phone number" in str(error)
        assert store.list() == []

    async def test_rule_by_number_fails_every_time(
        self, twilio_settings: Settings, twilio_server: OutboxTwilioServer, store: OutboxStore
    ) -> None:
        twilio_server.rules_by_to[TO] = (400, 21610)
        for _ in range(2):
            error = await send_error(twilio_settings)
            assert error.code == "twilio_21610"  # type: ignore[attr-defined]
        await TwilioSmsChannel(twilio_settings).send(make_message(to="+36201234567"))
        assert [c.to for c in store.list()] == ["+36201234567"]

    async def test_429_is_transient_with_retry_after(
        self, twilio_settings: Settings, twilio_server: OutboxTwilioServer, store: OutboxStore
    ) -> None:
        twilio_server.fail_next.append((429, 20429, {"Retry-After": "1"}))
        error = await send_error(twilio_settings)
        assert type(error) is TransientChannelError
        assert (error.code, error.retry_after) == ("twilio_20429", 1.0)
        assert store.list() == []

    async def test_503_without_code_is_transient(
        self, twilio_settings: Settings, twilio_server: OutboxTwilioServer
    ) -> None:
        twilio_server.fail_next.append((503, None, {}))
        error = await send_error(twilio_settings)
        assert type(error) is TransientChannelError
        assert (error.code, error.retry_after) == ("http_503", None)

    async def test_failure_is_consumed_once(
        self, twilio_settings: Settings, twilio_server: OutboxTwilioServer, store: OutboxStore
    ) -> None:
        twilio_server.fail_next.append((500, 20500, {}))
        channel = TwilioSmsChannel(twilio_settings)
        with pytest.raises(TransientChannelError):
            await channel.send(make_message())
        await channel.send(make_message())
        assert len(store.list()) == 1

    async def test_wrong_auth_is_permanent_20003(
        self, tmp_path: Path, twilio_server: OutboxTwilioServer, store: OutboxStore
    ) -> None:
        settings = edge_settings(
            tmp_path, twilio_api_base=twilio_server.base_url, twilio_auth_token="wrong"
        )
        error = await send_error(settings)
        assert type(error) is PermanentChannelError
        assert error.code == "twilio_20003"  # type: ignore[attr-defined]
        assert store.list() == []

    async def test_connection_refused_is_transient(self, tmp_path: Path, closed_port: int) -> None:
        settings = edge_settings(tmp_path, twilio_api_base=f"http://127.0.0.1:{closed_port}")
        error = await send_error(settings)
        assert type(error) is TransientChannelError
        assert error.code == "twilio_connect"  # type: ignore[attr-defined]

    async def test_read_timeout_is_unknown_outcome(
        self, tmp_path: Path, twilio_server: OutboxTwilioServer, store: OutboxStore
    ) -> None:
        settings = edge_settings(
            tmp_path, twilio_api_base=twilio_server.base_url, twilio_timeout=0.5
        )
        twilio_server.hold_response = threading.Event()
        try:
            error = await send_error(settings)
        finally:
            twilio_server.hold_response.set()
        assert type(error) is UnknownOutcomeError
        assert error.code == "twilio_timeout"  # type: ignore[attr-defined]
        assert [c.text for c in store.list()] == [BODY_RU]  # Twilio did create it

    async def test_send_never_blocks_the_event_loop(
        self, twilio_settings: Settings, twilio_server: OutboxTwilioServer
    ) -> None:
        """The held answer is released by a coroutine: only possible if the loop keeps running."""
        twilio_server.hold_response = threading.Event()

        async def release() -> None:
            await asyncio.sleep(0.2)
            twilio_server.hold_response.set()  # type: ignore[union-attr]

        receipt, _ = await asyncio.wait_for(
            asyncio.gather(TwilioSmsChannel(twilio_settings).send(make_message()), release()), 4
        )
        assert SID.match(receipt.provider_id)


class TestTwilioHttp:
    @pytest.mark.parametrize(
        ("url", "base", "expected"),
        [
            (
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
                "http://127.0.0.1:8026",
                "http://127.0.0.1:8026/2010-04-01/Accounts/AC1/Messages.json",
            ),
            (
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json?x=1",
                "https://proxy.test/twilio",
                "https://proxy.test/twilio/2010-04-01/Accounts/AC1/Calls.json?x=1",
            ),
            ("https://api.twilio.com/x", "", "https://api.twilio.com/x"),
            (
                "https://messaging.twilio.com/v1/x",
                "http://h:1",
                "https://messaging.twilio.com/v1/x",
            ),
        ],
    )
    def test_rewrite_url(self, url: str, base: str, expected: str) -> None:
        assert rewrite_url(url, base) == expected

    def test_client_built_from_settings(self, tmp_path: Path) -> None:
        client = build_twilio_client(edge_settings(tmp_path, twilio_timeout=7.5))
        assert client.password == AUTH_TOKEN
        assert client.http_client.timeout == 7.5

    @pytest.mark.parametrize(
        ("value", "expected"), [(None, None), ("", None), ("3", 3.0), ("soon", None)]
    )
    def test_parse_retry_after(self, value: str | None, expected: float | None) -> None:
        assert parse_retry_after(value) == expected

    def test_parse_retry_after_http_date_in_the_past(self) -> None:
        assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


class TestRedaction:
    async def test_a_twilio_error_naming_the_number_is_redacted_and_unchained(
        self, twilio_settings: Settings, twilio_server: OutboxTwilioServer
    ) -> None:
        twilio_server.rules_by_to["+15555550188"] = (400, 21211)
        error = await send_error(twilio_settings, to="+15555550188")
        assert (type(error), error.code) == (PermanentChannelError, "twilio_21211")  # type: ignore[attr-defined]
        assert str(error) == "Unable to create record: The 'To' number <redacted> is not a valid phone number."
        assert error.__cause__ is None and error.__suppress_context__
