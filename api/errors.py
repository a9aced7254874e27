"""One error shape for the whole API: RFC 9457 problem+json with a machine ``code`` and
``errors: [{path, message}]`` (path is a JSON Pointer)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from followthrough.errors import FieldError, FollowthroughError, json_pointer
from followthrough.logging import get_logger

log = get_logger("api")

PROBLEM = "application/problem+json"
_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type",
    422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
}
_TITLES[413] = "Content Too Large"
_TITLES[429] = "Too Many Requests"
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
    return json_pointer(parts[1:] if parts and parts[0] == "body" else parts)


def is_busy(exc: OperationalError) -> bool:
    """Whether the database refused for a lock held too long (SQLite "database is locked",
    PostgreSQL lock_not_available / deadlock_detected), not for a broken query."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return "database is locked" in str(exc.orig) or code in ("55P03", "40P01")


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

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> JSONResponse:
        if is_busy(exc):  # a burst of writers on SQLite: the transaction was rolled back
            return problem(503, "The database is busy (a write waited longer than its timeout); "
                           "try the request again in a moment.", code="unavailable", headers={"Retry-After": "1"})
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return problem(500, "An internal error occurred; it has been logged.", code="internal")


class ProblemFieldError(BaseModel):
    path: str = Field(description="JSON Pointer into the request, e.g. /steps/2/template")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem, as every error of this API is sent (``application/problem+json``)."""

    type: str = Field(description="Always about:blank: the status and ``code`` say what happened")
    title: str
    status: int
    detail: str
    code: str = Field(description="A machine code, e.g. validation_failed, not_found, conflict")
    errors: list[ProblemFieldError]


_WHY = {
    400: "The body cannot be parsed (e.g. it is not valid JSON)",
    401: "No API key, or one that is not valid",
    403: "The key's role may not do this",
    404: "Something the path names does not exist",
    409: "The request conflicts with the current state",
    413: "The request body is too large",
    415: "The body's content type is not accepted",
    422: "Invalid fields; ``errors`` lists each with its JSON Pointer",
    429: "Too many requests; retry after the ``Retry-After`` seconds",
    503: "A service this needs (Temporal) is not answering",
}
_HEADERS = {
    "401": {"WWW-Authenticate": {"description": "Bearer", "required": True,
                                 "schema": {"type": "string"}}},
    "429": {"Retry-After": {"description": "Seconds to wait", "required": True,
                            "schema": {"type": "integer", "minimum": 0}}},
}
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _calls(dependant: Dependant, target: Any) -> bool:
    return dependant.call is target or any(_calls(d, target) for d in dependant.dependencies)


def error_statuses(route: APIRoute, method: str, *, authenticated: bool, temporal: bool) -> list[int]:
    """The error statuses a route can answer, by what it is: every route with parameters or a
    body can be a 422; a body can be malformed (400), too large (413) or of the wrong type (415);
    a path names something that may not exist (404); a route that needs Temporal can find it
    down (503); an authenticated route can also be refused (401, 403), throttled (429) or find a
    service down (503), and an authenticated write can conflict (409). Any write that carries a
    key counts toward that key's write rate, public routes included (429)."""
    has_body = method in _WRITES
    statuses = {422} if (route.dependant.path_params or route.dependant.query_params
                         or has_body) else set()
    if route.dependant.path_params:
        statuses.add(404)
    if has_body:
        statuses |= {400, 413, 415, 429}
    if temporal:
        statuses.add(503)
    if authenticated:
        statuses |= {401, 403, 413, 415, 422, 429, 503}
        if has_body:
            statuses.add(409)
    return sorted(statuses)


def document(app: FastAPI, *, public: Collection[tuple[str, str]], temporal: Any) -> None:
    """Document every error each route can answer as a ``Problem`` under
    application/problem+json, in one place, so the OpenAPI says what the handlers above send
    (FastAPI's own default is a 422 ``HTTPValidationError`` as application/json, which we never
    send). Every route but the ``public`` ones (method, path) needs a bearer key, so it can also
    answer 401, 403, 429 and 503, and says so with the ``bearer`` security scheme; ``temporal``
    is the dependency that hands out the Temporal client (503 while Temporal is down)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        problem_ref = {"$ref": "#/components/schemas/Problem"}
        for context in iter_route_contexts(app.routes):
            if not isinstance(context.original_route, APIRoute):
                continue
            route: APIRoute = context  # type: ignore[assignment]  # delegates to the route
            operations = schema["paths"].get(route.path_format, {})
            for method in route.methods or ():
                operation = operations.get(method.lower())
                if operation is None:  # not in the schema (include_in_schema=False)
                    continue
                authenticated = (method, route.path_format) not in public
                if authenticated:
                    operation["security"] = [{"bearer": []}]
                responses = operation.setdefault("responses", {})
                # A status the route documents with a body of its own keeps it (/healthz's 503);
                # every other error, FastAPI's guessed 422 included, is a problem.
                own = {str(status) for status, doc in route.responses.items() if "content" in doc
                       or "model" in doc}
                statuses = error_statuses(route, method, authenticated=authenticated,
                                          temporal=_calls(route.dependant, temporal))
                for key in ({str(status) for status in statuses} | set(responses)) - own:
                    if key[0] in "45":
                        described = key in {str(status) for status in route.responses}
                        responses[key] = {
                            "description": responses[key]["description"] if described
                            else _WHY.get(int(key), "Error"),
                            "content": {PROBLEM: {"schema": problem_ref}},
                            **({"headers": _HEADERS[key]} if key in _HEADERS else {}),
                        }
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "An API key: the admin key, or a user's key (POST /v1/users)."}}
        components = schema["components"].setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem_schema.pop("$defs", {}))
        components["Problem"] = problem_schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
