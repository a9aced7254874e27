"""Definition versions on SQLite and PostgreSQL: save, versioning, checksum, active, listing."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from followthrough.errors import NotFound
from followthrough.store import definitions
from followthrough.store.db import as_utc, session_scope
from followthrough.store.tables import DefinitionVersion

DOC = {
    "name": "onboarding",
    "steps": [{"id": "welcome", "type": "send", "channel": "sms", "template": "welcome"}],
}
CHANGED = {**DOC, "steps": [*DOC["steps"], {"id": "wait", "type": "wait", "for": "P2D"}]}


def save(
    engine: Engine, document: dict, *, publish: bool = True, name: str = "onboarding"
) -> tuple[DefinitionVersion, bool]:
    with session_scope(engine) as session:
        return definitions.save(session, name, "sequence", document, publish=publish)


class TestChecksum:
    def test_ignores_key_order(self) -> None:
        assert definitions.checksum({"a": 1, "b": "ж"}) == definitions.checksum({"b": "ж", "a": 1})

    def test_changes_with_content(self) -> None:
        assert definitions.checksum(DOC) != definitions.checksum(CHANGED)
        assert len(definitions.checksum(DOC)) == 64


class TestSave:
    def test_first_save_is_version_one(self, any_engine: Engine) -> None:
        row, created = save(any_engine, DOC)
        assert created is True
        with session_scope(any_engine) as session:
            stored = definitions.get(session, "onboarding", 1)
            assert stored.id == row.id
            assert (stored.version, stored.kind, stored.document) == (1, "sequence", DOC)
            assert stored.checksum == definitions.checksum(DOC)
            assert stored.published_at is not None

    def test_identical_document_keeps_the_version(self, any_engine: Engine) -> None:
        first, _ = save(any_engine, DOC)
        again, created = save(any_engine, dict(reversed(list(DOC.items()))))
        assert created is False
        assert (again.id, again.version) == (first.id, 1)
        with session_scope(any_engine) as session:
            assert definitions.list_latest(session)[0][1] == 1

    def test_changed_document_is_version_two(self, any_engine: Engine) -> None:
        save(any_engine, DOC)
        row, created = save(any_engine, CHANGED)
        assert (created, row.version) == (True, 2)
        with session_scope(any_engine) as session:
            assert definitions.get(session, "onboarding", 1).document == DOC
            assert definitions.get(session, "onboarding", 2).document == CHANGED

    def test_reverting_to_an_older_document_is_a_new_version(self, any_engine: Engine) -> None:
        save(any_engine, DOC)
        save(any_engine, CHANGED)
        row, created = save(any_engine, DOC)
        assert (created, row.version) == (True, 3)

    def test_names_are_versioned_independently(self, any_engine: Engine) -> None:
        save(any_engine, DOC)
        save(any_engine, CHANGED)
        row, created = save(any_engine, DOC, name="winback")
        assert (created, row.version) == (True, 1)


class TestActive:
    def test_newest_published_version_is_active(self, any_engine: Engine) -> None:
        save(any_engine, DOC)
        save(any_engine, CHANGED)
        with session_scope(any_engine) as session:
            assert definitions.active(session, "onboarding").version == 2  # type: ignore[union-attr]

    def test_unpublished_version_is_not_active(self, any_engine: Engine) -> None:
        save(any_engine, DOC)
        draft, created = save(any_engine, CHANGED, publish=False)
        assert (created, draft.version, draft.published_at) == (True, 2, None)
        with session_scope(any_engine) as session:
            assert definitions.active(session, "onboarding").version == 1  # type: ignore[union-attr]
            assert definitions.get(session, "onboarding").version == 1

    def test_no_published_version_means_no_active(self, any_engine: Engine) -> None:
        save(any_engine, DOC, publish=False)
        with session_scope(any_engine) as session:
            assert definitions.active(session, "onboarding") is None
            assert definitions.get(session, "onboarding").version == 1  # falls back to latest

    def test_saving_an_identical_draft_with_publish_publishes_it(self, any_engine: Engine) -> None:
        save(any_engine, DOC)
        save(any_engine, CHANGED, publish=False)
        row, created = save(any_engine, CHANGED, publish=True)
        assert (created, row.version) == (False, 2)
        assert row.published_at is not None
        with session_scope(any_engine) as session:
            assert definitions.active(session, "onboarding").version == 2  # type: ignore[union-attr]

    def test_saving_identical_without_publish_keeps_it_published(self, any_engine: Engine) -> None:
        first, _ = save(any_engine, DOC)
        again, created = save(any_engine, DOC, publish=False)
        assert created is False
        assert as_utc(again.published_at) == as_utc(first.published_at)


class TestGet:
    def test_specific_version(self, any_engine: Engine) -> None:
        save(any_engine, DOC)
        save(any_engine, CHANGED)
        with session_scope(any_engine) as session:
            row = definitions.get(session, "onboarding", 1)
            assert (row.version, row.document) == (1, DOC)

    def test_missing_version_is_not_found(self, any_engine: Engine) -> None:
        save(any_engine, DOC)
        with pytest.raises(NotFound) as info, session_scope(any_engine) as session:
            definitions.get(session, "onboarding", 7)
        assert info.value.message == "definition 'onboarding' has no version 7 (its versions are 1 to 1)"

    def test_missing_name_is_not_found(self, any_engine: Engine) -> None:
        with pytest.raises(NotFound), session_scope(any_engine) as session:
            definitions.get(session, "nope")


class TestListLatest:
    def test_newest_version_per_name_with_counts(self, any_engine: Engine) -> None:
        save(any_engine, DOC)
        save(any_engine, CHANGED)
        save(any_engine, DOC, publish=False)
        save(any_engine, DOC, name="winback")
        with session_scope(any_engine) as session:
            listed = [(row.name, row.version, n) for row, n in definitions.list_latest(session)]
        assert listed == [("onboarding", 3, 3), ("winback", 1, 1)]

    def test_empty(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            assert definitions.list_latest(session) == []
