"""Stored calendars on SQLite and PostgreSQL: put, seed (files never beat the API), resolve."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from followthrough.calendar import BUILTIN_CALENDARS, Calendar
from followthrough.errors import NotFound, ValidationFailed
from followthrough.settings import PROJECT_ROOT
from followthrough.store import calendars
from followthrough.store.db import session_scope

SHOP = Calendar(name="shop", time_zone="Europe/Budapest", country="HU",
                week={"sat": [("10:00", "14:00")]}, closed_dates=["2026-12-24"])  # type: ignore[list-item]
SHOP_DOC = {"time_zone": "Europe/Budapest", "week": {"sat": [["10:00", "14:00"]]}, "country": "HU",
            "closed_dates": ["2026-12-24"], "open_dates": []}


class TestParse:
    def test_document_without_name_takes_the_given_one(self) -> None:
        assert calendars.parse("shop", SHOP_DOC) == SHOP

    @pytest.mark.parametrize(("document", "path", "fragment"), [
        ({"time_zone": "Mars/Olympus"}, "/time_zone", "IANA time zone"),
        ({"week": {"mon": [["09:00", "25:00"]]}}, "/week/mon/0/1", "should match pattern"),
        ({"week": {"funday": []}}, "/week/funday", "Input should be"),
        ({"country": "XX"}, "/country", "no public-holiday data"),
        ({"week": {"mon": [["12:00", "09:00"]]}}, "", "must end after it starts"),
        ({"colour": "red"}, "/colour", "Extra inputs are not permitted"),
        ({"name": "other"}, "/name", "must be 'shop'"),
    ])
    def test_every_problem_has_a_path(self, document: dict, path: str, fragment: str) -> None:
        with pytest.raises(ValidationFailed) as info:
            calendars.parse("shop", document)
        assert [e.path for e in info.value.errors] == [path]
        assert fragment in info.value.errors[0].message

    def test_reports_all_problems_at_once(self) -> None:
        with pytest.raises(ValidationFailed) as info:
            calendars.parse("shop", {"time_zone": "Nowhere", "country": "XX", "extra": 1})
        assert sorted(e.path for e in info.value.errors) == ["/country", "/extra", "/time_zone"]

    def test_not_an_object(self) -> None:
        with pytest.raises(ValidationFailed) as info:
            calendars.parse("shop", ["mon"])
        assert info.value.errors[0].path == ""


class TestPutAndDelete:
    def test_put_creates_then_replaces(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            row, created = calendars.put(session, SHOP)
            assert (created, row.name, row.source, row.document) == (True, "shop", "api", SHOP_DOC)
            again, created = calendars.put(session, SHOP.model_copy(update={"time_zone": "UTC"}))
            assert (created, again.id, again.document["time_zone"]) == (False, row.id, "UTC")
            assert [r.name for r in calendars.list_all(session)] == ["shop"]

    def test_delete(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            calendars.put(session, SHOP)
            calendars.delete(session, "shop")
            assert calendars.get_row(session, "shop") is None
            with pytest.raises(NotFound):
                calendars.delete(session, "shop")


class TestSeed:
    def test_files_are_inserted_and_refreshed_but_api_rows_are_kept(self, any_engine: Engine) -> None:
        office = BUILTIN_CALENDARS["budapest_office"]
        with session_scope(any_engine) as session:
            assert calendars.seed(session, [SHOP, office]) == 2
            calendars.put(session, office.model_copy(update={"time_zone": "UTC"}))  # an admin's edit
            changed_file = SHOP.model_copy(update={"time_zone": "Europe/Vienna"})
            assert calendars.seed(session, [changed_file, office]) == 1
            assert calendars.get_row(session, "shop").document["time_zone"] == "Europe/Vienna"  # type: ignore[union-attr]
            kept = calendars.get_row(session, "budapest_office")
            assert (kept.source, kept.document["time_zone"]) == ("api", "UTC")  # type: ignore[union-attr]

    def test_shipped_files_equal_the_builtin_calendars(self) -> None:
        found = calendars.load_files(PROJECT_ROOT / "calendars")
        assert {c.name: c for c in found} == BUILTIN_CALENDARS

    def test_a_broken_file_names_itself(self, tmp_path: Path) -> None:
        (tmp_path / "bad.yaml").write_text("time_zone: Nowhere\n", encoding="utf-8")
        with pytest.raises(ValidationFailed) as info:
            calendars.load_files(tmp_path)
        assert info.value.message.startswith(f"{tmp_path / 'bad.yaml'}: ")
        assert [e.path for e in info.value.errors] == ["/time_zone"]

    def test_missing_folder_is_empty(self, tmp_path: Path) -> None:
        assert calendars.load_files(tmp_path / "none") == []


class TestResolve:
    def test_database_first_then_builtin_and_missing_names(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            calendars.put(session, Calendar(name="default", time_zone="Asia/Tokyo"))
            calendars.put(session, SHOP)
            found, missing = calendars.resolve(session, ["shop", "default", "moscow_office", "nope", "shop"])
        assert sorted(found) == ["default", "moscow_office", "shop"]
        assert found["default"]["time_zone"] == "Asia/Tokyo"
        assert found["moscow_office"] == calendars.document_of(BUILTIN_CALENDARS["moscow_office"])
        assert found["shop"] == SHOP_DOC
        assert missing == ["nope"]

    def test_exists(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            calendars.put(session, SHOP)
            assert [calendars.exists(session, n) for n in ("shop", "default", "nope")] == [True, True, False]

    def test_referenced_calendars_of_a_definition(self) -> None:
        document = {"steps": [
            {"id": "a", "type": "wait", "business": {"duration": "PT1H", "calendar": "shop"}},
            {"id": "b", "type": "wait", "business": {"duration": "PT1H"}},
            {"id": "c", "type": "wait", "duration": "PT1H"},
            {"id": "d", "type": "send", "channel": "email", "template": "welcome"},
            {"id": "e", "type": "wait", "business": {"duration": "PT2H", "calendar": "shop"}},
        ]}
        assert calendars.referenced(document) == ["default", "shop"]
        assert calendars.referenced({}) == []

    def test_wait_for_timeouts_in_working_time_reference_their_calendars(self) -> None:
        document = {"steps": [
            {"id": "a", "type": "wait_for", "event": "reply", "timeout": {"after": "PT8H", "business": True, "calendar": "desk"}},
            {"id": "b", "type": "wait_for", "event": "reply", "timeout": {"after": "P1D", "business": True}},
            {"id": "c", "type": "wait_for", "event": "reply", "timeout": {"after": "P1D", "at": "10:00"}},
            {"id": "d", "type": "wait_for", "event": "reply", "timeout": "P2D"},
        ]}
        assert calendars.referenced(document) == ["default", "desk"]
