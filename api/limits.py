"""Bounded requests: a body size limit and rate limits, as pure ASGI middleware.

Pure ASGI (not ``BaseHTTPMiddleware``) so the body limit counts the bytes as they stream in: a
``Content-Length`` that lies, or a chunked body without one, is cut off at the limit instead of
being buffered whole. Rate limits use the maintained ``limits`` library (moving window).
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Annotated

from fastapi import Path, Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import PrincipalDep
from api.errors import problem
from api.schemas.bounded import OBJECT_LIMIT
from api.schemas.common import Id
from followthrough.settings import Settings

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` once the body passes the limit. An HTTPException so FastAPI's body
    parsing lets it through instead of turning it into a 400; the middleware answers 413."""


def _too_large(limit: int) -> JSONResponse:
    return problem(413, f"The request body is larger than {limit} bytes.", code="body_too_large")


class InputLimits:
    """Answers 413 when a request body exceeds ``body_limit`` bytes, whatever its headers claim,
    and sets the size limit of free-form objects (``FT_MAX_OBJECT_BYTES``) for the schemas."""

    def __init__(self, app: ASGIApp, body_limit: int, object_limit: int) -> None:
        self.app = app
        self.limit = body_limit
        self.object_limit = object_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = OBJECT_LIMIT.set(self.object_limit)
        try:
            await self._limited(scope, receive, send)
        finally:
            OBJECT_LIMIT.reset(token)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope["headers"]).get(b"content-length")
        # More than 15 digits is more than any limit (and int() refuses 4300 digits and more).
        if declared is not None and (not declared.isdigit() or len(declared) > 15
                                     or int(declared) > self.limit):
            await _too_large(self.limit)(scope, receive, send)
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise _BodyTooLarge(413, "body too large")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's answer to a read we cut off; ours follows
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _too_large(self.limit)(scope, receive, send)


class RateLimiter:
    """Per-API-key write limits and per-contact event limits over one ``limits`` storage."""

    def __init__(self, settings: Settings) -> None:
        uri = settings.rate_limit_storage
        if not uri.startswith("async+"):
            uri = f"async+{uri}"  # the API is async: use the library's asyncio storages
        self.strategy = MovingWindowRateLimiter(storage_from_string(uri))  # type: ignore[arg-type]
        self.writes = parse(settings.rate_limit_writes)
        self.events = parse(settings.rate_limit_events)

    async def retry_after(self, item: RateLimitItem, *identifiers: str) -> int | None:
        """None when the hit is allowed (and counted); else the seconds until it would be."""
        if await self.strategy.hit(item, *identifiers):
            return None
        stats = await self.strategy.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))


def _key_id(scope: Scope) -> str | None:
    """A stable id for the request's API key (its hash: raw keys are not kept in the counters)."""
    header = dict(scope["headers"]).get(b"authorization", b"")
    scheme, _, key = header.partition(b" ")
    if scheme.lower() != b"bearer" or not key.strip():
        return None
    return hashlib.sha256(key.strip()).hexdigest()[:32]


class WriteRateLimit:
    """429 with ``Retry-After`` when an API key writes faster than ``FT_RATE_LIMIT_WRITES``.

    Requests without a key (signed Twilio webhooks, unsubscribe links) are not counted here:
    they carry no key to count by, and the API answers 401 to a write without one."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in WRITE_METHODS:
            key = _key_id(scope)
            if key is not None and (wait := await self.limiter.retry_after(
                    self.limiter.writes, "writes", key)) is not None:
                response = problem(
                    429, f"Too many writes with this API key (limit {self.limiter.writes}); "
                         f"retry in {wait} s.",
                    code="rate_limited", headers={"Retry-After": str(wait)})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def limit_contact_events(
    request: Request, contact_id: Annotated[Id, Path()],
    _principal: PrincipalDep,
) -> None:
    """Counts custom events per contact (after authentication, so strangers cannot use up a
    contact's budget); over ``FT_RATE_LIMIT_EVENTS`` it is a 429 with ``Retry-After``."""
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = await limiter.retry_after(limiter.events, "events", str(contact_id))
    if wait is not None:
        raise HTTPException(
            429, f"Too many events for contact {contact_id} (limit {limiter.events}); "
                 f"retry in {wait} s.",
            headers={"Retry-After": str(wait)})
