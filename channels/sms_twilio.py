"""SMS through Twilio's Messages API with the real SDK (blocking, so run in a worker thread)."""

from __future__ import annotations

from twilio.base import values

from channels.base import OutboundMessage, SendReceipt
from channels.twilio_errors import call_twilio
from channels.twilio_http import TwilioChannel
from followthrough.models.vocab import Channel


class TwilioSmsChannel(TwilioChannel):
    """ChannelSender for SMS: one ``Messages.create`` per message; receipt id is the MessageSid."""

    channel = Channel.SMS


    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Send one SMS; raises Transient/Permanent/UnknownOutcome channel errors."""
        created = await call_twilio(
            self._client,
            lambda: self._client.messages.create(
                to=message.to,
                from_=self._settings.twilio_from,
                body=message.text,
                status_callback=message.status_callback or values.unset,
            ),
        )
        return SendReceipt(provider_id=str(created.sid), status=str(created.status or "queued"))
