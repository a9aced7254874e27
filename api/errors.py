"""One error shape for the whole API: RFC 9457 problem+json with a machine ``code`` and
``errors: [{path, message}]`` (path is a JSON Pointer)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from followthrough.errors import FieldError, FollowthroughError
from followthrough.logging import get_logger

log = get_logger("api")

PROBLEM = "application/problem+json"
_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type",
    422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
}
_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
          415: "unsupported_media_type", 422: "validation_failed", 429: "rate_limited", 503: "unavailable"}


def problem(
    status: int, detail: str, *, code: str | None = None, errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code or _CODES.get(status, "error"),
        "errors": [{"path": e.path, "message": e.message} for e in errors or []],
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    """FastAPI's error location as a JSON Pointer: ("body", "steps", 2, "id") -> /steps/2/id."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    escaped = [str(p).replace("~", "~0").replace("/", "~1") for p in parts]
    return "/" + "/".join(escaped) if escaped else ""


def install(app: FastAPI) -> None:
    @app.exception_handler(FollowthroughError)
    async def _domain(_request: Request, exc: FollowthroughError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return problem(exc.status_code, exc.message, code=exc.code, errors=exc.errors, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [FieldError(pointer(e.get("loc", ())), e.get("msg", "invalid")) for e in exc.errors()]
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem(400, "The request body is not valid JSON.", code="malformed", errors=errors)
        return problem(422, "The request has invalid fields.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return problem(500, "An internal error occurred; it has been logged.", code="internal")
