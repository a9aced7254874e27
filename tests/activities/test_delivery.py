"""The delivery activity's own bound on the provider call: an attempt ends, sent or not, in time
to record its outcome before its deadline (after which a retry may resend). Real SQLite, real
loopback SMTP server, the activity run by the SDK's ActivityEnvironment."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery import DeliveryActivities
from channels.outbox import OutboxHandle
from followthrough.liveness import Liveness
from followthrough.models.runs import DeliverInput
from followthrough.models.vocab import Category, Channel
from followthrough.settings import Settings
from followthrough.store import contacts, ledger
from followthrough.store import liveness as liveness_store
from followthrough.store.db import session_scope
from tests.support.stack import make_deps
from tests.support.waiting import eventually


async def _async(value):  # type: ignore[no-untyped-def]
    return value


def _env(start_to_close: timedelta) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, start_to_close_timeout=start_to_close)
    return env


def _input(engine: Engine, run: str) -> DeliverInput:
    with session_scope(engine) as session:
        contact = contacts.create(session, {"name": "Kim", "email": f"{run}@example.test"})
    return DeliverInput(run_id=run, step_id="mail", contact_id=contact.id, channel=Channel.EMAIL,  # type: ignore[arg-type]
                        template="welcome", category=Category.SERVICE)


def _row(engine: Engine, key: str) -> tuple[str, int, str | None]:
    with session_scope(engine) as session:
        row = ledger.get_by_key(session, key)
        assert row is not None
        return row.state, row.attempts, row.reason


@pytest.fixture
def slow_settings(edge_settings: Settings) -> Settings:
    """The longest SMTP session allowed: only the activity's own bound can end it sooner."""
    return edge_settings.model_copy(update={"smtp_timeout": 60.0})


class TestProviderCallBound:
    async def test_a_call_running_into_the_time_kept_for_recording_is_cut_off_as_unknown(
        self, slow_settings: Settings, engine: Engine, outbox: OutboxHandle
    ) -> None:
        deps = make_deps(slow_settings, engine)
        delivery = DeliveryActivities(deps.engine, deps.renderer, deps.channels, deps.settings)
        outbox.smtp.hold_data = threading.Event()  # the reply to DATA never comes
        inp = _input(engine, "run_cut")
        started = time.monotonic()
        # Deadline: claim + 17 s (start-to-close); 15 s of it are kept for recording: 2 s to send.
        with pytest.raises(ApplicationError) as raised:
            await _env(timedelta(seconds=17)).run(delivery.deliver, inp)
        took = time.monotonic() - started
        outbox.smtp.hold_data.set()
        assert raised.value.type == "UnknownOutcomeError"  # service mail: resent by the retry
        assert _row(engine, "run_cut:mail:1") == ("uncertain", 1, "provider call exceeded 2 s")
        assert 2.0 <= took < 4.0

    async def test_a_process_declared_dead_cuts_its_call_off_and_the_row_names_its_owner(
        self, slow_settings: Settings, engine: Engine, outbox: OutboxHandle
    ) -> None:
        deps = make_deps(slow_settings, engine)
        liveness = Liveness(engine, timedelta(seconds=5))  # a beat every 0.5 s; lease: 2.5 s
        liveness.start()
        delivery = DeliveryActivities(deps.engine, deps.renderer, deps.channels, deps.settings, liveness)
        outbox.smtp.hold_data = threading.Event()  # the reply to DATA never comes
        inp = _input(engine, "run_lost")
        attempt = asyncio.ensure_future(_env(timedelta(minutes=2)).run(delivery.deliver, inp))
        try:
            await eventually(lambda: _async(outbox.store.list(limit=None)), timeout=10)
            with session_scope(engine) as session:  # another worker found this one silent
                liveness_store.end(session, liveness.id, "silent", datetime.now(UTC))
            started = time.monotonic()
            with pytest.raises(ApplicationError) as raised:
                await attempt
            took = time.monotonic() - started
        finally:
            outbox.smtp.hold_data.set()
            liveness.stop()
        assert raised.value.type == "UnknownOutcomeError"
        assert _row(engine, "run_lost:mail:1") == (
            "uncertain", 1, "provider call cut off: this worker process's liveness lease ran out")
        assert took < 4.0  # the lease (2.5 s after the last beat), not the deadline (45 s)
        with session_scope(engine) as session:
            row = ledger.get_by_key(session, "run_lost:mail:1")
            assert row is not None and (row.attempt_owner, row.attempt_token) == (liveness.id, None)

    async def test_an_attempt_whose_claim_left_no_time_sends_nothing(
        self, slow_settings: Settings, engine: Engine, outbox: OutboxHandle
    ) -> None:
        deps = make_deps(slow_settings, engine)
        delivery = DeliveryActivities(deps.engine, deps.renderer, deps.channels, deps.settings)
        inp = _input(engine, "run_late")
        with pytest.raises(ApplicationError) as raised:
            await _env(timedelta(seconds=10)).run(delivery.deliver, inp)
        assert (raised.value.type, raised.value.non_retryable) == ("TransientChannelError", False)
        assert _row(engine, "run_late:mail:1") == (
            "retrying", 1, "attempt_late: attempt out of time before the provider call")
        assert outbox.store.list(limit=None) == []
