"""The contact policy state on SQLite and PostgreSQL, and the per-contact lock under a race."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from followthrough.models.vocab import Category, Channel, LedgerState
from followthrough.policy.contact_policy import (
    Cap,
    CategoryPolicy,
    ContactPolicyState,
    Hold,
    PolicyConfig,
    RecentSend,
)
from followthrough.store import contacts, holds, ledger, policy_state, preferences, suppressions
from followthrough.store.db import session_scope
from followthrough.store.tables import Contact, Delivery

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
ANNA = {"name": "Anna", "email": "anna@example.test", "phone": "+79123456789",
        "time_zone": "Europe/Moscow"}


def new_contact(engine: Engine, **fields: object) -> int:
    with session_scope(engine) as session:
        return contacts.create(session, {**ANNA, **fields}).id  # type: ignore[return-value]


def load(engine: Engine, cid: int, config: PolicyConfig | None = None) -> ContactPolicyState:
    with session_scope(engine) as session:
        return policy_state.load_state(session, contacts.get(session, cid), NOW, config or PolicyConfig())


def deliver(engine: Engine, cid: int, key: str, category: str, state: LedgerState,
            sent_at: datetime | None, created_at: datetime, channel: str = "email") -> None:
    with session_scope(engine) as session:
        ledger.create(session, key=key, contact_id=cid, channel=channel, category=category,
                      state=state, sent_at=sent_at, created_at=created_at)


class TestLoadState:
    def test_a_plain_contact(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine, phone=None, attributes={})
        assert load(any_engine, cid) == ContactPolicyState(
            time_zone="Europe/Moscow", addresses={Channel.EMAIL: "anna@example.test"})

    def test_consent_suppression_preferences_and_holds(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        pause = NOW + timedelta(days=3)
        with session_scope(any_engine) as session:
            preferences.revoke(session, cid, Channel.SMS, [Category.MARKETING], source="keyword")
            preferences.revoke(session, cid, Channel.EMAIL, [Category.SALES], source="unsubscribe")
            preferences.update(session, cid, preferred_channel=Channel.VOICE, paused_until=pause)
            suppressions.add(session, Channel.EMAIL, "ANNA@example.test", reason="550", source="bounce")
            suppressions.add(session, Channel.SMS, "+79123456789", reason="21610", source="provider")
            hid = holds.create(session, cid, [Category.SALES], None, "complaint").id
            lifted = holds.create(session, cid, [Category.SERVICE], None, "")
            holds.lift(session, lifted.id)  # type: ignore[arg-type]
        state = load(any_engine, cid)
        assert state.addresses == {Channel.EMAIL: "anna@example.test", Channel.SMS: "+79123456789",
                                   Channel.VOICE: "+79123456789"}
        assert state.revoked == [(Channel.SMS, Category.MARKETING), (Channel.EMAIL, Category.SALES)]
        assert state.suppressed_channels == [Channel.EMAIL, Channel.SMS]
        assert (state.preferred_channel, state.paused_until) == (Channel.VOICE, pause)
        assert state.holds == [Hold(id=hid, categories=[Category.SALES], until=None, reason="complaint")]

    @pytest.mark.parametrize("kind", ["consent", "suppression", "preference", "hold"])
    def test_each_kind_alone_is_read(self, any_engine: Engine, kind: str) -> None:
        """load_state reads a kind only when its probe finds a row: each alone must be found,
        and a row that does not apply (another contact's, an address not the contact's, an
        expired hold) must not count."""
        cid, other = new_contact(any_engine), new_contact(any_engine, email="ben@example.test")
        with session_scope(any_engine) as session:
            holds.create(session, cid, [Category.SERVICE], NOW - timedelta(hours=1), "expired")
            suppressions.add(session, Channel.EMAIL, "ben@example.test", reason="550", source="bounce")
            preferences.revoke(session, other, Channel.EMAIL, [Category.SALES], source="api")
            preferences.update(session, other, preferred_channel=Channel.SMS)
            if kind == "consent":
                preferences.revoke(session, cid, Channel.SMS, [Category.MARKETING], source="keyword")
            elif kind == "suppression":
                suppressions.add(session, Channel.SMS, "+79123456789", reason="21610", source="provider")
            elif kind == "preference":
                preferences.update(session, cid, preferred_channel=Channel.VOICE)
            else:
                hid = holds.create(session, cid, [Category.SALES], NOW + timedelta(days=1), "complaint").id
        state = load(any_engine, cid)
        assert state.revoked == ([(Channel.SMS, Category.MARKETING)] if kind == "consent" else [])
        assert state.suppressed_channels == ([Channel.SMS] if kind == "suppression" else [])
        assert state.preferred_channel == (Channel.VOICE if kind == "preference" else None)
        assert state.holds == ([Hold(id=hid, categories=[Category.SALES], until=NOW + timedelta(days=1),
                                     reason="complaint")] if kind == "hold" else [])

    def test_recent_counts_claimed_and_sent_rows_within_the_longest_window(self, any_engine: Engine) -> None:
        cid, other = new_contact(any_engine), new_contact(any_engine)
        old = NOW - timedelta(days=30)
        deliver(any_engine, cid, "a", "marketing", LedgerState.SENT, NOW - timedelta(days=2), old)
        deliver(any_engine, cid, "b", "sales", LedgerState.PENDING, None, NOW - timedelta(hours=1), "sms")
        deliver(any_engine, cid, "c", "marketing", LedgerState.UNCERTAIN, NOW - timedelta(days=6, hours=23), old)
        deliver(any_engine, cid, "d", "marketing", LedgerState.SENT, NOW - timedelta(days=8), old)
        deliver(any_engine, cid, "e", "service", LedgerState.DELIVERED, NOW - timedelta(days=7), old)
        deliver(any_engine, cid, "f", "marketing", LedgerState.FAILED, NOW - timedelta(days=1), old)
        deliver(any_engine, cid, "g", "marketing", LedgerState.DEFERRED, None, NOW - timedelta(hours=2))
        deliver(any_engine, cid, "h", "sales", LedgerState.SKIPPED, None, NOW - timedelta(hours=2))
        deliver(any_engine, other, "i", "sales", LedgerState.SENT, NOW - timedelta(hours=1), old)
        assert load(any_engine, cid).recent == [
            RecentSend(category=Category.MARKETING, channel=Channel.EMAIL, at=NOW - timedelta(days=6, hours=23)),
            RecentSend(category=Category.MARKETING, channel=Channel.EMAIL, at=NOW - timedelta(days=2)),
            RecentSend(category=Category.SALES, channel=Channel.SMS, at=NOW - timedelta(hours=1)),
        ]
        one_day = PolicyConfig(categories={Category.SALES: CategoryPolicy(caps=[Cap(limit=1, window=timedelta(hours=1))])})
        assert [s.at for s in load(any_engine, cid, one_day).recent] == [NOW - timedelta(hours=1)]


class TestLookback:
    @pytest.mark.parametrize(("windows", "expected"), [
        ([], timedelta(days=1)),
        ([timedelta(hours=6)], timedelta(days=1)),
        ([timedelta(days=1), timedelta(days=30)], timedelta(days=30)),
    ])
    def test_longest_cap_window_at_least_a_day(self, windows: list[timedelta], expected: timedelta) -> None:
        config = PolicyConfig(categories={
            Category.SALES: CategoryPolicy(caps=[Cap(limit=1, window=w) for w in windows])})
        assert policy_state.lookback(config) == expected

    def test_defaults_look_back_a_week(self) -> None:
        assert policy_state.lookback(PolicyConfig()) == timedelta(days=7)


class TestHolidays:
    @pytest.mark.parametrize(("fields", "expected"), [
        # Russia from the phone number: 8 March and its transferred day off, 9 March.
        ({}, [date(2026, 3, 8), date(2026, 3, 9)]),
        # The country attribute wins over the number: Hungary's 15 March and Good Friday (3 April).
        ({"attributes": {"country": "hu"}, "time_zone": "Europe/Budapest"},
         [date(2026, 3, 15), date(2026, 4, 3), date(2026, 4, 5)]),
        ({"phone": None}, []),
        ({"attributes": {"country": "XX"}}, []),
        ({"phone": "+881612345678"}, []),  # non-geographic (satellite): no country
    ])
    def test_public_holidays_from_now_minus_a_day_to_thirty_days_ahead(
        self, any_engine: Engine, fields: dict, expected: list[date]
    ) -> None:
        cid = new_contact(any_engine, **fields)
        assert load(any_engine, cid).holidays == expected

    def test_local_dates_decide_the_range(self) -> None:
        # 20:00 UTC on 24 Feb: a day earlier is still 23 Feb (Defender's Day) in UTC, but
        # already 24 Feb in Tokyo, so the holiday is behind the Tokyo contact.
        now = datetime(2026, 2, 24, 20, 0, tzinfo=UTC)
        utc = Contact(id=1, phone="+79123456789", time_zone="UTC", attributes={})
        tokyo = Contact(id=2, phone="+79123456789", time_zone="Asia/Tokyo", attributes={})
        assert policy_state.contact_holidays(utc, now) == [date(2026, 2, 23), date(2026, 3, 8), date(2026, 3, 9)]
        assert policy_state.contact_holidays(tokyo, now) == [date(2026, 3, 8), date(2026, 3, 9)]


CAP = 3
RACE_CONFIG = PolicyConfig(categories={
    Category.MARKETING: CategoryPolicy(caps=[Cap(limit=CAP, window=timedelta(days=7))])})


def race(engine: Engine, cid: int, *, lock: bool, pause: float) -> list[bool]:
    """20 threads: (lock), load the state, count marketing sends, insert a row when under cap."""
    barrier = threading.Barrier(20)

    def attempt(i: int) -> bool:
        barrier.wait(timeout=30)
        with session_scope(engine) as session:
            if lock:
                policy_state.lock_contact(session, cid)
            now = datetime.now(UTC)
            state = policy_state.load_state(session, contacts.get(session, cid), now, RACE_CONFIG)
            if sum(s.category == Category.MARKETING for s in state.recent) >= CAP:
                return False
            time.sleep(pause)  # widen the gap between reading and claiming
            ledger.create(session, key=f"race-{i}", contact_id=cid, channel="email",
                          category="marketing", state=LedgerState.PENDING)
            return True

    with ThreadPoolExecutor(max_workers=20) as pool:
        return list(pool.map(attempt, range(20)))


def marketing_rows(engine: Engine, cid: int) -> int:
    with session_scope(engine) as session:
        query = select(func.count()).select_from(Delivery).where(Delivery.contact_id == cid)
        return session.exec(query).one()


class TestLockContact:
    def test_twenty_racing_deciders_never_exceed_the_cap(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        results = race(any_engine, cid, lock=True, pause=0.01)
        assert results.count(True) == CAP
        assert marketing_rows(any_engine, cid) == CAP

    def test_without_the_lock_postgresql_exceeds_the_cap(self, any_engine: Engine) -> None:
        # The control: it shows the race above is real, so its passing means the lock works.
        # (SQLite needs no lock: BEGIN IMMEDIATE serialises every transaction anyway.)
        if any_engine.dialect.name != "postgresql":
            pytest.skip("SQLite transactions are serialised without the lock")
        cid = new_contact(any_engine)
        results = race(any_engine, cid, lock=False, pause=0.3)
        assert results.count(True) > CAP
        assert marketing_rows(any_engine, cid) == results.count(True)
