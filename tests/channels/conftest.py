"""Channel fixtures: the outbox servers on loopback (port 0) as the real network edge, and
settings that point the real aiosmtplib and Twilio SDK at them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from channels.outbox import OutboxSmtpServer, OutboxStore, OutboxTwilioServer
from followthrough.settings import Settings

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "channel-test-token"
TWILIO_FROM = "+15550001111"
MAIL_FROM = "Followthrough <noreply@ft.example.test>"


@pytest.fixture
def store() -> OutboxStore:
    return OutboxStore()  # in memory


@pytest.fixture
def smtp_server(store: OutboxStore) -> Iterator[OutboxSmtpServer]:
    server = OutboxSmtpServer(store, "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def twilio_server(store: OutboxStore) -> Iterator[OutboxTwilioServer]:
    server = OutboxTwilioServer(
        store, "127.0.0.1", 0, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound once by the OS, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def edge_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for channel tests; every value explicit so FT_ variables cannot leak in."""
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "mail_from": MAIL_FROM,
        "smtp_host": "127.0.0.1",
        "smtp_starttls": "false",
        "smtp_timeout": 5.0,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": TWILIO_FROM,
        "twilio_timeout": 5.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def smtp_settings(tmp_path: Path, smtp_server: OutboxSmtpServer) -> Settings:
    return edge_settings(tmp_path, smtp_port=smtp_server.port)


@pytest.fixture
def twilio_settings(tmp_path: Path, twilio_server: OutboxTwilioServer) -> Settings:
    return edge_settings(tmp_path, twilio_api_base=twilio_server.base_url)
