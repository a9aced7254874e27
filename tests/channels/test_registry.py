"""The channel registry: Twilio senders built on first use, once, sharing one SDK client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from channels.base import OutboundMessage
from channels.outbox import OutboxStore, OutboxTwilioServer
from channels.registry import build_channels
from channels.sms_twilio import TwilioSmsChannel
from channels.voice_twilio import TwilioVoiceChannel
from followthrough.models.vocab import Channel
from followthrough.settings import PROJECT_ROOT
from tests.channels.conftest import edge_settings


class TestDeferredSenders:
    def test_building_the_registry_does_not_import_the_twilio_sdk(self, tmp_path: Path) -> None:
        script = (
            "import sys\n"
            "from channels.registry import build_channels\n"
            "from followthrough.settings import Settings\n"
            f"registry = build_channels(Settings(_env_file=None, data_dir={str(tmp_path)!r}))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('twilio', 'requests')))\n"
            "registry.prepare()\n"
            "print('twilio' in sys.modules)\n"
        )
        done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, check=True)
        assert done.stdout.splitlines() == ["[]", "True"]

    def test_sms_and_voice_are_built_once_on_one_sdk_client(self, tmp_path: Path) -> None:
        registry = build_channels(edge_settings(tmp_path))
        assert Channel.SMS in registry and Channel.VOICE in registry
        sms, voice = registry.get(Channel.SMS), registry.get(Channel.VOICE)
        assert type(sms) is TwilioSmsChannel and type(voice) is TwilioVoiceChannel
        assert registry.get(Channel.SMS) is sms
        assert sms._client is voice._client

    def test_a_channel_without_a_sender_is_a_key_error(self, tmp_path: Path) -> None:
        registry = build_channels(edge_settings(tmp_path))
        with pytest.raises(KeyError, match="no sender configured for channel"):
            registry.get("fax")  # type: ignore[arg-type]

    async def test_a_deferred_sender_sends(self, tmp_path: Path, store: OutboxStore,
                                          twilio_server: OutboxTwilioServer) -> None:
        registry = build_channels(edge_settings(tmp_path, twilio_api_base=twilio_server.base_url))
        message = OutboundMessage(channel=Channel.SMS, key="r:s:1", to="+36201234567", text="Szia")
        await registry.get(Channel.SMS).send(message)
        await registry.aclose()
        assert [(c.channel, c.to, c.text) for c in store.list()] == [("sms", "+36201234567", "Szia")]
