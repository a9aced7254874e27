"""Inbound messages on SQLite and PostgreSQL: dedupe by provider id, listing."""

from __future__ import annotations

from sqlalchemy import Engine, func
from sqlmodel import select

from followthrough.store import contacts, inbound
from followthrough.store.db import session_scope
from followthrough.store.tables import InboundMessage


def store(engine: Engine, **extra: object) -> tuple[InboundMessage, bool]:
    fields: dict[str, object] = {
        "channel": "sms", "from_address": "+15550001", "to_address": "+15559999",
        "body": "Да, перезвоните", **extra,
    }
    with session_scope(engine) as session:
        return inbound.store(session, **fields)


def row_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(InboundMessage)).one()


class TestStore:
    def test_stores_every_field(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            contact_id = contacts.create(session, {"name": "Ann"}).id
        raw = {"MessageSid": "SM1", "Body": "Да, перезвоните", "NumSegments": "1"}
        row, created = store(
            any_engine, provider_id="SM1", contact_id=contact_id, matched=True, raw=raw
        )
        assert created is True
        with session_scope(any_engine) as session:
            stored = session.get(InboundMessage, row.id)
            assert stored is not None
            assert (stored.channel, stored.provider_id, stored.from_address, stored.to_address) == (
                "sms", "SM1", "+15550001", "+15559999",
            )
            assert (stored.body, stored.contact_id, stored.matched, stored.raw) == (
                "Да, перезвоните", contact_id, True, raw,
            )

    def test_same_provider_id_returns_the_existing_row(self, any_engine: Engine) -> None:
        first, first_created = store(any_engine, provider_id="SM1", body="first")
        second, second_created = store(any_engine, provider_id="SM1", body="retry")
        assert (first_created, second_created) == (True, False)
        assert (second.id, second.body) == (first.id, "first")
        assert row_count(any_engine) == 1

    def test_rows_without_provider_id_always_insert(self, any_engine: Engine) -> None:
        results = [store(any_engine, provider_id=None), store(any_engine), store(any_engine, provider_id="")]
        assert [created for _, created in results] == [True, True, True]
        assert len({row.id for row, _ in results}) == 3
        assert row_count(any_engine) == 3

    def test_different_provider_ids_insert(self, any_engine: Engine) -> None:
        store(any_engine, provider_id="SM1")
        _, created = store(any_engine, provider_id="SM2")
        assert created is True
        assert row_count(any_engine) == 2


class TestListPage:
    def test_newest_first_with_cursor(self, any_engine: Engine) -> None:
        ids = [store(any_engine, provider_id=f"SM{i}")[0].id for i in range(5)]
        with session_scope(any_engine) as session:
            first = inbound.list_page(session, matched=None, before=None, limit=3)
            second = inbound.list_page(session, matched=None, before=first[-1].id, limit=3)
        assert [r.id for r in first + second] == ids[::-1]

    def test_matched_filter(self, any_engine: Engine) -> None:
        a, _ = store(any_engine, provider_id="SM1", matched=True)
        b, _ = store(any_engine, provider_id="SM2")
        c, _ = store(any_engine, provider_id="SM3", matched=True)
        with session_scope(any_engine) as session:
            matched = inbound.list_page(session, matched=True, before=None, limit=10)
            unmatched = inbound.list_page(session, matched=False, before=None, limit=10)
            every = inbound.list_page(session, matched=None, before=None, limit=10)
        assert [r.id for r in matched] == [c.id, a.id]
        assert [r.id for r in unmatched] == [b.id]
        assert [r.id for r in every] == [c.id, b.id, a.id]
