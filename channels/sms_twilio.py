"""SMS through Twilio's Messages API with the real SDK (blocking, so run in a worker thread)."""

from __future__ import annotations

from twilio.base import values
from twilio.rest import Client

from channels.base import OutboundMessage, SendReceipt
from channels.twilio_errors import call_twilio
from channels.twilio_http import build_twilio_client
from followthrough.models.vocab import Channel
from followthrough.settings import Settings


class TwilioSmsChannel:
    """ChannelSender for SMS: one ``Messages.create`` per message; receipt id is the MessageSid."""

    channel = Channel.SMS

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._from = settings.twilio_from
        # Built once: the SDK client holds a pooled requests.Session.
        self._client = client or build_twilio_client(settings)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Send one SMS; raises Transient/Permanent/UnknownOutcome channel errors."""
        created = await call_twilio(
            self._client,
            lambda: self._client.messages.create(
                to=message.to,
                from_=self._from,
                body=message.text,
                status_callback=message.status_callback or values.unset,
            ),
        )
        return SendReceipt(provider_id=str(created.sid), status=str(created.status or "queued"))

    async def aclose(self) -> None:
        """Close the SDK's pooled HTTP session (shared with voice when the client is shared)."""
        session = getattr(self._client.http_client, "session", None)
        if session is not None:
            session.close()
