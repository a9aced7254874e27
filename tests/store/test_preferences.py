"""Consent and preferences on SQLite and PostgreSQL: defaults, partial updates, the timeline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from followthrough.errors import NotFound
from followthrough.models.vocab import Category, Channel
from followthrough.store import contacts, preferences
from followthrough.store.db import session_scope
from followthrough.store.tables import Consent, TimelineEntry

ALL_GRANTED = {channel: dict.fromkeys(Category, True) for channel in Channel}
PAUSE = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)


def new_contact(engine: Engine) -> int:
    with session_scope(engine) as session:
        return contacts.create(session, {"name": "Anna"}).id  # type: ignore[return-value]


def entries(engine: Engine, contact_id: int) -> list[tuple[str, str | None, dict]]:
    with session_scope(engine) as session:
        query = (select(TimelineEntry).where(TimelineEntry.contact_id == contact_id)
                 .order_by(col(TimelineEntry.id)))
        return [(e.kind, e.channel, e.data) for e in session.exec(query)]


def consent(engine: Engine, contact_id: int) -> dict[Channel, dict[Category, bool]]:
    with session_scope(engine) as session:
        return preferences.get(session, contact_id).consent


class TestGet:
    def test_a_new_contact_has_everything_granted_and_no_preferences(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            prefs = preferences.get(session, cid)
        assert prefs == preferences.Preferences(preferred_channel=None, paused_until=None,
                                                consent=ALL_GRANTED)

    def test_unknown_contact_is_not_found(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session, pytest.raises(NotFound, match="contact 99"):
            preferences.get(session, 99)


class TestRevoke:
    def test_none_revokes_every_category_of_that_channel_only(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            preferences.revoke(session, cid, Channel.SMS, source="keyword")
        assert consent(any_engine, cid) == ALL_GRANTED | {Channel.SMS: dict.fromkeys(Category, False)}
        assert entries(any_engine, cid) == [("consent.revoked", "sms", {
            "channel": "sms", "categories": ["transactional", "service", "sales", "marketing"],
            "source": "keyword",
        })]

    def test_some_categories_and_the_source_is_stored(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            preferences.revoke(session, cid, Channel.EMAIL, [Category.MARKETING], source="unsubscribe")
        with session_scope(any_engine) as session:
            rows = [(r.channel, r.category, r.granted, r.source) for r in session.exec(select(Consent))]
        assert rows == [("email", "marketing", False, "unsubscribe")]
        assert consent(any_engine, cid)[Channel.EMAIL] == {
            Category.TRANSACTIONAL: True, Category.SERVICE: True, Category.SALES: True,
            Category.MARKETING: False,
        }

    def test_repeating_a_revoke_records_it_once(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        for _ in range(2):
            with session_scope(any_engine) as session:
                preferences.revoke(session, cid, Channel.SMS, [Category.SALES], source="keyword")
        assert [kind for kind, _, _ in entries(any_engine, cid)] == ["consent.revoked"]

    def test_unknown_source_is_refused(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session, pytest.raises(ValueError, match="'fax'"):
            preferences.revoke(session, cid, Channel.SMS, source="fax")

    def test_unknown_contact_is_not_found(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session, pytest.raises(NotFound):
            preferences.revoke(session, 42, Channel.SMS, source="keyword")


class TestGrant:
    def test_grant_after_revoke_restores_consent_and_is_recorded(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            preferences.revoke(session, cid, Channel.SMS, source="keyword")
        with session_scope(any_engine) as session:
            preferences.grant(session, cid, Channel.SMS, [Category.SERVICE], source="keyword")
        assert consent(any_engine, cid)[Channel.SMS] == {
            Category.TRANSACTIONAL: False, Category.SERVICE: True, Category.SALES: False,
            Category.MARKETING: False,
        }
        assert entries(any_engine, cid)[1] == ("consent.granted", "sms", {
            "channel": "sms", "categories": ["service"], "source": "keyword"})

    def test_granting_what_is_granted_records_nothing(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            preferences.grant(session, cid, Channel.EMAIL, source="api")
        assert entries(any_engine, cid) == []


class TestUpdate:
    def test_sets_only_what_is_given(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            preferences.update(session, cid, preferred_channel=Channel.EMAIL, paused_until=PAUSE)
        with session_scope(any_engine) as session:
            prefs = preferences.update(session, cid, consent={Channel.VOICE: {Category.SALES: False}})
        assert (prefs.preferred_channel, prefs.paused_until) == (Channel.EMAIL, PAUSE)
        assert prefs.consent[Channel.VOICE][Category.SALES] is False

    def test_none_clears_the_channel_and_the_pause(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            preferences.update(session, cid, preferred_channel=Channel.SMS, paused_until=PAUSE)
        with session_scope(any_engine) as session:
            prefs = preferences.update(session, cid, preferred_channel=None, paused_until=None)
        assert (prefs.preferred_channel, prefs.paused_until) == (None, None)

    def test_mixed_answers_record_a_grant_and_a_revoke(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            preferences.revoke(session, cid, Channel.EMAIL, [Category.SALES], source="api")
        with session_scope(any_engine) as session:
            preferences.update(session, cid, consent={
                Channel.EMAIL: {Category.SALES: True, Category.MARKETING: False}})
        assert entries(any_engine, cid)[1:] == [
            ("consent.granted", "email", {"channel": "email", "categories": ["sales"], "source": "api"}),
            ("consent.revoked", "email", {"channel": "email", "categories": ["marketing"], "source": "api"}),
        ]


def revocation_sources(engine: Engine, contact_id: int) -> list[tuple[str, str, bool, str | None]]:
    with session_scope(engine) as session:
        query = select(Consent).where(Consent.contact_id == contact_id).order_by(col(Consent.id))
        return [(r.channel, r.category, r.granted, r.revocation_source) for r in session.exec(query)]


class TestRevokedByContact:
    """What the contact withdrew (STOP, unsubscribe page, carrier opt-out, bounce) staff cannot
    give back; the contact's own START or preference page can."""

    @pytest.mark.parametrize("source", ["keyword", "unsubscribe", "provider", "bounce"])
    def test_staff_cannot_grant_back(self, any_engine: Engine, source: str) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            preferences.revoke(session, cid, Channel.SMS, [Category.SALES], source=source)
        with session_scope(any_engine) as session, pytest.raises(preferences.RevokedByContact) as raised:
            preferences.update(session, cid, consent={Channel.SMS: {Category.SALES: True}})
        assert (raised.value.status_code, raised.value.code) == (409, "revoked_by_contact")
        assert [(e.path, e.message) for e in raised.value.errors] == [
            ("/consent/sms/sales", f"withdrawn by the contact ({source})")]
        assert consent(any_engine, cid)[Channel.SMS][Category.SALES] is False
        assert revocation_sources(any_engine, cid) == [("sms", "sales", False, source)]

    def test_nothing_is_written_when_one_answer_is_refused(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            preferences.revoke(session, cid, Channel.EMAIL, [Category.MARKETING], source="unsubscribe")
        with session_scope(any_engine) as session, pytest.raises(preferences.RevokedByContact):
            preferences.update(session, cid, preferred_channel=Channel.SMS, consent={
                Channel.VOICE: {Category.SALES: False}, Channel.EMAIL: {Category.MARKETING: True}})
        with session_scope(any_engine) as session:
            prefs = preferences.get(session, cid)
        assert (prefs.preferred_channel, prefs.consent) == (
            None, ALL_GRANTED | {Channel.EMAIL: ALL_GRANTED[Channel.EMAIL] | {Category.MARKETING: False}})

    def test_grant_from_staff_is_refused_too(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            preferences.revoke(session, cid, Channel.SMS, source="keyword")
        with session_scope(any_engine) as session, pytest.raises(preferences.RevokedByContact) as raised:
            preferences.grant(session, cid, Channel.SMS, [Category.SERVICE, Category.SALES], source="api")
        assert [e.path for e in raised.value.errors] == ["/consent/sms/sales", "/consent/sms/service"]
        assert raised.value.message == (
            "The contact withdrew this consent themselves (an SMS STOP keyword); staff cannot give "
            "it back. Only the contact can: by texting START for SMS, or on the preference page "
            "linked from every message.")

    @pytest.mark.parametrize("regrant", ["keyword", "unsubscribe"])
    def test_the_contact_can_grant_back_and_then_staff_may_change_it(
        self, any_engine: Engine, regrant: str
    ) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            preferences.revoke(session, cid, Channel.SMS, [Category.SALES], source="keyword")
        with session_scope(any_engine) as session:
            preferences.grant(session, cid, Channel.SMS, [Category.SALES], source=regrant)
        assert revocation_sources(any_engine, cid) == [("sms", "sales", True, None)]
        with session_scope(any_engine) as session:
            preferences.update(session, cid, consent={Channel.SMS: {Category.SALES: False}})
        with session_scope(any_engine) as session:
            preferences.update(session, cid, consent={Channel.SMS: {Category.SALES: True}})
        assert consent(any_engine, cid)[Channel.SMS][Category.SALES] is True

    def test_a_staff_revocation_is_undone_by_staff(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            preferences.revoke(session, cid, Channel.EMAIL, [Category.SALES], source="api")
        assert revocation_sources(any_engine, cid) == [("email", "sales", False, "api")]
        with session_scope(any_engine) as session:
            preferences.grant(session, cid, Channel.EMAIL, [Category.SALES], source="api")
        assert revocation_sources(any_engine, cid) == [("email", "sales", True, None)]

    def test_the_contact_withdrawing_what_staff_withdrew_sticks(self, any_engine: Engine) -> None:
        cid = new_contact(any_engine)
        with session_scope(any_engine) as session:
            preferences.revoke(session, cid, Channel.SMS, [Category.SALES], source="api")
        with session_scope(any_engine) as session:
            preferences.revoke(session, cid, Channel.SMS, [Category.SALES], source="keyword")
        with session_scope(any_engine) as session:
            preferences.revoke(session, cid, Channel.SMS, [Category.SALES], source="api")
        assert revocation_sources(any_engine, cid) == [("sms", "sales", False, "keyword")]
        assert [kind for kind, _, _ in entries(any_engine, cid)] == ["consent.revoked"]
        with session_scope(any_engine) as session, pytest.raises(preferences.RevokedByContact):
            preferences.grant(session, cid, Channel.SMS, [Category.SALES], source="api")
