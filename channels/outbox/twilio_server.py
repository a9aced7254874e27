"""The outbox Twilio server: enough of the 2010-04-01 REST API for the real SDK to talk to.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` and ``.../Calls.json`` with HTTP basic
auth, form-encoded parameters, Twilio-shaped JSON answers and Twilio-shaped errors
(``{"code", "message", "more_info", "status"}``). Served by the stdlib ThreadingHTTPServer in a
background thread, because the SDK is blocking and must never share a loop with the server.
"""

from __future__ import annotations

import base64
import hmac
import logging
import re
import secrets
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from channels.outbox.callbacks import post_status_callback
from channels.outbox.http import FormServer, OutboxApp
from channels.outbox.store import Capture, OutboxStore
from followthrough.sms_encoding import sms_info

log = logging.getLogger(__name__)

API = "2010-04-01"
_PATH = re.compile(rf"^/{API}/Accounts/(?P<sid>[^/]+)/(?P<kind>Messages|Calls)\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")  # ITU-T E.164: at most 15 digits

#: Texts of the Twilio error codes the outbox produces (https://www.twilio.com/docs/api/errors).
#: ``{to}`` is the request's number: Twilio echoes it in some texts (21211, 21614), which is why
#: the channel edge redacts provider text.
ERROR_TEXTS: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21205: "Url parameter is required",
    21211: "The 'To' number {to} is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number {to} is not a valid mobile number",
}

Failure = tuple[int, int | None, dict[str, str]]  # HTTP status, Twilio code, extra headers


class OutboxTwilioServer(OutboxApp):
    """Twilio-compatible sink on ``host:port`` (port 0: a free port; see ``.port``, ``.base_url``).

    Test hooks (public attributes, read per request):

    - ``fail_next``: ``(http_status, twilio_code | None, headers)`` popped per authenticated
      request, e.g. ``(429, 20429, {"Retry-After": "1"})``, ``(400, 21211, {})``, ``(503, None, {})``.
    - ``rules_by_to``: number → ``(http_status, twilio_code)``, a failure on every request to it.
    - ``hold_response``: while this ``threading.Event`` is unset, the answer waits (the message
      or call is already captured, as Twilio would have created it).
    - ``send_status_callbacks``: POST a signed ``delivered``/``completed`` callback to
      ``StatusCallback`` after each success (background thread, errors logged).
    """

    def __init__(
        self,
        store: OutboxStore,
        host: str = "127.0.0.1",
        port: int = 0,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "outbox-token",
    ) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.fail_next: list[Failure] = []
        self.rules_by_to: dict[str, tuple[int, int | None]] = {}
        self.hold_response: threading.Event | None = None
        self.send_status_callbacks = False
        self.status_callback_delay = 0.2
        self._httpd: FormServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def base_url(self) -> str:
        """Value for ``FT_TWILIO_API_BASE``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Bind and serve in a background thread."""
        self._stopped.clear()
        self._httpd = FormServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() waits for the loop to notice
            name=f"outbox-twilio-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; held answers are released."""
        self._stopped.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.close_connections()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # request handling (server threads) -------------------------------------------------------

    def handle(
        self, path: str, authorization: str, form: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one POST: (HTTP status, JSON body, extra headers). Runs in a server thread."""
        if not self._authorized(authorization):
            return _error(401, 20003)
        match = _PATH.match(path)
        if match is None or match["sid"] != self.account_sid:
            return _error(404, 20404)
        if self.fail_next:
            status, code, extra = self.fail_next.pop(0)
            return _error(status, code, extra)
        to = form.get("To", "")
        if to in self.rules_by_to:
            return _error(*self.rules_by_to[to], to=to)
        kind = match["kind"]
        invalid = _validate(kind, form)
        if invalid is not None:
            return _error(400, invalid, to=to)
        body = self._create(kind, form, headers)
        self._hold()
        return 201, body, {}

    def not_found(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Any other route or method: Twilio's 20404."""
        return _error(404, 20404)

    def after_success(self, body: dict[str, Any], form: dict[str, str]) -> None:
        """Once the create answer is written: the optional status callback."""
        callback = form.get("StatusCallback")
        if callback and self.send_status_callbacks:
            is_sms = str(body["sid"]).startswith("SM")
            post_status_callback(
                callback,
                self.auth_token,
                self.account_sid,
                body["sid"],
                form,
                is_sms,
                delay=self.status_callback_delay,
            )

    def _authorized(self, authorization: str) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        # Constant-time comparison: the header is a credential.
        return hmac.compare_digest(authorization.encode(), f"Basic {expected}".encode())

    def _create(self, kind: str, form: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        is_sms = kind == "Messages"
        sid = ("SM" if is_sms else "CA") + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC), usegmt=True)  # Twilio dates are RFC 2822
        callback = form.get("StatusCallback")
        twiml = None if is_sms else form.get("Twiml")
        self.store.append(
            Capture(
                channel="sms" if is_sms else "voice",
                to=form["To"],
                from_=form["From"],
                text=form.get("Body", "") if is_sms else spoken_text(twiml or ""),
                sid=sid,
                twiml=twiml,
                status_callback=callback,
                headers=headers,
                status="queued",
            )
        )
        common: dict[str, Any] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form["To"],
            "from": form["From"],
            "status": "queued",
            "direction": "outbound-api",
            "api_version": API,
            "date_created": now,
            "date_updated": now,
            "price": None,
            "price_unit": "USD",
            "uri": f"/{API}/Accounts/{self.account_sid}/{kind}/{sid}.json",
            "subresource_uris": {},
        }
        if not is_sms:
            return common | {"start_time": None, "end_time": None, "duration": None}
        body = form.get("Body", "")
        return common | {
            "body": body,
            "num_segments": str(sms_info(body).segments),
            "num_media": "0",
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": None,
        }

    def _hold(self) -> None:
        hold = self.hold_response
        while hold is not None and not hold.wait(0.05) and not self._stopped.is_set():
            pass


def spoken_text(twiml: str) -> str:
    """What a call would say: the text of every <Say> (for the outbox listing and tests)."""
    try:
        root = ET.fromstring(twiml)  # our own loopback callers' TwiML, not untrusted input
    except ET.ParseError:
        return ""
    return "\n".join(say.text or "" for say in root.iter("Say"))


def _validate(kind: str, form: dict[str, str]) -> int | None:
    """The first Twilio validation code this request would get, if any."""
    if not form.get("To"):
        return 21604
    if not _E164.match(form["To"]):
        return 21211
    if not form.get("From"):
        return 21603
    if kind == "Messages" and not form.get("Body"):
        return 21602
    if kind == "Calls" and not (form.get("Twiml") or form.get("Url")):
        return 21205
    return None


def _error(
    status: int, code: int | None, headers: dict[str, str] | None = None, *, to: str = ""
) -> tuple[int, dict[str, Any], dict[str, str]]:
    text = ERROR_TEXTS.get(code or 0, "Error").replace("{to}", to).replace("  ", " ")
    body: dict[str, Any] = {"message": text, "status": status}
    if code is not None:
        body |= {"code": code, "more_info": f"https://www.twilio.com/docs/errors/{code}"}
    return status, body, dict(headers or {})
