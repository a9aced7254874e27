"""One Twilio SDK call, run off the event loop, with its failure classified (SMS and voice).

Twilio error codes: https://www.twilio.com/docs/api/errors
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import requests
import urllib3.exceptions
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.rest import Client

from channels.base import (
    ChannelError,
    PermanentChannelError,
    TransientChannelError,
    UnknownOutcomeError,
)
from channels.twilio_http import RewritingHttpClient

T = TypeVar("T")

#: Codes we expect and name; any other 4xx is permanent too (the request itself is wrong).
#: 21211 invalid 'To' number, 21610 recipient replied STOP (unsubscribed), 21614 not a mobile
#: number (SMS to a landline).
KNOWN_PERMANENT_CODES = frozenset({21211, 21610, 21614})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def classify_rest_error(
    exc: TwilioRestException | TwilioServiceException, *, retry_after: float | None = None
) -> ChannelError:
    """Map an HTTP error answer from Twilio: 429 and 5xx retry, any other 4xx is permanent."""
    status = int(exc.status)
    # The SDK substitutes the HTTP status when the body carries no Twilio code.
    has_code = exc.code is not None and exc.code != status
    code = f"twilio_{exc.code}" if has_code else f"http_{status}"
    text = str(getattr(exc, "msg", None) or getattr(exc, "title", None) or exc)
    if status == 429 or status >= 500:
        return TransientChannelError(text, code=code, retry_after=retry_after)
    return PermanentChannelError(text, code=code)


def classify_transport_error(exc: Exception) -> ChannelError:
    """Map a failure with no HTTP answer: before the request left → transient; after → unknown."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return TransientChannelError(f"Twilio unreachable: {exc}", code="twilio_connect")
    if isinstance(exc, requests.ReadTimeout):
        # The request went out; Twilio may have created the message or call.
        return UnknownOutcomeError(f"Twilio read timeout: {exc}", code="twilio_timeout")
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, urllib3.exceptions.MaxRetryError):
            reason = reason.reason
        # NewConnectionError (refused, DNS) is a ConnectTimeoutError subclass in urllib3 2.
        if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
            return TransientChannelError(f"Twilio unreachable: {exc}", code="twilio_connect")
        # Dropped after sending (RemoteDisconnected, reset): the outcome is unknown.
        return UnknownOutcomeError(f"Twilio connection lost: {exc}", code="twilio_connection_lost")
    if isinstance(exc, TwilioException):
        return TransientChannelError(f"Twilio client error: {exc}", code="twilio_client")
    return TransientChannelError(f"Twilio request failed: {exc}", code="twilio_request")


async def call_twilio(client: Client, call: Callable[[], T]) -> T:
    """Run one blocking SDK call in a worker thread (never on the loop); raise channel errors."""
    http_client = client.http_client

    def run() -> T:
        try:
            return call()
        except (TwilioRestException, TwilioServiceException) as exc:
            retry_after = None
            if isinstance(http_client, RewritingHttpClient):
                # Same thread as the request, so this is this call's response.
                response = http_client.thread_last_response()
                if response is not None:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
            # from None: the SDK's exception holds Twilio's raw text, which can name the number
            # (21211 "The 'To' number +1... is not a valid phone number.").
            raise classify_rest_error(exc, retry_after=retry_after) from None
        except (requests.RequestException, TwilioException) as exc:
            raise classify_transport_error(exc) from None

    return await asyncio.to_thread(run)
