"""Holds on SQLite and PostgreSQL: placing, lifting, what is active at an instant, the timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from followthrough.errors import NotFound
from followthrough.models.vocab import Category
from followthrough.policy.contact_policy import Hold
from followthrough.store import contacts, holds
from followthrough.store.db import as_utc, session_scope
from followthrough.store.tables import TimelineEntry

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)


def new_contact(engine: Engine) -> int:
    with session_scope(engine) as session:
        return contacts.create(session, {"name": "Anna"}).id  # type: ignore[return-value]


def place(engine: Engine, cid: int, categories: list[Category], until: datetime | None,
          reason: str = "complaint") -> int:
    with session_scope(engine) as session:
        return holds.create(session, cid, categories, until, reason).id  # type: ignore[return-value]


def kinds(engine: Engine, cid: int) -> list[tuple[str, str, dict]]:
    with session_scope(engine) as session:
        query = select(TimelineEntry).where(TimelineEntry.contact_id == cid).order_by(col(TimelineEntry.id))
        return [(e.kind, e.summary, e.data) for e in session.exec(query)]


class TestCreate:
    def test_stores_the_hold_and_records_it(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        until = NOW + timedelta(days=2)
        hid = place(any_engine, cid, [Category.SALES, Category.MARKETING, Category.SALES], until)
        with session_scope(any_engine) as session:
            row = holds.get(session, hid)
            assert (row.contact_id, row.categories, as_utc(row.until), row.reason, row.lifted_at) == (
                cid, ["sales", "marketing"], until, "complaint", None)
        assert kinds(any_engine, cid) == [(
            "hold.placed", "hold on sales, marketing until 2026-03-08T12:00:00+00:00: complaint",
            {"hold_id": hid, "categories": ["sales", "marketing"],
             "until": "2026-03-08T12:00:00+00:00", "reason": "complaint"},
        )]

    def test_unknown_contact_is_not_found(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session, pytest.raises(NotFound):
            holds.create(session, 5, [Category.SALES], None, "")


class TestActive:
    def test_only_unlifted_unexpired_holds_count(self, any_engine: Engine) -> None:
        cid, other = new_contact(any_engine), new_contact(any_engine)
        open_id = place(any_engine, cid, [Category.SALES], None)
        later_id = place(any_engine, cid, [Category.MARKETING], NOW + timedelta(hours=1), "")
        place(any_engine, cid, [Category.SERVICE], NOW)  # ends exactly now: over
        lifted = place(any_engine, cid, [Category.SERVICE], None)
        place(any_engine, other, [Category.SALES], None)
        with session_scope(any_engine) as session:
            holds.lift(session, lifted)
        with session_scope(any_engine) as session:
            assert holds.active(session, cid, NOW) == [
                Hold(id=open_id, categories=[Category.SALES], until=None, reason="complaint"),
                Hold(id=later_id, categories=[Category.MARKETING], until=NOW + timedelta(hours=1), reason=""),
            ]


class TestLift:
    def test_lifting_twice_records_once(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        hid = place(any_engine, cid, [Category.SALES], None)
        for _ in range(2):
            with session_scope(any_engine) as session:
                row = holds.lift(session, hid, contact_id=cid)
        assert row.lifted_at is not None
        assert [k for k, _, _ in kinds(any_engine, cid)] == ["hold.placed", "hold.lifted"]
        assert kinds(any_engine, cid)[1][2] == {"hold_id": hid, "categories": ["sales"]}

    def test_another_contacts_hold_is_not_found(self, any_engine: Engine) -> None:
        cid, other = new_contact(any_engine), new_contact(any_engine)
        hid = place(any_engine, cid, [Category.SALES], None)
        with session_scope(any_engine) as session, pytest.raises(NotFound, match=f"for contact {other}"):
            holds.lift(session, hid, contact_id=other)


class TestListForContact:
    def test_lists_every_hold_oldest_first(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        first = place(any_engine, cid, [Category.SALES], None)
        second = place(any_engine, cid, [Category.MARKETING], NOW)
        with session_scope(any_engine) as session:
            assert [r.id for r in holds.list_for_contact(session, cid)] == [first, second]
