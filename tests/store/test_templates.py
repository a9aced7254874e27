"""Templates on SQLite and PostgreSQL: put, seed from files, the API's rows win."""

from __future__ import annotations

from sqlalchemy import Engine

from followthrough.rendering import TemplateParts
from followthrough.store import templates
from followthrough.store.db import as_utc, session_scope
from followthrough.store.tables import TemplateRow

V1 = TemplateParts(subject="Добро пожаловать", text="Привет, {{ contact.name }}!", html="<p>Привет</p>")
V2 = TemplateParts(subject="Welcome", text="Hi {{ contact.name }}", html=None)
API = TemplateParts(text="Edited in the UI")


def row(engine: Engine, channel: str, name: str, locale: str) -> TemplateRow | None:
    with session_scope(engine) as session:
        return templates.get_row(session, channel, name, locale)


def parts(found: TemplateRow | None) -> tuple[str | None, str | None, str | None, str]:
    assert found is not None
    return found.subject, found.text, found.html, found.source


class TestPut:
    def test_put_creates_then_updates(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            first, created = templates.put(session, "email", "welcome", "ru", V1)
        with session_scope(any_engine) as session:
            second, updated_created = templates.put(session, "email", "welcome", "ru", V2)
        assert (created, updated_created) == (True, False)
        assert second.id == first.id
        assert parts(row(any_engine, "email", "welcome", "ru")) == ("Welcome", "Hi {{ contact.name }}", None, "api")
        assert as_utc(second.updated_at) > as_utc(first.updated_at)  # type: ignore[operator]


class TestSeed:
    def test_inserts_missing_file_rows(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            count = templates.seed(session, [
                ("email", "welcome", "ru", V1), ("sms", "welcome", "en", V2),
            ])
        assert count == 2
        assert parts(row(any_engine, "email", "welcome", "ru")) == (
            "Добро пожаловать", "Привет, {{ contact.name }}!", "<p>Привет</p>", "file",
        )
        assert parts(row(any_engine, "sms", "welcome", "en")) == (
            "Welcome", "Hi {{ contact.name }}", None, "file",
        )

    def test_refreshes_rows_that_come_from_files(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            templates.seed(session, [("email", "welcome", "ru", V1)])
        with session_scope(any_engine) as session:
            count = templates.seed(session, [("email", "welcome", "ru", V2)])
        assert count == 1
        assert parts(row(any_engine, "email", "welcome", "ru")) == (
            "Welcome", "Hi {{ contact.name }}", None, "file",
        )
        with session_scope(any_engine) as session:
            assert len(templates.list_all(session)) == 1

    def test_never_overwrites_api_rows(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            templates.seed(session, [("email", "welcome", "ru", V1)])
        with session_scope(any_engine) as session:
            templates.put(session, "email", "welcome", "ru", API)
        with session_scope(any_engine) as session:
            count = templates.seed(session, [
                ("email", "welcome", "ru", V2), ("email", "welcome", "en", V2),
            ])
        assert count == 1
        assert parts(row(any_engine, "email", "welcome", "ru")) == (None, "Edited in the UI", None, "api")
        assert parts(row(any_engine, "email", "welcome", "en"))[3] == "file"


class TestReading:
    def test_list_all_is_ordered_and_filters_by_channel(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            templates.seed(session, [
                ("sms", "welcome", "ru", V2), ("email", "welcome", "ru", V1),
                ("email", "reminder", "en", V2), ("email", "welcome", "en", V2),
            ])
        with session_scope(any_engine) as session:
            every = [(r.channel, r.name, r.locale) for r in templates.list_all(session)]
            sms = [(r.channel, r.name, r.locale) for r in templates.list_all(session, "sms")]
        assert every == [
            ("email", "reminder", "en"), ("email", "welcome", "en"), ("email", "welcome", "ru"),
            ("sms", "welcome", "ru"),
        ]
        assert sms == [("sms", "welcome", "ru")]

    def test_db_template_source(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            templates.seed(session, [("email", "welcome", "ru", V1), ("email", "welcome", "en", V2)])
        source = templates.DbTemplateSource(any_engine)
        assert source.get("email", "welcome", "ru") == V1  # type: ignore[arg-type]
        assert source.get("email", "welcome", "de") is None  # type: ignore[arg-type]
        assert source.locales("email", "welcome") == ["en", "ru"]  # type: ignore[arg-type]
