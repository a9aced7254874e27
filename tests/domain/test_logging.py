"""configure_logging: one format for every logger of a process (JSON off a terminal, readable
on one, never an ANSI escape in a file), and no person's address from third-party loggers."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tty
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
import structlog
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxSmtpServer, OutboxStore
from followthrough.logging import configure_logging
from followthrough.settings import PROJECT_ROOT
from followthrough.temporal import CORE_LOGGER
from tests.conftest import ADMIN_KEY, PAYLOAD_KEY, SECRET_KEY


@pytest.fixture
def root_restored() -> Iterator[None]:
    """Whatever configure_logging did to this process's loggers, undone after the test."""
    root, mail_log = logging.getLogger(), logging.getLogger("mail.log")
    handlers, level, mail_level = list(root.handlers), root.level, mail_log.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    mail_log.setLevel(mail_level)
    logging.captureWarnings(False)
    structlog.reset_defaults()


@pytest.fixture
def configured(root_restored: None) -> None:
    configure_logging("DEBUG", json=True)


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


# --- One format for every logger of a service process (issue 10) -----------------------------
# The real entry points (`cli.py api`, `cli.py worker`) run as child processes with stderr a
# pipe, then a pseudo-terminal: every line is JSON on the pipe, readable text on the terminal,
# never an ANSI escape off a terminal, whoever logged it (structlog, uvicorn, Temporal's SDK and
# its core, Alembic).

ESC = "\x1b["
LINK_TOKEN = "v1.c2VjcmV0LWxpbmstdG9rZW4.signature"


@dataclass
class Captured:
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def records(self) -> list[dict[str, Any]]:
        """Every line as JSON (a line that is not fails the test, naming it)."""
        found = []
        for line in self.lines:
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"not a JSON line: {line!r}")
        return found


