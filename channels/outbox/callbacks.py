"""Status callbacks from the outbox Twilio server, signed as Twilio signs them."""

from __future__ import annotations

import logging
import threading
import time

import httpx
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)

API = "2010-04-01"


def status_callback_params(
    account_sid: str, sid: str, form: dict[str, str], is_sms: bool
) -> dict[str, str]:
    """The form Twilio posts for a final status: Message ``delivered`` or Call ``completed``."""
    params = {"AccountSid": account_sid, "From": form["From"], "To": form["To"], "ApiVersion": API}
    if is_sms:
        return params | {
            "MessageSid": sid,
            "SmsSid": sid,  # legacy duplicate Twilio still sends
            "MessageStatus": "delivered",
            "SmsStatus": "delivered",
        }
    return params | {
        "CallSid": sid,
        "CallStatus": "completed",
        "Direction": "outbound-api",
        "CallDuration": "1",
    }


def post_status_callback(
    url: str,
    auth_token: str,
    account_sid: str,
    sid: str,
    form: dict[str, str],
    is_sms: bool,
    *,
    delay: float = 0.0,
) -> threading.Thread:
    """POST the signed callback from a daemon thread, ``delay`` seconds from now.

    Called after the create answer was written; the delay leaves the sender time to record the
    sid, as Twilio's callbacks come later too (a receiver must still cope with either order).
    """
    params = status_callback_params(account_sid, sid, form, is_sms)
    # X-Twilio-Signature: HMAC-SHA1 of the URL + sorted params, base64 (Twilio's scheme).
    signature = RequestValidator(auth_token).compute_signature(url, params)

    def post() -> None:
        time.sleep(delay)  # a daemon thread of the dev outbox, never an event loop
        try:
            httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
        except httpx.HTTPError as exc:
            log.warning("outbox status callback to %s failed: %s", url, exc)

    thread = threading.Thread(target=post, name=f"outbox-callback-{sid}", daemon=True)
    thread.start()
    return thread
