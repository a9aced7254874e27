"""The suppression list on SQLite and PostgreSQL: idempotent adds (also racing), lookups, pages."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from followthrough.errors import NotFound
from followthrough.models.vocab import Channel
from followthrough.store import suppressions
from followthrough.store.db import session_scope
from followthrough.store.preferences import RevokedByContact


def add(engine: Engine, channel: Channel, address: str, reason: str = "bounce") -> tuple[int, bool]:
    with session_scope(engine) as session:
        row, created = suppressions.add(session, channel, address, reason=reason, source="bounce")
        return row.id, created  # type: ignore[return-value]


class TestAdd:
    def test_stores_the_entry_with_the_email_lower_cased(self, any_engine: Engine) -> None:
        sid, created = add(any_engine, Channel.EMAIL, " Anna@Example.TEST ", "550 5.1.1")
        assert created is True
        with session_scope(any_engine) as session:
            row = suppressions.list_page(session)[0]
        assert (row.id, row.channel, row.address, row.reason, row.source) == (
            sid, "email", "anna@example.test", "550 5.1.1", "bounce")

    def test_adding_again_returns_the_first_entry(self, any_engine: Engine) -> None:
        first = add(any_engine, Channel.EMAIL, "anna@example.test", "first")
        second = add(any_engine, Channel.EMAIL, "ANNA@example.test", "second")
        assert (first[1], second) == (True, (first[0], False))
        with session_scope(any_engine) as session:
            assert [r.reason for r in suppressions.list_page(session)] == ["first"]

    def test_ten_concurrent_adds_store_one_entry(self, any_engine: Engine) -> None:
        barrier = threading.Barrier(10)

        def attempt(_: int) -> tuple[int, bool]:
            barrier.wait(timeout=10)
            return add(any_engine, Channel.SMS, "+15555550101")

        with ThreadPoolExecutor(max_workers=10) as pool:
            results = list(pool.map(attempt, range(10)))
        assert [created for _, created in results].count(True) == 1
        assert len({sid for sid, _ in results}) == 1


class TestIsSuppressed:
    def test_matches_per_channel_and_ignores_email_case(self, any_engine: Engine) -> None:
        add(any_engine, Channel.EMAIL, "anna@example.test")
        add(any_engine, Channel.SMS, "+15555550101")
        with session_scope(any_engine) as session:
            assert suppressions.is_suppressed(session, Channel.EMAIL, "Anna@Example.test") is True
            assert suppressions.is_suppressed(session, Channel.SMS, "+15555550101") is True
            assert suppressions.is_suppressed(session, Channel.VOICE, "+15555550101") is False
            assert suppressions.is_suppressed(session, Channel.EMAIL, "bob@example.test") is False


class TestRemove:
    def test_removes_the_entry(self, any_engine: Engine) -> None:
        sid, _ = add(any_engine, Channel.SMS, "+15555550101")
        with session_scope(any_engine) as session:
            suppressions.remove(session, sid)
        with session_scope(any_engine) as session:
            assert suppressions.is_suppressed(session, Channel.SMS, "+15555550101") is False

    def test_unknown_id_is_not_found(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session, pytest.raises(NotFound, match="suppression 7"):
            suppressions.remove(session, 7)


class TestRemoveTheContactsOwnOptOut:
    @pytest.mark.parametrize(("source", "reason"), [("keyword", "SMS keyword stop"), ("provider", "twilio_21610")])
    def test_staff_cannot_lift_it(self, any_engine: Engine, source: str, reason: str) -> None:
        with session_scope(any_engine) as session:
            row, _ = suppressions.add(session, Channel.SMS, "+15555550102", reason=reason, source=source)
            sid = int(row.id or 0)
        with session_scope(any_engine) as session, pytest.raises(RevokedByContact) as raised:
            suppressions.remove(session, sid)
        assert (raised.value.status_code, raised.value.code, raised.value.message) == (
            409, "revoked_by_contact",
            f"The number's owner opted out themselves ({reason}); staff cannot lift it. "
            "Only a START texted from that number can.")
        with session_scope(any_engine) as session:
            assert suppressions.is_suppressed(session, Channel.SMS, "+15555550102") is True

    def test_the_numbers_start_lifts_it(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            row, _ = suppressions.add(session, Channel.SMS, "+15555550103", reason="stop", source="keyword")
            sid = int(row.id or 0)
        with session_scope(any_engine) as session:
            suppressions.remove(session, sid, source="keyword")
        with session_scope(any_engine) as session:
            assert suppressions.is_suppressed(session, Channel.SMS, "+15555550103") is False


class TestListPage:
    def test_newest_first_filtered_and_paged(self, any_engine: Engine) -> None:
        ids = [add(any_engine, Channel.SMS, f"+1555555010{i}")[0] for i in range(3)]
        email_id, _ = add(any_engine, Channel.EMAIL, "anna@example.test")
        with session_scope(any_engine) as session:
            assert [r.id for r in suppressions.list_page(session)] == [email_id, *reversed(ids)]
            assert [r.id for r in suppressions.list_page(session, Channel.SMS, limit=2)] == [ids[2], ids[1]]
            assert [r.id for r in suppressions.list_page(session, "sms", before=ids[1])] == [ids[0]]
