"""Twilio webhooks: the signature is checked (constant time) before anything is parsed further.

They take no bearer key and answer 200 with an empty TwiML ``<Response/>``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from twilio.request_validator import RequestValidator

from api.deps import EngineDep, SettingsDep, TemporalDep
from api.services.inbound import handle_inbound_sms, handle_status_callback
from followthrough.errors import Forbidden
from followthrough.settings import Settings

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


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


@router.post("/twilio/sms", summary="Inbound SMS (Twilio form post, signed)")
async def twilio_inbound_sms(
    request: Request, settings: SettingsDep, engine: EngineDep, temporal: TemporalDep
) -> Response:
    form = await _verified_form(request, settings)
    await handle_inbound_sms(engine, temporal.client, form)
    return Response(EMPTY_TWIML, media_type="application/xml")


@router.post("/twilio/status", summary="Message and call status callbacks (signed)")
async def twilio_status(request: Request, settings: SettingsDep, engine: EngineDep) -> Response:
    form = await _verified_form(request, settings)
    await handle_status_callback(engine, form)
    return Response(EMPTY_TWIML, media_type="application/xml")
