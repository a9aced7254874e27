"""Migrations on SQLite and PostgreSQL: idempotent, and the migrated schema matches the models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

from followthrough.settings import PROJECT_ROOT
from followthrough.store import tables  # noqa: F401 - registers the tables on the metadata
from followthrough.store.db import alembic_config, at_head, make_engine, migration_heads, upgrade
from tests.support import postgres

TABLES = {"alembic_version", *SQLModel.metadata.tables}
HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def schema_diff(engine: Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, SQLModel.metadata)


class TestUpgrade:
    def test_head_is_a_single_revision(self) -> None:
        assert HEAD is not None and len(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()) == 1

    def test_creates_every_table_at_head(self, any_engine: Engine) -> None:
        assert set(inspect(any_engine).get_table_names()) == TABLES
        with any_engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v for (v,) in versions] == [HEAD]

    def test_second_upgrade_is_a_no_op(self, any_engine: Engine) -> None:
        before = {t: inspect(any_engine).get_columns(t) for t in TABLES}
        with any_engine.begin() as connection:
            connection.execute(text("INSERT INTO contacts (name, locale, time_zone, attributes, "
                                    "created_at, updated_at) VALUES ('Kept', 'en', 'UTC', '{}', "
                                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        upgrade(any_engine)
        after = {t: inspect(any_engine).get_columns(t) for t in TABLES}
        assert repr(after) == repr(before)
        with any_engine.connect() as connection:
            names = connection.execute(text("SELECT name FROM contacts")).all()
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert names == [("Kept",)]
        assert versions == [(HEAD,)]


class TestAtHead:
    """The cheap check that lets a restarting process skip Alembic (issue 9)."""

    def test_heads_read_without_alembic_are_alembics_heads(self) -> None:
        heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
        assert migration_heads() == frozenset(heads)

    def test_a_migrated_database_is_at_head(self, any_engine: Engine) -> None:
        assert at_head(any_engine) is True

    def test_a_fresh_database_is_not_and_upgrade_migrates_it(self, tmp_path: Path) -> None:
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
        assert at_head(engine) is False
        upgrade(engine)
        assert at_head(engine) is True
        engine.dispose()

    def test_a_fresh_postgresql_database_is_not_at_head(self, postgres_admin_url: str) -> None:
        with postgres.temporary_database(postgres_admin_url) as url:
            engine = make_engine(url)
            assert at_head(engine) is False  # no alembic_version table: an error, caught
            upgrade(engine)
            assert at_head(engine) is True
            engine.dispose()

    def test_a_database_one_revision_behind_is_upgraded(self, any_engine: Engine) -> None:
        config = alembic_config(any_engine.url.render_as_string(hide_password=False))
        with any_engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "-1")
        assert at_head(any_engine) is False
        upgrade(any_engine)
        assert at_head(any_engine) is True
        assert set(inspect(any_engine).get_table_names()) == TABLES

    def test_upgrade_at_head_never_imports_alembic(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'ft.sqlite3'}"
        upgrade(make_engine(url))
        script = ("import sys\nfrom followthrough.store.db import make_engine, upgrade\n"
                  f"upgrade(make_engine({url!r}))\n"
                  "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))")
        done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, check=True)
        assert done.stdout.strip() == "[]"


class TestSchemaMatchesModels:
    def test_autogenerate_finds_no_differences(self, any_engine: Engine) -> None:
        # compare_type and compare_server_default are on: column types (AutoString vs VARCHAR,
        # JSON, DateTime(timezone=True), Boolean) and defaults all compare equal on both
        # databases today, so no type-variant noise has to be filtered out.
        assert schema_diff(any_engine) == []
