"""Worker processes' liveness (store/liveness.py and followthrough/liveness.py), on SQLite and
PostgreSQL; "gone" is decided against real processes of this machine."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from followthrough.liveness import Liveness, ProcessIdentity, alive_on
from followthrough.models.vocab import LedgerState
from followthrough.store import contacts, ledger
from followthrough.store import liveness as store
from followthrough.store.db import as_utc, session_scope
from followthrough.store.tables import WorkerProcess

T0 = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
SILENCE = timedelta(seconds=30)
HERE = ProcessIdentity.current()


def _child() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    process = _child()
    yield process
    process.kill()
    process.wait()


def _register(engine: Engine, process_id: str, identity: ProcessIdentity, beat_at: datetime = T0) -> None:
    with session_scope(engine) as session:
        store.register(session, WorkerProcess(
            id=process_id, host=identity.host, pid=identity.pid, machine=identity.machine,
            proc_start=identity.proc_start, started_at=beat_at, beat_at=beat_at))


def _identity(process: subprocess.Popen[bytes]) -> ProcessIdentity:
    from followthrough.liveness import _proc_start

    return ProcessIdentity(HERE.host, process.pid, HERE.machine, _proc_start(process.pid))


def _death(engine: Engine, process_id: str, now: datetime) -> str | None:
    with session_scope(engine) as session:
        return store.owner_death(session, process_id, now, SILENCE, alive_on(HERE))


class TestProcessIdentity:
    def test_it_names_this_process_on_this_machine(self) -> None:
        assert HERE.machine is not None and HERE.machine.count("/") == 1  # Linux: boot id / pid ns
        assert HERE.proc_start is not None and HERE.proc_start > 0

    def test_a_live_process_is_alive_a_killed_one_is_not_and_another_machines_is_unknown(self) -> None:
        process = _child()
        identity = _identity(process)
        row = WorkerProcess(id="p", host=identity.host, pid=identity.pid, machine=identity.machine,
                            proc_start=identity.proc_start)
        alive = alive_on(HERE)
        assert alive(row) is True
        assert alive(row.model_copy(update={"proc_start": identity.proc_start + 1})) is False  # type: ignore[operator]
        assert alive(row.model_copy(update={"machine": "another-boot/pid:[1]"})) is None
        process.kill()
        # SIGKILL is delivered asynchronously: give the kernel a moment, but do not reap it.
        deadline = time.monotonic() + 5
        while alive(row) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert alive(row) is False  # a zombie until reaped: ended all the same
        process.wait()
        assert alive(row) is False


class TestDeath:
    def test_a_beating_process_on_this_machine_may_still_run_its_attempts(self, any_engine: Engine, child) -> None:  # type: ignore[no-untyped-def]
        _register(any_engine, "alive", _identity(child))
        assert _death(any_engine, "alive", T0 + SILENCE) is None

    def test_a_killed_process_is_gone_at_once(self, any_engine: Engine) -> None:
        process = _child()
        _register(any_engine, "killed", _identity(process))
        process.kill()
        process.wait()
        assert _death(any_engine, "killed", T0 + timedelta(seconds=1)) == "gone"

    def test_a_process_elsewhere_is_dead_only_once_silent_for_the_silence(self, any_engine: Engine) -> None:
        elsewhere = ProcessIdentity("other-host", 4242, "other-boot/pid:[1]", 777)
        _register(any_engine, "far", elsewhere)
        assert _death(any_engine, "far", T0 + SILENCE) is None
        assert _death(any_engine, "far", T0 + SILENCE + timedelta(milliseconds=1)) == "silent"

    def test_a_stopped_process_is_over_and_an_unknown_owner_is_not_known_dead(self, any_engine: Engine, child) -> None:  # type: ignore[no-untyped-def]
        _register(any_engine, "stopped", _identity(child))
        with session_scope(any_engine) as session:
            store.end(session, "stopped", "stopped", T0)
        assert _death(any_engine, "stopped", T0) == "stopped"
        assert _death(any_engine, "never-registered", T0 + timedelta(days=1)) is None
        with session_scope(any_engine) as session:
            assert store.owner_death(session, None, T0, SILENCE, alive_on(HERE)) is None

    def test_a_beat_after_being_declared_dead_says_so(self, any_engine: Engine, child) -> None:  # type: ignore[no-untyped-def]
        _register(any_engine, "late", _identity(child))
        with session_scope(any_engine) as session:
            assert store.beat(session, "late", T0 + timedelta(seconds=3)) is True
            store.end(session, "late", "silent", T0 + timedelta(seconds=40))
            assert store.beat(session, "late", T0 + timedelta(seconds=41)) is False
            row = session.get(WorkerProcess, "late")
            assert (as_utc(row.beat_at), row.end_reason) == (T0 + timedelta(seconds=3), "silent")  # type: ignore[union-attr]


def _pending_row(engine: Engine, key: str, owner: str, token: bytes) -> None:
    with session_scope(engine) as session:
        contact = contacts.create(session, {"name": "Ada", "email": f"{key}@example.test"})
        row = ledger.create(session, key=key, run_id="run_x", step_id=key, contact_id=contact.id,
                            channel="email", category="marketing", state=LedgerState.RETRYING)
        ledger.update(session, row, state=LedgerState.PENDING, attempt_owner=owner, attempt_token=token)  # type: ignore[arg-type]


class TestOrphans:
    def test_the_pending_attempts_of_ended_processes_are_listed_until_forgotten(self, any_engine: Engine, child) -> None:  # type: ignore[no-untyped-def]
        dead = _child()
        _register(any_engine, "dead", _identity(dead))
        _register(any_engine, "live", _identity(child))
        dead.kill()
        dead.wait()
        _pending_row(any_engine, "k_dead", "dead", b"token-dead")
        _pending_row(any_engine, "k_live", "live", b"token-live")
        with session_scope(any_engine) as session:
            assert store.orphans(session) == []  # nobody has ended the dead one's row yet
            assert store.dead(session, T0 + timedelta(seconds=1), SILENCE, alive_on(HERE)) == [("dead", "gone")]
            store.end(session, "dead", "gone", T0 + timedelta(seconds=1))
        with session_scope(any_engine) as session:
            assert store.orphans(session) == [("k_dead", b"token-dead")]
            store.forget_tokens(session, ["k_dead"])
        with session_scope(any_engine) as session:
            assert store.orphans(session) == []

    def test_an_outcome_clears_the_token(self, any_engine: Engine) -> None:
        _pending_row(any_engine, "k_sent", "someone", b"token")
        with session_scope(any_engine) as session:
            row = ledger.get_by_key(session, "k_sent")
            assert row is not None and row.attempt_token == b"token"
            ledger.update(session, row, state=LedgerState.SENT)
        with session_scope(any_engine) as session:
            row = ledger.get_by_key(session, "k_sent")
            assert row is not None and (row.attempt_token, row.attempt_owner) == (None, "someone")


class TestLiveness:
    def test_it_beats_from_its_thread_and_ends_its_row_when_stopped(self, any_engine: Engine) -> None:
        liveness = Liveness(any_engine, timedelta(seconds=5))  # a beat every 0.5 s
        liveness.start()
        try:
            with session_scope(any_engine) as session:
                started = as_utc(session.get(WorkerProcess, liveness.id).beat_at)  # type: ignore[union-attr]
            time.sleep(1.3)
            with session_scope(any_engine) as session:
                row = session.get(WorkerProcess, liveness.id)
                assert row is not None and (row.pid, row.ended_at) == (HERE.pid, None)
                assert as_utc(row.beat_at) > started  # type: ignore[operator]
            lease = liveness.lease_end()
            assert lease is not None and lease - datetime.now(UTC) > timedelta(seconds=1)
        finally:
            liveness.stop()
        with session_scope(any_engine) as session:
            assert session.get(WorkerProcess, liveness.id).end_reason == "stopped"  # type: ignore[union-attr]

    def test_declared_dead_it_stops_sending_and_says_so(self, any_engine: Engine) -> None:
        liveness = Liveness(any_engine, timedelta(seconds=5))
        lost = threading.Event()
        liveness.on_lost = lost.set
        liveness.start()
        try:
            with session_scope(any_engine) as session:  # another worker found it silent
                store.end(session, liveness.id, "silent", datetime.now(UTC))
            assert lost.wait(timeout=5)
            assert liveness.lease_end() is None  # its provider calls are cut off
        finally:
            liveness.stop()
