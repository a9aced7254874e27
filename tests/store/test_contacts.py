"""The contacts store on SQLite and PostgreSQL: CRUD, upsert, uniqueness, lookups, JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from followthrough.errors import Conflict, NotFound
from followthrough.store import contacts
from followthrough.store.db import as_utc, session_scope
from followthrough.store.tables import Contact

ANNA = {
    "name": "Anna Kovács",
    "email": "Anna@Example.TEST",
    "phone": "+36301234567",
    "locale": "hu-HU",
    "time_zone": "Europe/Budapest",
    "attributes": {"plan": "pro"},
    "external_id": "crm-1",
    "given_name": "Anna",
    "family_name": "Kovács",
    "owner_id": None,
}


def create(engine: Engine, **fields: object) -> int:
    with session_scope(engine) as session:
        contact = contacts.create(session, fields)
        assert contact.id is not None
        return contact.id


def count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return len(contacts.list_page(session, after=None, limit=1000))


class TestCreateAndGet:
    def test_create_assigns_id_and_defaults(self, any_engine: Engine) -> None:
        contact_id = create(any_engine, name="Bob")
        with session_scope(any_engine) as session:
            contact = contacts.get(session, contact_id)
            assert (contact.name, contact.email, contact.phone, contact.external_id) == (
                "Bob", None, None, None,
            )
            assert (contact.locale, contact.time_zone, contact.attributes) == ("en", "UTC", {})

    def test_get_reads_back_every_field(self, any_engine: Engine) -> None:
        contact_id = create(any_engine, **ANNA)
        with session_scope(any_engine) as session:
            contact = contacts.get(session, contact_id)
            assert contact.model_dump(exclude={"id", "created_at", "updated_at"}) == ANNA

    def test_timestamps_are_utc_now(self, any_engine: Engine) -> None:
        before = datetime.now(UTC)
        contact_id = create(any_engine, name="Bob")
        after = datetime.now(UTC)
        with session_scope(any_engine) as session:
            contact = contacts.get(session, contact_id)
            created = as_utc(contact.created_at)
            assert created is not None
            assert before <= created <= after

    def test_get_missing_raises_not_found(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session, pytest.raises(NotFound) as info:
            contacts.get(session, 424242)
        assert info.value.message == "contact 424242 does not exist"

    def test_duplicate_external_id_is_conflict(self, any_engine: Engine) -> None:
        create(any_engine, name="First", external_id="crm-1")
        with pytest.raises(Conflict) as info, session_scope(any_engine) as session:
            contacts.create(session, {"name": "Second", "external_id": "crm-1"})
        assert info.value.message == "a contact with external_id 'crm-1' already exists"
        assert count(any_engine) == 1

    def test_contacts_without_external_id_do_not_collide(self, any_engine: Engine) -> None:
        create(any_engine, name="One")
        create(any_engine, name="Two")
        assert count(any_engine) == 2


class TestUpdate:
    def test_update_changes_fields_and_bumps_updated_at(self, any_engine: Engine) -> None:
        contact_id = create(any_engine, **ANNA)
        with session_scope(any_engine) as session:
            original = contacts.get(session, contact_id)
            created_at, updated_at = as_utc(original.created_at), as_utc(original.updated_at)
        with session_scope(any_engine) as session:
            contact = contacts.get(session, contact_id)
            contacts.update(session, contact, {"name": "Anna K.", "locale": "en"})
        with session_scope(any_engine) as session:
            contact = contacts.get(session, contact_id)
            assert (contact.name, contact.locale, contact.email) == (
                "Anna K.", "en", "Anna@Example.TEST",
            )
            assert as_utc(contact.created_at) == created_at
            new_updated = as_utc(contact.updated_at)
            assert new_updated is not None and updated_at is not None
            assert new_updated > updated_at

    def test_update_to_taken_external_id_is_conflict(self, any_engine: Engine) -> None:
        create(any_engine, name="First", external_id="crm-1")
        second = create(any_engine, name="Second", external_id="crm-2")
        with pytest.raises(Conflict), session_scope(any_engine) as session:
            contact = contacts.get(session, second)
            contacts.update(session, contact, {"external_id": "crm-1"})
        with session_scope(any_engine) as session:
            assert contacts.get(session, second).external_id == "crm-2"


class TestUpsertByExternalId:
    def test_first_upsert_creates(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            contact, created = contacts.upsert_by_external_id(session, "crm-9", {"name": "Ida"})
            contact_id = contact.id
        assert created is True
        with session_scope(any_engine) as session:
            contact = contacts.get(session, contact_id)  # type: ignore[arg-type]
            assert (contact.external_id, contact.name) == ("crm-9", "Ida")

    def test_second_upsert_updates_the_same_row(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            first, _ = contacts.upsert_by_external_id(session, "crm-9", {"name": "Ida"})
        with session_scope(any_engine) as session:
            second, created = contacts.upsert_by_external_id(
                session, "crm-9", {"name": "Ida Nagy", "phone": "+3612345678"}
            )
        assert created is False
        assert second.id == first.id
        with session_scope(any_engine) as session:
            contact = contacts.get(session, first.id)  # type: ignore[arg-type]
            assert (contact.name, contact.phone, contact.external_id) == (
                "Ida Nagy", "+3612345678", "crm-9",
            )
        assert count(any_engine) == 1


class TestFind:
    def test_find_by_phone_exact_in_id_order(self, any_engine: Engine) -> None:
        first = create(any_engine, name="A", phone="+15550001")
        create(any_engine, name="B", phone="+15550002")
        third = create(any_engine, name="C", phone="+15550001")
        with session_scope(any_engine) as session:
            assert [c.id for c in contacts.find_by_phone(session, "+15550001")] == [first, third]
            assert contacts.find_by_phone(session, "+1555000") == []

    def test_find_by_email_ignores_case(self, any_engine: Engine) -> None:
        anna = create(any_engine, name="Anna", email="Anna@Example.TEST")
        create(any_engine, name="Other", email="other@example.test")
        with session_scope(any_engine) as session:
            assert [c.id for c in contacts.find_by_email(session, "anna@example.test")] == [anna]
            assert [c.id for c in contacts.find_by_email(session, "ANNA@EXAMPLE.TEST")] == [anna]
            assert contacts.find_by_email(session, "anna@example") == []

    def test_find_by_email_treats_like_wildcards_literally(self, any_engine: Engine) -> None:
        # "_" is common in addresses; as a LIKE wildcard it would match any character.
        underscore = create(any_engine, name="U", email="j_doe@example.test")
        create(any_engine, name="X", email="jxdoe@example.test")
        create(any_engine, name="P", email="jo@example.test")
        with session_scope(any_engine) as session:
            found = contacts.find_by_email(session, "j_doe@example.test")
            assert [c.id for c in found] == [underscore]
            assert contacts.find_by_email(session, "j%@example.test") == []


class TestAttributes:
    def test_cyrillic_and_nested_json_round_trip_exactly(self, any_engine: Engine) -> None:
        attributes = {
            "город": "Москва",
            "заметка": "Перезвонить после 18:00 — «срочно»",
            "теги": ["клиент", "VIP", "ёжик"],
            "nested": {"уровень": 2, "active": True, "score": 9.5, "none": None},
        }
        contact_id = create(any_engine, name="Иван Петров", attributes=attributes)
        with session_scope(any_engine) as session:
            contact = contacts.get(session, contact_id)
            assert contact.name == "Иван Петров"
            assert contact.attributes == attributes
            assert list(contact.attributes) == ["город", "заметка", "теги", "nested"]

    def test_snapshot_copies_attributes(self, any_engine: Engine) -> None:
        contact_id = create(any_engine, **ANNA)
        with session_scope(any_engine) as session:
            contact = contacts.get(session, contact_id)
            snap = contacts.snapshot(contact)
        assert snap.id == contact_id
        assert snap.attributes == {"plan": "pro"}
        assert snap.attributes is not contact.attributes


class TestListPage:
    def test_pages_by_id_cursor(self, any_engine: Engine) -> None:
        ids = [create(any_engine, name=f"C{i}") for i in range(5)]
        with session_scope(any_engine) as session:
            first = contacts.list_page(session, after=None, limit=2)
            second = contacts.list_page(session, after=first[-1].id, limit=2)
            third = contacts.list_page(session, after=second[-1].id, limit=2)
        assert [c.id for c in first + second + third] == ids
        assert len(third) == 1
        assert all(isinstance(c, Contact) for c in third)
