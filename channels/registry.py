"""Channel → sender lookup, built once per worker process by the composition root."""

from __future__ import annotations

from collections.abc import Mapping

from channels.base import ChannelSender
from channels.email_smtp import SmtpEmailChannel
from channels.sms_twilio import TwilioSmsChannel
from channels.twilio_http import build_twilio_client
from channels.voice_twilio import TwilioVoiceChannel
from followthrough.models.vocab import Channel
from followthrough.settings import Settings


class ChannelRegistry:
    """The senders the delivery activity may use; tests build one with their own senders."""

    def __init__(self, senders: Mapping[Channel, ChannelSender]) -> None:
        self._senders = dict(senders)

    def get(self, channel: Channel) -> ChannelSender:
        """The sender for ``channel``; KeyError when none is configured."""
        try:
            return self._senders[channel]
        except KeyError:
            raise KeyError(f"no sender configured for channel {channel!s}") from None

    def __contains__(self, channel: object) -> bool:
        return channel in self._senders

    async def aclose(self) -> None:
        """Release every sender's resources (pooled HTTP sessions)."""
        for sender in self._senders.values():
            await sender.aclose()


def build_channels(settings: Settings) -> ChannelRegistry:
    """Email over SMTP, SMS and voice over Twilio (one SDK client, one connection pool)."""
    twilio = build_twilio_client(settings)
    return ChannelRegistry(
        {
            Channel.EMAIL: SmtpEmailChannel(settings),
            Channel.SMS: TwilioSmsChannel(settings, client=twilio),
            Channel.VOICE: TwilioVoiceChannel(settings, client=twilio),
        }
    )
