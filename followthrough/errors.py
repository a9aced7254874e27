"""Domain errors: one base with an HTTP status and a machine code, mapped by one API handler."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldError:
    path: str  # JSON Pointer, e.g. "/steps/2/template"
    message: str


class FollowthroughError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class NotFound(FollowthroughError):
    status_code = 404
    code = "not_found"


class Conflict(FollowthroughError):
    status_code = 409
    code = "conflict"


class ValidationFailed(FollowthroughError):
    status_code = 422
    code = "validation_failed"


class UnsupportedMediaType(FollowthroughError):
    status_code = 415
    code = "unsupported_media_type"


class Forbidden(FollowthroughError):
    status_code = 403
    code = "forbidden"


class Unauthorized(FollowthroughError):
    status_code = 401
    code = "unauthorized"


class ServiceUnavailable(FollowthroughError):
    status_code = 503
    code = "unavailable"


def json_pointer(parts: Iterable[Any]) -> str:
    """A path as a JSON Pointer (RFC 6901): ("steps", 2, "a/b") -> /steps/2/a~1b; () -> ""."""
    escaped = [str(p).replace("~", "~0").replace("/", "~1") for p in parts]
    return "/" + "/".join(escaped) if escaped else ""


@dataclass
class ErrorList:
    """Collects every problem found, so validation reports all of them at once."""

    items: list[FieldError] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.items.append(FieldError(path, message))

    def __bool__(self) -> bool:
        return bool(self.items)
