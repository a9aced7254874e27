"""What a benchmark run starts on loopback: Temporal dev servers, the outbox, child processes.

Every child runs in its own session with ``PR_SET_PDEATHSIG`` so it dies with the benchmark even
when the benchmark itself is killed; ``Children.stop`` ends them politely first.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from channels.outbox import Capture, OutboxSmtpServer, OutboxStore, OutboxTwilioServer
from followthrough.bootstrap import seed_builtins
from followthrough.devserver import temporal_cli
from followthrough.settings import PROJECT_ROOT, Settings
from followthrough.store.db import make_engine, upgrade
from followthrough.temporal import search_attribute_flags

#: Fixed, public keys for throwaway benchmark stacks: the benchmark pays for encryption like
#: production does, and nothing it stores is secret.
BENCH_SECRET_KEY = "bench-secret-key-" + "0" * 24
BENCH_PAYLOAD_KEY = "YmVuY2gtcGF5bG9hZC1rZXktMDEyMzQ1Njc4OWFiY2Q="

_PR_SET_PDEATHSIG = 1
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


async def wait_port(port: int, limit_s: float, process: asyncio.subprocess.Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while loop.time() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"pid {process.pid} exited with {process.returncode} before port {port}")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {limit_s:.0f} s")


@dataclass(frozen=True)
class ProcStats:
    """Memory (VmRSS now, VmHWM peak) in MiB and CPU seconds (user + system) of one process."""

    rss_mib: float
    hwm_mib: float
    cpu_s: float


def proc_stats(pid: int) -> ProcStats:
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024  # kB
    stat = Path(f"/proc/{pid}/stat").read_text()
    after_name = stat.rsplit(")", 1)[1].split()  # the command name may contain spaces
    utime, stime = int(after_name[11]), int(after_name[12])  # fields 14 and 15 of stat(5)
    return ProcStats(fields["VmRSS"], fields["VmHWM"], (utime + stime) / _CLK_TCK)


class Children:
    """Child processes of one benchmark run; ``stop`` ends them all (SIGINT, then SIGKILL)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, asyncio.subprocess.Process] = {}

    async def spawn(self, name: str, *argv: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
        log = (self.log_dir / f"{name}.log").open("ab")
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=log,
                stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()  # the child holds its own descriptor
        self.procs[name] = process
        return process

    def check_alive(self) -> None:
        for name, process in self.procs.items():
            if process.returncode is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {self.log_dir / name}.log")

    async def stop(self, name: str, grace_s: float = 20.0) -> None:
        process = self.procs.pop(name, None)
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), timeout=grace_s)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(name) for name in list(self.procs)), return_exceptions=True)


async def start_temporal(
    children: Children, name: str, data_dir: Path, *, db_file: bool = True, extra: tuple[str, ...] = ()
) -> tuple[str, asyncio.subprocess.Process]:
    """The dev server on free loopback ports, with our search attributes; its state in a SQLite
    file (``db_file``, as ``followthrough dev`` runs it) or in SQLite in memory."""
    port, ui_port = free_port(), free_port()
    db = ["--db-filename", str(data_dir / f"{name}.sqlite3")] if db_file else []
    process = await children.spawn(
        name, str(temporal_cli()), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
        "--port", str(port), "--ui-port", str(ui_port), *db, "--log-level", "error",
        *search_attribute_flags(), *extra,
    )
    await wait_port(port, 60, process)
    await _wait_healthy(f"127.0.0.1:{port}", 60)
    return f"127.0.0.1:{port}", process


async def _wait_healthy(address: str, within: float) -> None:
    """The port opens before the frontend answers: on a loaded machine a client connecting at
    once was refused ("Frontend is not healthy yet") and the benchmark died."""
    from temporalio.client import Client

    deadline = time.monotonic() + within
    while True:
        try:
            await Client.connect(address)
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


class TimedStore(OutboxStore):
    """The in-memory outbox store that also notes, per (channel, recipient), when the first
    capture arrived (``time.time()``, finer than ``Capture.received_at``) and how many repeats."""

    def __init__(self) -> None:
        super().__init__(None)
        self._times_lock = threading.Lock()
        self.first_at: dict[tuple[str, str], float] = {}
        self.count = 0
        self.duplicates = 0
        self.last_at = 0.0

    def append(self, capture: Capture) -> Capture:
        now = time.time()
        super().append(capture)
        with self._times_lock:
            key = (capture.channel, capture.to)
            if key in self.first_at:
                self.duplicates += 1
            else:
                self.first_at[key] = now
            self.count += 1
            self.last_at = max(self.last_at, now)
        return capture

    def reset(self) -> None:
        self.clear()
        with self._times_lock:
            self.first_at.clear()
            self.count = self.duplicates = 0
            self.last_at = 0.0

    async def wait_for(self, target: int, limit_s: float, children: Children) -> None:
        """Until ``target`` captures arrived; raises TimeoutError with what did arrive."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while self.count < target:
            children.check_alive()
            if loop.time() > deadline:
                raise TimeoutError(f"{self.count} of {target} messages captured after {limit_s:.0f} s")
            await asyncio.sleep(0.02)


@dataclass
class Outbox:
    store: TimedStore
    smtp: OutboxSmtpServer
    twilio: OutboxTwilioServer

    def stop(self) -> None:
        self.smtp.stop()
        self.twilio.stop()


def start_outbox(
    account_sid: str, auth_token: str, *, smtp_delay: float = 0.0,
    twilio_class: type[OutboxTwilioServer] = OutboxTwilioServer,
) -> Outbox:
    """Both outbox servers on port 0 with one timed in-memory store (threads of this process).
    ``smtp_delay`` holds each reply to DATA; ``twilio_class`` may be a slower server."""
    store = TimedStore()
    smtp = OutboxSmtpServer(store, "127.0.0.1", 0)
    smtp.data_delay = smtp_delay
    twilio = twilio_class(store, "127.0.0.1", 0, account_sid=account_sid, auth_token=auth_token)
    smtp.start()
    try:
        twilio.start()
    except BaseException:
        smtp.stop()
        raise
    return Outbox(store, smtp, twilio)


def local_database(work: Path) -> tuple[Settings, Engine]:
    """Settings and a migrated, seeded SQLite database in ``work`` (in-process benchmarks)."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=work, database_url=f"sqlite:///{work / 'ft.sqlite3'}",
        templates_dir=PROJECT_ROOT / "templates", definitions_dir=PROJECT_ROOT / "definitions",
        admin_api_key="bench-admin-key-" + "0" * 24, public_base_url="http://127.0.0.1:8000",
        secret_key=BENCH_SECRET_KEY, payload_keys=BENCH_PAYLOAD_KEY,
    )
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    seed_builtins(engine, settings)
    return settings, engine
