"""The worker process dying or being stopped mid-send: no duplicate, no silent loss.

"Exactly once" is counted at the receiving SMTP server, never from our own ledger.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.enrollment import enroll
from followthrough.settings import Settings
from followthrough.store import contacts, definitions, ledger, runs
from followthrough.store.db import session_scope
from tests.conftest import terminate_open_runs
from tests.support.processes import start_worker
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


def _setup(engine: Engine, category: str) -> int:
    document = {"name": f"crash_{category}", "kind": "sequence", "category": category,
                "locales": ["en"], "stop_on": [], "description": "",
                "steps": [{"id": "mail", "type": "send", "channel": "email", "template": "welcome"}]}
    with session_scope(engine) as session:
        definitions.save(session, document["name"], "sequence", document, publish=True)
        return contacts.create(session, {"name": "Kim", "email": "kim@example.test"}).id  # type: ignore[return-value]


def _state(engine: Engine, run_id: str) -> tuple[str, list[tuple[str, str]], list[tuple[str, int]]]:
    with session_scope(engine) as session:
        run = runs.get(session, run_id)
        steps = [(s.step_id, s.state) for s in runs.steps(session, run_id)]
        rows = [(d.state, d.attempts) for d in ledger.list_page(session, run_id=run_id)]
        return run.status, steps, rows


@pytest.fixture
async def crash_settings(edge_settings: Settings, engine: Engine, dev_env: WorkflowEnvironment):  # type: ignore[no-untyped-def]
    # A short SMTP timeout: a pending row is known to be over (-> uncertain) only at its
    # attempt's deadline, claim + smtp_timeout + the door's 30 s margin.
    yield edge_settings.model_copy(update={"task_queue": f"crash-{uuid.uuid4().hex[:10]}",
                                           "smtp_timeout": 5.0})
    await terminate_open_runs(engine, dev_env.client)


class TestWorkerKilledMidSend:
    @pytest.mark.parametrize(("category", "captures", "step_state"), [
        ("marketing", 1, "uncertain"),  # at-most-once: reported, never resent
        ("transactional", 2, "sent"),   # at-least-once: resent with the same Message-ID
    ])
    async def test_sigkill_while_smtp_holds_its_reply_to_data(
        self, dev_env: WorkflowEnvironment, engine: Engine, crash_settings: Settings,
        outbox: OutboxHandle, tmp_path: Path, category: str, captures: int, step_state: str,
    ) -> None:
        contact_id = _setup(engine, category)
        hold = threading.Event()
        outbox.smtp.hold_data = hold
        first = start_worker(crash_settings, dev_env.client, tmp_path / "worker1.log")
        second = None
        try:
            async def client():  # type: ignore[no-untyped-def]
                return dev_env.client

            run, _ = await enroll(engine, client, crash_settings, f"crash_{category}", contact_id, {})
            await eventually(lambda: _async(outbox.store.list(channel="email", limit=None)), timeout=30)
            assert _state(engine, run.id)[2] == [("pending", 1)]
            killed = time.monotonic()
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            hold.set()  # the reply now goes to a dead connection
            second = start_worker(crash_settings, dev_env.client, tmp_path / "worker2.log")

            async def ended():  # type: ignore[no-untyped-def]
                state = _state(engine, run.id)
                return state if state[0] != "running" else None

            # The second worker finds the first one's process gone (worker liveness) and fails
            # its attempt by task token: Temporal retries at once, not after the heartbeat
            # timeout (30 s), and the retry decides without waiting for the attempt's deadline
            # (claim + 5 s + 30 s).
            status, steps, rows = await eventually(ended, timeout=90)
            healed = time.monotonic() - killed
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
        emails = outbox.store.list(channel="email", limit=None)
        assert (status, steps) == ("completed", [("mail", step_state)])
        assert len(emails) == captures
        assert len({e.message_id for e in emails}) == 1
        assert rows == ([("uncertain", 1)] if category == "marketing" else [("sent", 2)])
        assert healed < 20, f"healed {healed:.1f} s after the kill"


class TestGracefulShutdown:
    async def test_sigint_during_a_send_delivers_it_once_and_exits_0(
        self, dev_env: WorkflowEnvironment, engine: Engine, crash_settings: Settings,
        outbox: OutboxHandle, tmp_path: Path,
    ) -> None:
        contact_id = _setup(engine, "marketing")
        outbox.smtp.data_delay = 3.0
        process = start_worker(crash_settings, dev_env.client, tmp_path / "worker.log")
        try:
            async def client():  # type: ignore[no-untyped-def]
                return dev_env.client

            run, _ = await enroll(engine, client, crash_settings, "crash_marketing", contact_id, {})
            await eventually(lambda: _async(outbox.store.list(channel="email", limit=None)), timeout=30)
            started = time.monotonic()
            process.send_signal(signal.SIGINT)
            code = await asyncio.to_thread(process.wait, 30)
            elapsed = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
        assert code == 0, (tmp_path / "worker.log").read_text()
        assert elapsed < 30
        assert _state(engine, run.id)[2] == [("sent", 1)]
        assert len(outbox.store.list(channel="email", limit=None)) == 1


class TestRunWatch:
    async def test_the_worker_records_a_run_that_cannot_make_progress(
        self, dev_env: WorkflowEnvironment, engine: Engine, crash_settings: Settings, tmp_path: Path,
    ) -> None:
        _setup(engine, "service")
        with session_scope(engine) as session:  # 3 MB: every workflow task fails, PAYLOADS_TOO_LARGE
            contact_id = contacts.create(session, {"name": "Huge", "email": "huge@example.test",
                                                   "attributes": {"notes": "x" * 3_000_000}}).id
        process = start_worker(crash_settings, dev_env.client, tmp_path / "worker.log",
                               FT_RUN_CHECK_INTERVAL="1")
        try:
            async def client():  # type: ignore[no-untyped-def]
                return dev_env.client

            run, _ = await enroll(engine, client, crash_settings, "crash_service", contact_id, {})

            async def recorded():  # type: ignore[no-untyped-def]
                with session_scope(engine) as session:
                    row = runs.get(session, run.id)
                    return (row.status, row.problem_code) if row.problem_code else None

            assert await eventually(recorded, timeout=30) == ("running", "PAYLOADS_TOO_LARGE")
        finally:
            process.kill()
            process.wait()


async def _async(value):  # type: ignore[no-untyped-def]
    return value
