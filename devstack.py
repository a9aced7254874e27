"""`followthrough dev`: the whole service on one machine, on loopback, state under FT_DATA_DIR.

Starts the embedded Temporal dev server (SQLite file), the dev outbox (when no SMTP server or
Twilio account is configured), the worker and the API as child processes; restarts any of them
that dies; on Ctrl-C lets the worker finish in-flight activities and stops everything.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import sys
from pathlib import Path

from channels.outbox import OutboxHandle, run_outbox
from followthrough.codec import new_key
from followthrough.devserver import temporal_cli
from followthrough.logging import configure_logging, get_logger
from followthrough.private_files import open_private, private_dir
from followthrough.settings import PROJECT_ROOT, Settings
from followthrough.store.db import make_engine, upgrade
from followthrough.temporal import search_attribute_flags

CLI = str(PROJECT_ROOT / "cli.py")
#: The supervised child processes and their commands. One worker of role ``all``: it runs the
#: activities its own workflow tasks schedule without a round trip through the server's task
#: queue (eager dispatch), which a worker split by role cannot (README "Running at scale").
CHILDREN: dict[str, tuple[str, ...]] = {
    "worker": ("worker",),
    "api": ("api",),
}
log = get_logger("dev")


def _secret_file(path: Path, make: callable) -> str:  # type: ignore[valid-type]
    """Read a generated secret, or create it with mode 0600 and reuse it on the next start."""
    if path.exists():
        return path.read_text().strip()
    value = make()
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def admin_key(settings: Settings) -> str:
    if settings.admin_api_key:
        return settings.admin_api_key
    return _secret_file(settings.data_dir / "admin_api_key", lambda: "ft_admin_" + secrets.token_urlsafe(32))


def dev_secrets(settings: Settings) -> dict[str, str]:
    """FT_SECRET_KEY and FT_PAYLOAD_KEYS for the children: the configured ones, else keys
    generated once and kept in the data directory (0600), so links and histories stay readable
    across restarts."""
    return {
        "FT_SECRET_KEY": settings.secret_key
        or _secret_file(settings.data_dir / "secret_key", lambda: secrets.token_urlsafe(32)),
        "FT_PAYLOAD_KEYS": settings.payload_keys
        or _secret_file(settings.data_dir / "payload_key", new_key),
    }


def twilio_outbox_credentials(settings: Settings) -> tuple[str, str]:
    raw = _secret_file(
        settings.data_dir / "twilio_outbox.json",
        lambda: json.dumps({"sid": "AC" + secrets.token_hex(16), "token": secrets.token_hex(16)}),
    )
    data = json.loads(raw)
    return data["sid"], data["token"]


async def _wait_port(host: str, port: int, seconds: float, process: asyncio.subprocess.Process | None = None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if process is not None and process.returncode is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            await asyncio.sleep(0.2)
    raise RuntimeError(f"nothing listens on {host}:{port} after {seconds:.0f} s")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class DevStack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = dict(os.environ)
        self.temporal: asyncio.subprocess.Process | None = None
        self.outbox: OutboxHandle | None = None
        self.children: dict[str, asyncio.subprocess.Process] = {}
        self.stopping = asyncio.Event()

    async def start_temporal(self) -> str:
        s = self.settings
        if s.temporal_address:
            return s.temporal_address
        for port in (s.temporal_port, s.temporal_ui_port):
            if not _port_free(port):
                raise SystemExit(f"port {port} is taken; set FT_TEMPORAL_PORT / FT_TEMPORAL_UI_PORT")
        db_file = (s.data_dir / "temporal.sqlite3").resolve()
        args = [
            "server", "start-dev", "--ip", "127.0.0.1", "--port", str(s.temporal_port),
            "--ui-port", str(s.temporal_ui_port), "--db-filename", str(db_file),
            "--namespace", s.temporal_namespace, "--log-level", "error",
            # WAL with synchronous=normal: about 3x the throughput of the default rollback
            # journal on the same disk (bench/RESULTS.md), still crash-safe for the dev server.
            "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
            *search_attribute_flags(),
        ]
        log_file = open_private(s.data_dir / "temporal.log")
        # umask 077: the server creates its database (and -wal, -shm) 0600. It cannot be
        # pre-created: the dev server takes an existing file for an initialised database.
        self.temporal = await asyncio.create_subprocess_exec(
            str(temporal_cli()), *args, stdout=log_file, stderr=log_file, start_new_session=True,
            umask=0o077,
        )
        await _wait_port("127.0.0.1", s.temporal_port, 60, self.temporal)
        await _wait_port("127.0.0.1", s.temporal_ui_port, 30, self.temporal)
        return f"127.0.0.1:{s.temporal_port}"

    async def start_outbox(self) -> None:
        s = self.settings
        if not (s.smtp_outbox or s.twilio_outbox):
            return
        sid, token = twilio_outbox_credentials(s)
        self.outbox = await run_outbox(s, account_sid=sid, auth_token=token)
        self.env["FT_OUTBOX"] = "true"
        if s.smtp_outbox:
            self.env.update(FT_SMTP_HOST="127.0.0.1", FT_SMTP_PORT=str(self.outbox.smtp.port),
                            FT_SMTP_STARTTLS="false", FT_SMTP_TLS="false")
        if s.twilio_outbox:
            self.env.update(FT_TWILIO_ACCOUNT_SID=sid, FT_TWILIO_AUTH_TOKEN=token,
                            FT_TWILIO_API_BASE=self.outbox.twilio.base_url)

    async def spawn(self, name: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, CLI, *CHILDREN[name], env=self.env, start_new_session=True
        )
        self.children[name] = process
        return process

    async def supervise(self, name: str) -> None:
        """Keep a child running; restart it with backoff when it dies unexpectedly."""
        delay = 1.0
        while not self.stopping.is_set():
            process = await self.spawn(name)
            code = await process.wait()
            if self.stopping.is_set():
                return
            log.warning(f"{name} exited with {code}; restarting in {delay:.0f} s")
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=delay)
            except TimeoutError:
                delay = min(delay * 2, 30.0)

    async def run(self) -> int:
        s = self.settings
        configure_logging(s.log_level)  # this process's own lines (and the outbox's) as the children's
        private_dir(s.data_dir)
        key = admin_key(s)
        self.env.update(FT_ADMIN_API_KEY=key, FT_DATA_DIR=str(s.data_dir.resolve()), **dev_secrets(s))
        if "FT_PUBLIC_BASE_URL" not in os.environ:
            self.env["FT_PUBLIC_BASE_URL"] = f"http://{s.api_host}:{s.api_port}"
        if not _port_free(s.api_port):
            raise SystemExit(f"port {s.api_port} is taken; set FT_API_PORT")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            # Migrate once here, so the worker and the API never race on a fresh database.
            await asyncio.to_thread(upgrade, make_engine(s.resolved_database_url))
            address = await self.start_temporal()
            self.env["FT_TEMPORAL_ADDRESS"] = address
            await self.start_outbox()
            tasks = [asyncio.create_task(self.supervise(n)) for n in CHILDREN]
            await _wait_port(s.api_host, s.api_port, 60)
            self._banner(key, address)
            await self.stopping.wait()
            log.info("stopping: the worker finishes in-flight activities")
            await self.stop_children()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await self.stop_children()
            if self.outbox is not None:
                await self.outbox.aclose()
            if self.temporal is not None and self.temporal.returncode is None:
                self.temporal.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(self.temporal.wait(), timeout=15)
                except TimeoutError:
                    self.temporal.kill()
        log.info("stopped")
        return 0

    async def stop_children(self) -> None:
        for process in self.children.values():
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
        for process in self.children.values():
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()

    def _banner(self, key: str, address: str) -> None:
        s = self.settings
        lines = [
            "Followthrough is running:",
            f"  API          http://{s.api_host}:{s.api_port}  (docs: /docs)",
            f"  Admin key    {key}",
            f"  Temporal     {address}"
            + (f"  (Web UI: http://127.0.0.1:{s.temporal_ui_port})" if not s.temporal_address else ""),
        ]
        if self.outbox is not None:
            lines.append(
                f"  Dev outbox   SMTP 127.0.0.1:{self.outbox.smtp.port}, Twilio {self.outbox.twilio.base_url}"
                "  (GET /v1/outbox or `followthrough outbox list`)"
            )
        lines += [f"  Data         {s.data_dir.resolve()}", "Press Ctrl-C to stop."]
        print("\n".join(lines), flush=True)


def run_dev(settings: Settings) -> int:
    return asyncio.run(DevStack(settings).run())
