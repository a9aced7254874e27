"""This worker process's liveness, and healing the attempts of dead ones (issue 9).

A delivery attempt records the process that owns it (``deliveries.attempt_owner``) and its
Temporal task token when it claims its row ``pending``. Without more, a retry that finds the
row ``pending`` cannot tell a dead attempt from a slow one, and must wait for the attempt's
deadline (claim + provider timeout + a margin, about a minute) before calling it ``uncertain``;
and Temporal sends that retry only after the delivery's heartbeat timeout (30 s). With it:

- each worker process registers a row (``worker_processes``) at start and beats every tenth of
  ``FT_WORKER_SILENCE`` from a thread of its own (a busy event loop does not stop it);
- ``Liveness.attempt_over`` tells the door that an attempt's process is known dead (store/
  liveness.py: stopped, gone from its machine, or silent), so a retry decides at once;
- ``heal`` (every worker, from its first poll on and every few seconds) ends the rows of dead
  processes and fails their ``pending`` attempts by task token: Temporal retries them now,
  instead of after the heartbeat timeout. A restarted worker heals its predecessor's attempts
  within a second or two of polling.

"Silent" is the one rule a live process could meet (a frozen VM, a database that keeps it
waiting): such a process cuts its own provider calls off once its last beat is half the
silence old (``Liveness.lease_end``), and stops once it finds itself declared dead, so it is
not still sending when a retry calls its attempt over.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from followthrough.logging import get_logger
from followthrough.store import liveness as store
from followthrough.store.db import read_scope, session_scope
from followthrough.store.tables import WorkerProcess, utcnow

log = get_logger("liveness")

#: A process beats this many times per silence.
BEATS_PER_SILENCE = 10
#: The error that fails a dead process's attempt (retryable: the retry decides the row).
WORKER_GONE = "WorkerGone"


@dataclass(frozen=True)
class ProcessIdentity:
    """Where a pid names exactly one process: the machine (Linux boot id and pid namespace)
    and the process's start time (pids are reused). ``machine`` is None where /proc is not."""

    host: str
    pid: int
    machine: str | None
    proc_start: int | None

    @classmethod
    def current(cls) -> ProcessIdentity:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, _machine(), _proc_start(pid))


def _machine() -> str | None:
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def _proc_start(pid: int) -> int | None:
    """The start time (clock ticks since boot) of the live process ``pid``; None when there is
    none (or it is a zombie: it ended, and only its parent has not reaped it yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3
    return None if fields[0] in ("Z", "X") else int(fields[19])  # field 22: starttime


def alive_on(identity: ProcessIdentity) -> store.Alive:
    """Whether a row's process is alive, for the processes of ``identity``'s machine."""

    def alive(row: WorkerProcess) -> bool | None:
        if identity.machine is None or row.machine != identity.machine or row.proc_start is None:
            return None
        return _proc_start(row.pid) == row.proc_start

    return alive


class Liveness:
    """This process's row in ``worker_processes``: registered by ``start``, beaten from a thread,
    ended by ``stop``. ``on_lost`` is called (from that thread) if others declared it dead."""

    def __init__(self, engine: Engine, silence: timedelta, *,
                 identity: ProcessIdentity | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.id = uuid.uuid4().hex
        self.silence = silence
        self.identity = identity or ProcessIdentity.current()
        self.alive = alive_on(self.identity)
        self.on_lost: Callable[[], None] = lambda: None
        self._engine = engine
        self._clock = clock
        self._beaten: datetime | None = None  # the last beat committed (None: lost, or not started)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def beat_every(self) -> timedelta:
        return self.silence / BEATS_PER_SILENCE

    def start(self) -> None:
        now = self._clock()
        with session_scope(self._engine) as session:
            identity = self.identity
            store.register(session, WorkerProcess(
                id=self.id, host=identity.host, pid=identity.pid, machine=identity.machine,
                proc_start=identity.proc_start, started_at=now, beat_at=now))
        self._beaten = now
        self._thread = threading.Thread(target=self._beat_until_stopped, name="liveness", daemon=True)
        self._thread.start()

    def stop(self, reason: str = "stopped") -> None:
        """End the row: call once no attempt of this process can still be running."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        with session_scope(self._engine) as session:
            store.end(session, self.id, reason, self._clock())

    def lease_end(self) -> datetime | None:
        """Until when this process may still be sending (half the silence after its last beat,
        so it is done before anyone may call it dead); None: no longer (declared dead)."""
        return self._beaten + self.silence / 2 if self._beaten is not None else None

    def attempt_over(self, session: Session, owner: str | None, now: datetime) -> str | None:
        """Why the attempt of process ``owner`` is known to be over (its process is dead)."""
        if owner == self.id and self._beaten is not None:
            return None  # ours, and we are alive: it may be running in this process
        return store.owner_death(session, owner, now, self.silence, self.alive)

    def beat(self) -> bool:
        now = self._clock()
        with session_scope(self._engine) as session:
            alive = store.beat(session, self.id, now)
        self._beaten = now if alive else None
        return alive

    def _beat_until_stopped(self) -> None:
        while not self._stopping.wait(self.beat_every.total_seconds()):
            try:
                if not self.beat():
                    log.error("this worker process was declared dead (no beat for "
                              f"{self.silence.total_seconds():g} s): stopping")
                    self.on_lost()
                    return
            except Exception as exc:  # the database is away: the lease runs out meanwhile
                log.warning("liveness beat failed", error=str(exc))

    # -- healing the attempts of dead processes -------------------------------------------

    def sweep(self) -> list[tuple[str, bytes]]:
        """End the rows of processes known dead; returns the attempts they left ``pending``.
        Looking is a read (no write lock every few seconds); only a death found writes."""
        now = self._clock()
        with read_scope(self._engine) as session:
            dead = store.dead(session, now, self.silence, self.alive)
            if not dead:
                return store.orphans(session)
        with session_scope(self._engine) as session:
            for process_id, reason in dead:
                store.end(session, process_id, reason, now)
                log.warning("worker process found dead", process=process_id, reason=reason)
            return store.orphans(session)

    def forget(self, keys: list[str]) -> None:
        if keys:
            with session_scope(self._engine) as session:
                store.forget_tokens(session, keys)


async def heal_once(liveness: Liveness, client: Client) -> int:
    """Fail the attempts that dead processes left ``pending`` (by task token, all at once), so
    Temporal retries them now; the retry finds the owner dead and decides the row. Returns how
    many were failed (an attempt that had already ended counts too)."""
    orphans = await asyncio.to_thread(liveness.sweep)
    if not orphans:
        return 0
    answers = await asyncio.gather(*(_fail(client, token) for _, token in orphans), return_exceptions=True)
    done = [key for (key, _), answer in zip(orphans, answers, strict=True) if answer is None]
    for answer in answers:
        if answer is not None:  # tried again at the next beat
            log.warning("failing a dead worker's attempt failed", error=str(answer))
    await asyncio.to_thread(liveness.forget, done)
    log.warning("attempts of dead worker processes failed for a retry", count=len(done))
    return len(done)


async def _fail(client: Client, token: bytes) -> None:
    try:
        await client.get_async_activity_handle(task_token=token).fail(
            ApplicationError("the worker process running this attempt died", type=WORKER_GONE))
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: that attempt already ended
            raise


async def heal(liveness: Liveness, client: Client) -> None:
    """``heal_once`` now and every beat, until cancelled; a failure is logged and retried."""
    while True:
        try:
            await heal_once(liveness, client)
        except Exception as exc:
            log.warning("healing dead workers' attempts failed", error=str(exc))
        await asyncio.sleep(liveness.beat_every.total_seconds())
