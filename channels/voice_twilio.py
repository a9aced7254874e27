"""Voice calls through Twilio's Calls API: the rendered text is spoken with <Say> (inline TwiML)."""

from __future__ import annotations

from babel.core import get_global
from twilio.base import values
from twilio.twiml.voice_response import VoiceResponse

from channels.base import OutboundMessage, SendReceipt
from channels.twilio_errors import call_twilio
from channels.twilio_http import TwilioChannel
from followthrough.models.vocab import Channel


def say_language(locale: str) -> str:
    """BCP 47 tag for <Say language>: keep a given region, else CLDR's likely one (ru → ru-RU)."""
    parts = locale.replace("_", "-").split("-")
    language = parts[0].lower()
    region = _region(parts[1:])
    if region is None:
        # CLDR likely subtags (via babel): "hu" → "hu_Latn_HU", "en" → "en_Latn_US".
        region = _region(get_global("likely_subtags").get(language, "").split("_")[1:])
    return f"{language}-{region}" if region else language


def _region(subtags: list[str]) -> str | None:
    return next((t.upper() for t in subtags if len(t) == 2 and t.isalpha()), None)


def build_twiml(text: str, locale: str, voice: str) -> str:
    """TwiML that speaks ``text`` once; VoiceResponse escapes it (XML-safe for any input)."""
    response = VoiceResponse()
    response.say(text, voice=voice, language=say_language(locale))
    return str(response)


class TwilioVoiceChannel(TwilioChannel):
    """ChannelSender for voice: one ``Calls.create`` with inline TwiML; receipt id is the CallSid."""

    channel = Channel.VOICE


    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Place one call; raises Transient/Permanent/UnknownOutcome channel errors."""
        twiml = build_twiml(message.text, message.locale, self._settings.voice_for(message.locale))
        created = await call_twilio(
            self._client,
            lambda: self._client.calls.create(
                to=message.to,
                from_=self._settings.twilio_from,
                twiml=twiml,
                status_callback=message.status_callback or values.unset,
            ),
        )
        return SendReceipt(provider_id=str(created.sid), status=str(created.status or "queued"))
