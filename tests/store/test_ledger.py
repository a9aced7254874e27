"""The delivery ledger on SQLite and PostgreSQL: one row per key (also under a race), callbacks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from followthrough.models.vocab import LedgerState
from followthrough.store import contacts, ledger
from followthrough.store.db import as_utc, session_scope
from followthrough.store.tables import Delivery


def fields(key: str, **extra: object) -> dict[str, object]:
    return {
        "key": key, "run_id": "run_1", "step_id": "welcome", "channel": "sms",
        "category": "service", "template": "welcome", "locale": "en", "to_address": "+15550001",
        "state": LedgerState.PENDING, **extra,
    }


def create(engine: Engine, key: str, **extra: object) -> Delivery | None:
    with session_scope(engine) as session:
        return ledger.create(session, **fields(key, **extra))


def row_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(Delivery)).one()


class TestCreate:
    def test_create_inserts_a_pending_row(self, any_engine: Engine) -> None:
        row = create(any_engine, "k1")
        assert row is not None
        with session_scope(any_engine) as session:
            stored = ledger.get_by_key(session, "k1")
            assert stored is not None
            assert stored.id == row.id
            assert (stored.state, stored.channel, stored.to_address) == (
                LedgerState.PENDING, "sms", "+15550001",
            )
            assert (stored.visit, stored.attempts, stored.provider_id, stored.sent_at) == (
                1, 0, None, None,
            )

    def test_duplicate_key_returns_none_and_keeps_the_first_row(self, any_engine: Engine) -> None:
        first = create(any_engine, "k1", to_address="+15550001")
        second = create(any_engine, "k1", to_address="+15559999")
        assert first is not None
        assert second is None
        with session_scope(any_engine) as session:
            stored = ledger.get_by_key(session, "k1")
            assert stored is not None
            assert (stored.id, stored.to_address) == (first.id, "+15550001")
        assert row_count(any_engine) == 1

    def test_duplicate_leaves_the_callers_transaction_usable(self, any_engine: Engine) -> None:
        create(any_engine, "k1")
        with session_scope(any_engine) as session:
            assert ledger.create(session, **fields("k1")) is None
            assert ledger.create(session, **fields("k2")) is not None
        assert row_count(any_engine) == 2

    def test_ten_concurrent_creates_insert_exactly_one(self, any_engine: Engine) -> None:
        barrier = threading.Barrier(10)

        def attempt(i: int) -> int | None:
            barrier.wait(timeout=10)
            row = create(any_engine, "race-key", reason=f"worker {i}")
            return None if row is None else row.id

        with ThreadPoolExecutor(max_workers=10) as pool:
            results = list(pool.map(attempt, range(10)))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        assert results.count(None) == 9
        assert row_count(any_engine) == 1
        with session_scope(any_engine) as session:
            assert ledger.get_by_key(session, "race-key").id == winners[0]  # type: ignore[union-attr]

    def test_get_by_key_for_update(self, any_engine: Engine) -> None:
        create(any_engine, "k1")
        with session_scope(any_engine) as session:
            assert ledger.get_by_key(session, "k1", for_update=True).key == "k1"  # type: ignore[union-attr]
            assert ledger.get_by_key(session, "missing", for_update=True) is None


class TestUpdate:
    def test_update_sets_fields_and_bumps_updated_at(self, any_engine: Engine) -> None:
        row = create(any_engine, "k1")
        assert row is not None
        with session_scope(any_engine) as session:
            stored = ledger.get_by_key(session, "k1")
            assert stored is not None
            ledger.update(session, stored, state=LedgerState.SENT, provider_id="SM1", attempts=1)
        with session_scope(any_engine) as session:
            stored = ledger.get_by_key(session, "k1")
            assert stored is not None
            assert (stored.state, stored.provider_id, stored.attempts) == (
                LedgerState.SENT, "SM1", 1,
            )
            assert as_utc(stored.updated_at) > as_utc(row.updated_at)  # type: ignore[operator]


class TestApplyProviderStatus:
    @pytest.mark.parametrize(
        ("status", "state"),
        [
            ("delivered", LedgerState.DELIVERED),
            ("read", LedgerState.DELIVERED),
            ("completed", LedgerState.DELIVERED),
            ("undelivered", LedgerState.UNDELIVERED),
            ("busy", LedgerState.UNDELIVERED),
            ("no-answer", LedgerState.UNDELIVERED),
            ("failed", LedgerState.FAILED),
            ("canceled", LedgerState.FAILED),
            ("Delivered", LedgerState.DELIVERED),
        ],
    )
    def test_maps_provider_words(
        self, any_engine: Engine, status: str, state: LedgerState
    ) -> None:
        create(any_engine, "k1", state=LedgerState.SENT, provider_id="SM1")
        with session_scope(any_engine) as session:
            row = ledger.apply_provider_status(session, "SM1", status)
            assert row is not None
        with session_scope(any_engine) as session:
            stored = ledger.by_message_id(session, "SM1")
            assert stored is not None
            assert (stored.key, stored.state, stored.provider_status, stored.reason) == (
                "k1", state, status, None,
            )

    def test_unmapped_word_is_recorded_without_moving_state(self, any_engine: Engine) -> None:
        create(any_engine, "k1", state=LedgerState.SENT, provider_id="SM1")
        with session_scope(any_engine) as session:
            ledger.apply_provider_status(session, "SM1", "queued")
        with session_scope(any_engine) as session:
            stored = ledger.by_message_id(session, "SM1")
            assert stored is not None
            assert (stored.state, stored.provider_status) == (LedgerState.SENT, "queued")

    def test_reason_is_recorded(self, any_engine: Engine) -> None:
        create(any_engine, "k1", state=LedgerState.SENT, provider_id="SM1")
        with session_scope(any_engine) as session:
            ledger.apply_provider_status(session, "SM1", "undelivered", "30003")
        with session_scope(any_engine) as session:
            stored = ledger.by_message_id(session, "SM1")
            assert stored is not None
            assert (stored.state, stored.reason) == (LedgerState.UNDELIVERED, "30003")

    def test_unknown_sid_is_ignored(self, any_engine: Engine) -> None:
        create(any_engine, "k1", state=LedgerState.SENT, provider_id="SM1")
        with session_scope(any_engine) as session:
            assert ledger.apply_provider_status(session, "SM404", "delivered") is None
        with session_scope(any_engine) as session:
            stored = ledger.by_message_id(session, "SM1")
            assert stored is not None
            assert (stored.state, stored.provider_status) == (LedgerState.SENT, None)


class TestListPage:
    def test_newest_first_with_cursor(self, any_engine: Engine) -> None:
        ids = [create(any_engine, f"k{i}").id for i in range(5)]  # type: ignore[union-attr]
        with session_scope(any_engine) as session:
            first = ledger.list_page(session, limit=3)
            second = ledger.list_page(session, before=first[-1].id, limit=3)
        assert [r.id for r in first + second] == ids[::-1]
        assert [len(first), len(second)] == [3, 2]

    def test_filters(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            contact_id = contacts.create(session, {"name": "Ann"}).id
        a = create(any_engine, "a", contact_id=contact_id, channel="email", state=LedgerState.SENT)
        b = create(any_engine, "b", contact_id=contact_id, run_id="run_2")
        c = create(any_engine, "c", channel="email", run_id="run_2", state=LedgerState.FAILED)
        assert a and b and c

        def keys(**filters: object) -> list[str]:
            with session_scope(any_engine) as session:
                return [r.key for r in ledger.list_page(session, **filters)]  # type: ignore[arg-type]

        assert keys(contact_id=contact_id) == ["b", "a"]
        assert keys(run_id="run_2") == ["c", "b"]
        assert keys(channel="email") == ["c", "a"]
        assert keys(state=LedgerState.PENDING) == ["b"]
        assert keys(channel="email", state=LedgerState.FAILED) == ["c"]
        assert keys(channel="voice") == []


def test_a_new_record_has_every_column_a_delivery_has_with_its_defaults() -> None:
    """``new_record`` (the door's claim) stands for ``Delivery(...)``: the same columns, the same
    defaults, fresh mutable ones for each record."""
    fields = {"key": "k", "channel": "sms", "category": "service", "state": "retrying"}
    record, model = ledger.new_record(**fields), Delivery(**fields)
    columns = [c.name for c in Delivery.__table__.columns]  # type: ignore[attr-defined]
    moments = {"created_at", "updated_at"}
    assert {c: getattr(record, c) for c in columns if c not in moments} == {
        c: getattr(model, c) for c in columns if c not in moments}
    assert all(abs(getattr(record, c) - getattr(model, c)) < timedelta(seconds=5) for c in moments)
    assert ledger.new_record(**fields).failed_channels is not record.failed_channels
