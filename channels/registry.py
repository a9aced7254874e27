"""Channel → sender lookup, built once per worker process by the composition root."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from channels.base import ChannelSender
from channels.email_smtp import SmtpEmailChannel
from followthrough.models.vocab import Channel
from followthrough.settings import Settings

if TYPE_CHECKING:
    from twilio.rest import Client


class ChannelRegistry:
    """The senders the delivery activity may use; tests build one with their own senders.

    ``deferred`` senders are built on first use (or by ``prepare``): the Twilio SDK costs a
    starting process ~0.3 s of imports, which a restarted worker spends after it polls."""

    def __init__(self, senders: Mapping[Channel, ChannelSender],
                 deferred: Mapping[Channel, Callable[[], ChannelSender]] | None = None) -> None:
        self._senders = dict(senders)
        self._deferred = dict(deferred or {})
        self._lock = threading.Lock()

    def get(self, channel: Channel) -> ChannelSender:
        """The sender for ``channel``; KeyError when none is configured."""
        sender = self._senders.get(channel)
        return sender if sender is not None else self._build(channel)

    def _build(self, channel: Channel) -> ChannelSender:
        with self._lock:  # one sender per channel even when threads ask at once
            if channel in self._senders:
                return self._senders[channel]
            if channel not in self._deferred:
                raise KeyError(f"no sender configured for channel {channel!s}")
            sender = self._senders[channel] = self._deferred[channel]()
            return sender

    def prepare(self) -> None:
        """Build every deferred sender now (blocking: the worker runs it in a thread)."""
        for channel in self._deferred:
            self.get(channel)

    def __contains__(self, channel: object) -> bool:
        return channel in self._senders or channel in self._deferred

    async def aclose(self) -> None:
        """Release every built sender's resources (pooled HTTP sessions)."""
        for sender in list(self._senders.values()):
            await sender.aclose()


def build_channels(settings: Settings) -> ChannelRegistry:
    """Email over SMTP, SMS and voice over Twilio (one SDK client, one connection pool; the
    Twilio senders are deferred, see ``ChannelRegistry``)."""
    client: list[Client] = []  # built once, by whichever Twilio sender is built first

    def twilio() -> Client:
        from channels.twilio_http import build_twilio_client

        if not client:
            client.append(build_twilio_client(settings))
        return client[0]

    def sms() -> ChannelSender:
        from channels.sms_twilio import TwilioSmsChannel

        return TwilioSmsChannel(settings, client=twilio())

    def voice() -> ChannelSender:
        from channels.voice_twilio import TwilioVoiceChannel

        return TwilioVoiceChannel(settings, client=twilio())

    return ChannelRegistry({Channel.EMAIL: SmtpEmailChannel(settings)},
                           deferred={Channel.SMS: sms, Channel.VOICE: voice})