class _Reader(threading.Thread):
    """Drains a pipe or a pty's master side so the child never blocks on a full buffer."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.data = fd, bytearray()

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the pty's last writer closed
                return
            if not chunk:
                return
            self.data += chunk

    def has(self, text: str) -> bool:
        return text.encode() in self.data


def run_service(command: str, env: dict[str, str], *, terminal: bool, ready: Callable[[_Reader], bool]) -> Captured:
    """Start ``cli.py <command>``, wait until ``ready``, stop it with SIGINT; its stderr lines."""
    if terminal:
        read_fd, write_fd = pty.openpty()
        tty.setraw(read_fd)  # no CR/LF translation of the child's lines
    else:
        read_fd, write_fd = os.pipe()
    process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "cli.py"), command], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=write_fd)
    os.close(write_fd)
    reader = _Reader(read_fd)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not ready(reader):
            assert process.poll() is None, f"{command} exited: {reader.data.decode(errors='replace')}"
            assert time.monotonic() < deadline, f"{command} not ready: {reader.data.decode(errors='replace')}"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=40) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=10)
        os.close(read_fd)
    return Captured(reader.data.decode().splitlines())


def service_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FT_")}
    env.update(FT_DATA_DIR=str(tmp_path / "data"), FT_ADMIN_API_KEY=ADMIN_KEY, FT_SECRET_KEY=SECRET_KEY,
               FT_PAYLOAD_KEYS=PAYLOAD_KEY, **values)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api_answered(port: int) -> Callable[[_Reader], bool]:
    """Ready once the API answers; then one unsubscribe link is opened (its token is a secret)."""
    def ready(reader: _Reader) -> bool:
        try:
            answered = httpx.get(f"http://127.0.0.1:{port}/v1/contacts", timeout=2).status_code == 401
        except httpx.HTTPError:
            return False
        if answered:
            httpx.get(f"http://127.0.0.1:{port}/u/{LINK_TOKEN}?lang=en", timeout=5)
        return answered
    return ready


class TestTheApiProcess:
    """`followthrough api` on a fresh database, Temporal not answering (127.0.0.1:9)."""

    def test_every_line_is_json_off_a_terminal(self, tmp_path: Path) -> None:
        port = _free_port()
        env = service_env(tmp_path, FT_API_PORT=str(port), FT_TEMPORAL_ADDRESS="127.0.0.1:9")
        captured = run_service("api", env, terminal=False, ready=_api_answered(port))
        assert ESC not in captured.text
        records = captured.records()
        loggers = {r["logger"] for r in records}
        assert {"api", "uvicorn.error", "uvicorn.access", "alembic.runtime.migration"} <= loggers
        assert {r["level"] for r in records if r["logger"] == "api"} == {"warning"}  # Temporal not answering
        access = [r["event"].split(" - ", 1)[1] for r in records if r["logger"] == "uvicorn.access"]
        assert set(access[:-1]) == {'"GET /v1/contacts HTTP/1.1" 401'}
        assert access[-1].startswith('"GET /u/***?lang=en HTTP/1.1" 4') and LINK_TOKEN not in captured.text
        # Alembic's start-up chatter is DEBUG; what it migrated stays.
        assert "Context impl" not in captured.text and "Will assume" not in captured.text
        assert "setup plugin" not in captured.text
        assert any(r["event"].startswith("Running upgrade 0010_attempt_deadline -> 0011_people") for r in records)

    def test_readable_lines_on_a_terminal(self, tmp_path: Path) -> None:
        port = _free_port()
        env = service_env(tmp_path, FT_API_PORT=str(port), FT_TEMPORAL_ADDRESS="127.0.0.1:9")
        captured = run_service("api", env, terminal=True, ready=_api_answered(port))
        plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in captured.lines]
        assert not any(line.startswith("{") for line in plain)
        started = [line for line in plain if "Application startup complete." in line]
        assert len(started) == 1 and "[uvicorn.error]" in started[0] and "info" in started[0]
        assert any('"GET /v1/contacts HTTP/1.1" 401' in line and "[uvicorn.access]" in line for line in plain)


class TestTheWorkerProcess:
    """`followthrough worker` at FT_LOG_LEVEL=DEBUG against the dev server: the Temporal core
    says something at DEBUG (its worker starting and stopping), forwarded to our logger."""

    @pytest.fixture
    def env(self, tmp_path: Path, dev_env: WorkflowEnvironment) -> dict[str, str]:
        address = dev_env.client.service_client.config.target_host
        return service_env(tmp_path, FT_TEMPORAL_ADDRESS=address, FT_LOG_LEVEL="DEBUG",
                           FT_TASK_QUEUE=f"ft-log-{uuid.uuid4().hex[:8]}")

    def test_every_line_is_json_off_a_terminal(self, env: dict[str, str]) -> None:
        captured = run_service("worker", env, terminal=False, ready=lambda r: r.has('"worker started"'))
        assert ESC not in captured.text
        records = captured.records()
        core = [r for r in records if r["logger"] == CORE_LOGGER]
        assert "Initializing worker" in {r["event"] for r in core}
        assert {r["target"] for r in core} >= {"temporalio_sdk_core::worker"}
        assert {"worker", "temporalio.worker._worker"} <= {r["logger"] for r in records}
        chatter = [r for r in records if r["event"].startswith(("Context impl", "Will assume", "setup plugin"))]
        assert chatter and {r["level"] for r in chatter} == {"debug"}

    def test_readable_lines_on_a_terminal(self, env: dict[str, str]) -> None:
        captured = run_service("worker", env, terminal=True, ready=lambda r: r.has("worker started"))
        plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in captured.lines]
        assert not any(line.startswith("{") for line in plain)
        assert any("Initializing worker" in line and f"[{CORE_LOGGER}]" in line for line in plain)
        assert any("worker stopped" in line and "[worker]" in line for line in plain)


class TestConfigureLogging:
    def test_a_forced_console_format_off_a_terminal_has_no_colours(self, root_restored: None) -> None:
        stream = io.StringIO()
        configure_logging("INFO", json=False, stream=stream)
        structlog.get_logger("ours").info("hello", count=2)
        logging.getLogger("uvicorn.error").warning("theirs %s", "too")
        lines = stream.getvalue().splitlines()
        assert ESC not in stream.getvalue()
        assert len(lines) == 2 and "hello" in lines[0] and "count=2" in lines[0]
        assert "theirs too" in lines[1] and "[uvicorn.error]" in lines[1]

    def test_a_librarys_warning_is_a_log_line(self) -> None:
        """In a process of its own: pytest manages the warnings machinery of its own process."""
        code = ("import warnings\nfrom followthrough.logging import configure_logging\n"
                "configure_logging('INFO')\nwarnings.warn(\"a library's complaint\", UserWarning)\n")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT,
                              timeout=60, check=True)
        [record] = Captured(done.stderr.splitlines()).records()
        assert record["logger"] == "py.warnings" and record["level"] == "warning"
        assert "UserWarning: a library's complaint" in record["event"]

    def test_configuring_twice_keeps_one_handler(self, root_restored: None) -> None:
        before = list(logging.getLogger().handlers)
        first, second = io.StringIO(), io.StringIO()
        configure_logging("INFO", stream=first)
        configure_logging("INFO", stream=second)
        logging.getLogger("alembic.runtime.migration").info("Running upgrade a -> b")
        assert len([h for h in logging.getLogger().handlers if h not in before]) == 1
        assert (first.getvalue(), len(second.getvalue().splitlines())) == ("", 1)
