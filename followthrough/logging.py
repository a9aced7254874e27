"""Structured logs (structlog, JSON or console) that never carry a secret."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_WORDS = ("password", "token", "api_key", "secret", "authorization")

#: Third-party loggers that put people's addresses in INFO records: aiosmtpd ("mail.log", our
#: inbound SMTP listener and the dev outbox) logs every MAIL FROM and RCPT TO address.
_CHATTY_WITH_ADDRESSES = ("mail.log",)


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if any(word in key.lower() for word in _SECRET_WORDS):
            event[key] = "***"
    return event


def configure_logging(level: str = "INFO", *, json: bool | None = None) -> None:
    if json is None:
        json = not sys.stderr.isatty()
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")
    for name in _CHATTY_WITH_ADDRESSES:
        logging.getLogger(name).setLevel(logging.WARNING)
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
