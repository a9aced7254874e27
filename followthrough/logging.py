"""One log format for the whole process: our structlog lines and every standard-library logger
(uvicorn, Temporal's SDK and the core it forwards, Alembic, aiosmtpd) go through one handler on
stderr, as JSON lines off a terminal and as readable lines on one, never with a secret."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_WORDS = ("password", "token", "api_key", "secret", "authorization")

#: Third-party loggers that put people's addresses in INFO records: aiosmtpd ("mail.log", our
#: inbound SMTP listener and the dev outbox) logs every MAIL FROM and RCPT TO address.
_CHATTY_WITH_ADDRESSES = ("mail.log",)

#: What Alembic says at INFO every time it runs, whether or not a migration runs (its plugins,
#: its dialect): said at DEBUG here ("Running upgrade a -> b" stays at INFO).
_CHATTER = {
    "alembic.runtime.migration": ("Context impl ", "Will assume "),
    "alembic.runtime.plugins": ("setup plugin ",),
}


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if any(word in key.lower() for word in _SECRET_WORDS):
            event[key] = "***"
    return event


#: Paths whose segment is a bearer secret: the signed unsubscribe link (``/u/{token}``) lets
#: whoever holds it change a contact's consent, so an access log line shows ``/u/***``.
_SECRET_PATH = re.compile(r"(/u/)[^\s?\"/]+")


def _redact_access(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if event.get("logger") == "uvicorn.access" and isinstance(event.get("event"), str):
        event["event"] = _SECRET_PATH.sub(r"\1***", event["event"])
    return event


def _core_fields(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A log forwarded from Temporal's core (followthrough/temporal.py) carries its Rust target
    and fields on the record: kept as fields, not glued into the message and the logger name."""
    core = getattr(event.get("_record"), "temporal_log", None)
    if core is not None:
        event["target"] = core.target
        for key, value in (core.fields or {}).items():
            event.setdefault(key, value)
    return event


class _Chatter(logging.Filter):
    """Demote a logger's start-up chatter to DEBUG (dropped unless DEBUG is on)."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and str(record.msg).startswith(self.prefixes):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, so configuring again replaces it instead of adding a second one. Without a stream
    of its own it writes to whatever ``sys.stderr`` is at the time (as logging's last-resort
    handler does), so a swapped stderr (a test runner's) is never left holding a closed one."""

    def __init__(self, stream: TextIO | None) -> None:
        logging.Handler.__init__(self)
        self._own = stream

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return self._own or sys.stderr


def configure_logging(level: str = "INFO", *, json: bool | None = None, stream: TextIO | None = None) -> None:
    """Route every logger of the process to ``stream`` (stderr) in one format: JSON lines when
    ``json`` (default: when the stream is not a terminal), else readable lines, coloured only
    on a terminal."""
    on_terminal = (stream or sys.stderr).isatty()
    if json is None:
        json = not on_terminal
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _core_fields,
        _redact,
        _redact_access,
    ]
    renderer: Any
    if json:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=on_terminal,
            # Plain: a rich traceback prints local variables, and with them secrets.
            exception_formatter=structlog.dev.plain_traceback,
        )
    handler = _Handler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)  # a library's warning is a line in the same format, not raw text
    for name in _CHATTY_WITH_ADDRESSES:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name, prefixes in _CHATTER.items():
        chatty = logging.getLogger(name)
        if not any(isinstance(f, _Chatter) for f in chatty.filters):
            chatty.addFilter(_Chatter(prefixes))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
