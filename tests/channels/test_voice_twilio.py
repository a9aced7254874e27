"""Voice channel: TwiML building and real SDK calls to the outbox Twilio server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from channels.base import OutboundMessage, PermanentChannelError, TransientChannelError
from channels.outbox import OutboxStore, OutboxTwilioServer
from channels.voice_twilio import TwilioVoiceChannel, build_twiml, say_language
from followthrough.models.vocab import Channel
from followthrough.settings import Settings
from tests.channels.conftest import TWILIO_FROM, edge_settings

XML = '<?xml version="1.0" encoding="UTF-8"?>'
TO = "+36201234567"
CALLBACK = "https://ft.example.test/webhooks/twilio/call-status"


def make_message(**overrides: object) -> OutboundMessage:
    values: dict[str, object] = {
        "channel": Channel.VOICE,
        "key": "run-7:call:1",
        "to": TO,
        "text": "Здравствуйте, Иван! Напоминаем о встрече.",
        "locale": "ru",
        "status_callback": CALLBACK,
    }
    values.update(overrides)
    return OutboundMessage(**values)  # type: ignore[arg-type]


class TestBuildTwiml:
    def test_russian_say(self) -> None:
        assert build_twiml("Здравствуйте", "ru", "Polly.Tatyana") == (
            XML + '<Response><Say language="ru-RU" voice="Polly.Tatyana">Здравствуйте</Say>'
            "</Response>"
        )

    def test_text_is_escaped(self) -> None:
        twiml = build_twiml('<Play>x</Play> & "q"', "en", "Polly.Joanna")
        assert twiml == (
            XML + '<Response><Say language="en-US" voice="Polly.Joanna">'
            '&lt;Play&gt;x&lt;/Play&gt; &amp; "q"</Say></Response>'
        )

    @pytest.mark.parametrize(
        ("locale", "language"),
        [
            ("ru", "ru-RU"),
            ("hu", "hu-HU"),
            ("en", "en-US"),
            ("en-GB", "en-GB"),
            ("pt_BR", "pt-BR"),
            ("ru-ru", "ru-RU"),
            ("zz", "zz"),  # unknown to CLDR: passed through
        ],
    )
    def test_say_language(self, locale: str, language: str) -> None:
        assert say_language(locale) == language


class TestTwilioVoiceChannel:
    async def test_call_says_russian_text(
        self, twilio_settings: Settings, store: OutboxStore
    ) -> None:
        receipt = await TwilioVoiceChannel(twilio_settings).send(make_message())

        assert re.fullmatch(r"CA[0-9a-f]{32}", receipt.provider_id)
        assert receipt.status == "queued"
        [got] = store.list()
        assert (got.channel, got.to, got.from_) == ("voice", TO, TWILIO_FROM)
        assert got.sid == receipt.provider_id
        assert got.twiml == build_twiml(make_message().text, "ru", "Polly.Tatyana")
        assert '<Say language="ru-RU" voice="Polly.Tatyana">' in (got.twiml or "")
        assert got.text == "Здравствуйте, Иван! Напоминаем о встрече."
        assert got.status_callback == CALLBACK

    async def test_hungarian_voice_from_settings(
        self, twilio_settings: Settings, store: OutboxStore
    ) -> None:
        await TwilioVoiceChannel(twilio_settings).send(
            make_message(text="Köszönjük, hogy ő", locale="hu")
        )
        [got] = store.list()
        assert got.twiml == (
            XML + '<Response><Say language="hu-HU" voice="Google.hu-HU-Standard-A">'
            "Köszönjük, hogy ő</Say></Response>"
        )

    async def test_invalid_number_is_permanent(
        self, twilio_settings: Settings, twilio_server: OutboxTwilioServer
    ) -> None:
        twilio_server.fail_next.append((400, 21211, {}))
        with pytest.raises(PermanentChannelError) as info:
            await TwilioVoiceChannel(twilio_settings).send(make_message())
        assert info.value.code == "twilio_21211"

    async def test_503_is_transient(
        self, twilio_settings: Settings, twilio_server: OutboxTwilioServer, store: OutboxStore
    ) -> None:
        twilio_server.fail_next.append((503, None, {}))
        with pytest.raises(TransientChannelError) as info:
            await TwilioVoiceChannel(twilio_settings).send(make_message())
        assert info.value.code == "http_503"
        assert store.list() == []

    async def test_connection_refused_is_transient(self, tmp_path: Path, closed_port: int) -> None:
        settings = edge_settings(tmp_path, twilio_api_base=f"http://127.0.0.1:{closed_port}")
        with pytest.raises(TransientChannelError) as info:
            await TwilioVoiceChannel(settings).send(make_message())
        assert info.value.code == "twilio_connect"
