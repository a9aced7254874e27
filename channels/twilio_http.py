"""The Twilio SDK's HTTP hook: point it at a Twilio-compatible endpoint and keep the last answer.

``FT_TWILIO_API_BASE`` replaces the scheme, host and port of ``https://api.twilio.com`` (the dev
outbox, a test server, a regional proxy); the SDK's own paths are kept, so the real SDK builds
and parses every request exactly as it would against Twilio.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from followthrough.settings import Settings

TWILIO_API_ORIGIN = "https://api.twilio.com"

#: A non-empty mapping without TWILIO_* keys (see build_twilio_client).
_NO_ENVIRONMENT = {"FT_TWILIO_FROM_SETTINGS_ONLY": "1"}


def rewrite_url(url: str, api_base: str) -> str:
    """Swap the ``https://api.twilio.com`` origin of ``url`` for ``api_base`` (path kept)."""
    if not api_base or not url.startswith(TWILIO_API_ORIGIN + "/"):
        return url
    base = urlsplit(api_base)
    target = urlsplit(url)
    path = base.path.rstrip("/") + target.path
    return urlunsplit((base.scheme, base.netloc, path, target.query, target.fragment))


class RewritingHttpClient(TwilioHttpClient):
    """TwilioHttpClient that sends to ``api_base`` and remembers each thread's last response.

    The SDK raises ``TwilioRestException`` without the response headers, so ``Retry-After`` on a
    429 would be lost. The SDK call runs whole in one worker thread (``asyncio.to_thread``), so a
    thread-local copy of the last response is exactly that call's answer, even with many calls
    in flight on the shared client.
    """

    def __init__(self, api_base: str = "", *, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        self.api_base = api_base
        self._local = threading.local()

    def request(self, method: str, url: str, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        self._local.response = None
        response = super().request(method, rewrite_url(url, self.api_base), *args, **kwargs)
        self._local.response = response
        return response

    def thread_last_response(self) -> Response | None:
        """The response of the last request made from the calling thread, if any."""
        return getattr(self._local, "response", None)


def build_twilio_client(settings: Settings) -> Client:
    """Build the SDK client once per process, with the URL hook and the timeout from settings."""
    http_client = RewritingHttpClient(settings.twilio_api_base, timeout=settings.twilio_timeout)
    return Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        http_client=http_client,
        # Settings are the only source of configuration: the SDK would otherwise read
        # TWILIO_REGION / TWILIO_EDGE / credentials from os.environ (and change the host we
        # rewrite). It does `environment or os.environ`, so an empty dict would not do.
        environment=_NO_ENVIRONMENT,
    )


class TwilioChannel:
    """What SMS and voice share: one SDK client, built once, and its closing."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        # Built once: the SDK client holds a pooled requests.Session.
        self._client = client or build_twilio_client(settings)

    async def aclose(self) -> None:
        """Close the SDK's pooled HTTP session (shared by SMS and voice when the client is)."""
        session = getattr(self._client.http_client, "session", None)
        if session is not None:
            session.close()
