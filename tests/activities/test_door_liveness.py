"""The door with worker liveness (issue 9, "a worker that heals fast"): a retry that finds a
``pending`` row decides at once when the process that owns the attempt is known dead, and
still waits while that process may be running it. SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from activities.door import Door
from followthrough.liveness import Liveness, ProcessIdentity, _proc_start
from followthrough.models.vocab import Category, Channel, LedgerState
from followthrough.rendering import Renderer
from followthrough.store import ledger
from followthrough.store import liveness as store
from followthrough.store.db import session_scope
from followthrough.store.tables import WorkerProcess
from followthrough.store.templates import DbTemplateSource
from tests.activities.test_door import NOON, WALL, _Clock, _contact, _input, door_env  # noqa: F401

SILENCE = timedelta(seconds=30)
HERE = ProcessIdentity.current()


class _Process:
    """A worker process for the door: a real child process of this test, or one elsewhere."""

    def __init__(self, engine: Engine, clock: _Clock, *, elsewhere: bool = False) -> None:
        self.child = None if elsewhere else subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        identity = (ProcessIdentity("far-host", 4242, "far-boot/pid:[1]", 9) if self.child is None else
                    ProcessIdentity(HERE.host, self.child.pid, HERE.machine, _proc_start(self.child.pid)))
        self.liveness = Liveness(engine, SILENCE, identity=identity, clock=clock)
        with session_scope(engine) as session:  # registered as its start() does, without a beat thread
            store.register(session, WorkerProcess(
                id=self.liveness.id, host=identity.host, pid=identity.pid, machine=identity.machine,
                proc_start=identity.proc_start, started_at=clock(), beat_at=clock()))

    def door(self, engine: Engine, settings, clock: _Clock) -> Door:  # type: ignore[no-untyped-def]
        return Door(engine, Renderer(DbTemplateSource(engine), "en"), settings, clock=clock, liveness=self.liveness)

    def kill(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child.wait()


@pytest.fixture
def two_processes(door_env):  # type: ignore[no-untyped-def]  # noqa: F811
    """The first attempt's process and the retry's (this test process, beating)."""
    _, engine, settings = door_env
    clock = _Clock(WALL)
    retrying = Liveness(engine, SILENCE, clock=clock)
    retrying.start()
    processes: list[_Process] = []

    def first(elsewhere: bool = False) -> tuple[Door, _Process]:
        process = _Process(engine, clock, elsewhere=elsewhere)
        processes.append(process)
        return process.door(engine, settings, clock), process

    yield first, Door(engine, Renderer(DbTemplateSource(engine), "en"), settings, clock=clock,
                      liveness=retrying), engine, clock
    retrying.stop()
    for process in processes:
        process.kill()


def _row(engine: Engine, key: str) -> tuple[str, int, str | None, str | None, bytes | None]:
    with session_scope(engine) as session:
        row = ledger.get_by_key(session, key)
        assert row is not None
        return row.state, row.attempts, row.reason, row.attempt_owner, row.attempt_token


class TestAttemptOfADeadProcess:
    def test_the_claim_names_the_process_and_keeps_the_task_token(self, two_processes) -> None:  # type: ignore[no-untyped-def]
        first, _, engine, _ = two_processes
        door, process = first()
        inp = _input(_contact(engine), "run_own", Channel.EMAIL, Category.MARKETING)
        assert door.prepare(inp, "run_own:s:1", NOON, [], None, b"task-token-1").message is not None
        assert _row(engine, "run_own:s:1") == ("pending", 1, None, process.liveness.id, b"task-token-1")

    def test_while_its_process_lives_the_retry_waits(self, two_processes) -> None:  # type: ignore[no-untyped-def]
        first, retry_door, engine, clock = two_processes
        door, process = first()
        inp = _input(_contact(engine), "run_live", Channel.EMAIL, Category.TRANSACTIONAL)
        assert door.prepare(inp, "run_live:s:1", NOON, [], None, b"t").message is not None
        clock.at = WALL + timedelta(seconds=25)  # no beat for 25 s: not yet the silence
        with pytest.raises(ApplicationError) as raised:
            retry_door.prepare(inp, "run_live:s:1", NOON, [], None, b"t2")
        assert raised.value.type == "AttemptInFlight"
        assert _row(engine, "run_live:s:1")[:2] == ("pending", 1)

    @pytest.mark.parametrize(("category", "resent"), [(Category.MARKETING, False), (Category.TRANSACTIONAL, True)])
    def test_once_its_process_is_killed_the_retry_decides_at_once(  # type: ignore[no-untyped-def]
        self, two_processes, category: Category, resent: bool,
    ) -> None:
        first, retry_door, engine, clock = two_processes
        door, process = first()
        key = f"run_k{category}:s:1"
        inp = _input(_contact(engine), f"run_k{category}", Channel.EMAIL, category)
        assert door.prepare(inp, key, NOON, [], None, b"t").message is not None
        process.kill()
        clock.at = WALL + timedelta(seconds=2)  # long before the attempt's deadline (60 s)
        retry = retry_door.prepare(inp, key, NOON, [], None, b"t2")
        reason = "attempt interrupted (its worker process gone); outcome unknown"
        if resent:
            assert retry.message is not None and retry.uncertain_before is True
            assert _row(engine, key)[:4] == ("pending", 2, reason, retry_door._liveness.id)  # type: ignore[union-attr]
        else:
            assert retry.result is not None and (retry.result.state, retry.result.reason) == (
                LedgerState.UNCERTAIN, reason)
            assert _row(engine, key) == ("uncertain", 1, reason, process.liveness.id, None)

    def test_a_process_elsewhere_is_taken_as_dead_only_after_the_silence(self, two_processes) -> None:  # type: ignore[no-untyped-def]
        first, retry_door, engine, clock = two_processes
        door, _ = first(elsewhere=True)
        inp = _input(_contact(engine), "run_far", Channel.EMAIL, Category.MARKETING)
        assert door.prepare(inp, "run_far:s:1", NOON, [], None, b"t").message is not None
        clock.at = WALL + SILENCE
        with pytest.raises(ApplicationError):
            retry_door.prepare(inp, "run_far:s:1", NOON, [], None, b"t2")
        clock.at = WALL + SILENCE + timedelta(seconds=1)
        retry = retry_door.prepare(inp, "run_far:s:1", NOON, [], None, b"t2")
        assert retry.result is not None and (retry.result.state, retry.result.reason) == (
            LedgerState.UNCERTAIN, "attempt interrupted (its worker process silent); outcome unknown")

    def test_an_attempt_of_this_very_process_is_waited_for(self, two_processes) -> None:  # type: ignore[no-untyped-def]
        _, retry_door, engine, clock = two_processes
        inp = _input(_contact(engine), "run_self", Channel.EMAIL, Category.TRANSACTIONAL)
        assert retry_door.prepare(inp, "run_self:s:1", NOON, [], None, b"t").message is not None
        clock.at = WALL + SILENCE * 1.5  # no beat that late: but this process knows it is alive
        with pytest.raises(ApplicationError) as raised:
            retry_door.prepare(inp, "run_self:s:1", NOON, [], None, b"t2")
        assert raised.value.type == "AttemptInFlight"
