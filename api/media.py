"""One rule for request bodies: a route that reads a JSON body takes only JSON.

Without it, FastAPI parses ``text/plain`` or a form post as best it can and answers 422 ("Input
should be a valid dictionary"), which says nothing about the real mistake. Installed once on the
app, after authentication: a route whose body is a JSON model answers 415 to a body of any other
media type. Form routes (the Twilio webhooks, the preference page) and routes that read the raw
body themselves (definitions in JSON or YAML) are not JSON-model routes and decide for
themselves.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.params import Form
from fastapi.routing import APIRoute

from followthrough.errors import UnsupportedMediaType


def takes_json(route: object) -> bool:
    """Whether a route's body is a JSON model (not a form, not read raw). ``route`` is the
    request's matched route, or a ``RouteContext`` from ``iter_route_contexts``."""
    if not isinstance(getattr(route, "original_route", route), APIRoute):
        return False
    if getattr(route, "body_field", None) is None:
        return False
    return not any(isinstance(p.field_info, Form) for p in route.dependant.body_params)  # type: ignore[attr-defined]


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def require_json_body(request: Request) -> None:
    """415 when a JSON route gets a body of another media type (an empty body passes: the
    route's own validation says what is missing)."""
    if not takes_json(request.scope.get("route")):
        return
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    content_type = request.headers.get("content-type", "")
    if (has_body or content_type) and not is_json(content_type):
        raise UnsupportedMediaType(
            f"Send the body as application/json, not '{content_type or 'no Content-Type'}'.")
