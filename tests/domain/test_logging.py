"""configure_logging: no person's address in our process's logs from third-party loggers."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import aiosmtplib
import pytest
import structlog

from channels.outbox import OutboxSmtpServer, OutboxStore
from followthrough.logging import configure_logging


@pytest.fixture
def configured() -> Iterator[None]:
    mail_log = logging.getLogger("mail.log")
    before = mail_log.level
    configure_logging("DEBUG", json=True)
    yield
    mail_log.setLevel(before)
    structlog.reset_defaults()


async def test_the_smtp_server_does_not_log_addresses(
    configured: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = OutboxSmtpServer(OutboxStore(), "127.0.0.1", 0)
    server.start()
    try:
        await aiosmtplib.send("Subject: hi\r\n\r\nhello\r\n", sender="from.person@example.test",
                              recipients=["to.person@example.test"], hostname="127.0.0.1",
                              port=server.port, start_tls=False)
    finally:
        server.stop()
    text = caplog.text
    assert "from.person@example.test" not in text and "to.person@example.test" not in text
