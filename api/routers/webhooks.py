"""Twilio webhooks: the signature is checked (constant time) before anything is parsed further.

They take no bearer key and answer 200 with TwiML: an empty ``<Response/>``, or, for an SMS
keyword (STOP, START, HELP), ``<Response><Message>confirmation</Message></Response>``. That is
Twilio's own way to answer an inbound message; the confirmation deliberately bypasses the delivery
door's consent and policy checks, because carriers require the STOP confirmation to reach a number
that has just opted out. It is recorded on the timeline as ``keyword.reply``.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response
from twilio.request_validator import RequestValidator

from api.deps import EngineDep, RendererDep, SettingsDep, TemporalDep
from api.services.inbound import handle_inbound_sms, handle_status_callback
from followthrough.errors import Forbidden
from followthrough.settings import Settings

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses={
    403: {"description": "The X-Twilio-Signature is missing or does not match"}})
#: What Twilio gets back: TwiML, not JSON.
_TWIML = {200: {"description": "TwiML", "content": {"application/xml": {"schema": {"type": "string"}}}}}

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def message_twiml(text: str) -> str:
    """TwiML answering the inbound message with one SMS (``<Message>``)."""
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(text)}</Message></Response>'


async def _verified_form(request: Request, settings: Settings) -> dict[str, str]:
    form = {k: str(v) for k, v in (await request.form()).items()}
    # Twilio signs the full URL it called, which is our public URL, not the one we see behind
    # a proxy: rebuild it from FT_PUBLIC_BASE_URL.
    url = settings.public_base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("x-twilio-signature", "")
    validator = RequestValidator(settings.twilio_auth_token)
    if not settings.twilio_auth_token or not signature or not validator.validate(url, form, signature):
        raise Forbidden("The X-Twilio-Signature does not match this request.")
    return form


@router.post("/twilio/sms", summary="Inbound SMS (Twilio form post, signed)",
             response_class=Response, responses=_TWIML)
async def twilio_inbound_sms(
    request: Request, settings: SettingsDep, engine: EngineDep, temporal: TemporalDep,
    renderer: RendererDep,
) -> Response:
    form = await _verified_form(request, settings)
    outcome = await handle_inbound_sms(engine, temporal.client, form, renderer, settings)
    body = message_twiml(outcome.reply_text) if outcome.reply_text else EMPTY_TWIML
    return Response(body, media_type="application/xml")


@router.post("/twilio/status", summary="Message and call status callbacks (signed)",
             response_class=Response, responses=_TWIML)
async def twilio_status(request: Request, settings: SettingsDep, engine: EngineDep) -> Response:
    form = await _verified_form(request, settings)
    await handle_status_callback(engine, form)
    return Response(EMPTY_TWIML, media_type="application/xml")
