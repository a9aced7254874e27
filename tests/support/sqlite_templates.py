"""Migrated (and seeded) SQLite databases, made once per session and copied for each test.

Every test still gets a database file of its own, the one ``upgrade`` and ``seed_builtins``
make; only the making is shared: running the migrations and seeding the built-ins took about
a second per test (near 500 tests use ``engine``), copying the result takes a millisecond.
The migrations themselves are tested on fresh databases in tests/store/test_migrations.py.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

from followthrough.bootstrap import calendars_dir, seed_builtins
from followthrough.private_files import private_file
from followthrough.settings import Settings
from followthrough.store.db import make_engine, upgrade


class SqliteTemplates:
    """One template per kind of database: migrated only, or migrated and seeded from a given
    set of template, calendar and definition directories (tests do not change those files)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._made: dict[tuple[str, ...], Path] = {}

    def copy(self, target: Path, seed_from: Settings | None = None) -> None:
        """Make ``target`` (mode 0600, like ``make_engine`` makes it) a copy of the template:
        migrated to head, and seeded as ``seed_builtins(engine, seed_from)`` seeds when given."""
        key = ("migrated",) if seed_from is None else (
            "seeded", str(seed_from.templates_dir), str(calendars_dir(seed_from)),
            str(seed_from.definitions_dir))
        template = self._made.get(key) or self._make(key, seed_from)
        private_file(target)
        # The backup API copies a consistent snapshot whatever is still in the template's WAL.
        with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(target)) as copy:
            source.backup(copy)

    def _make(self, key: tuple[str, ...], seed_from: Settings | None) -> Path:
        path = self._directory / f"template-{len(self._made)}.sqlite3"
        engine = make_engine(f"sqlite:///{path}")
        try:
            upgrade(engine)
            if seed_from is not None:
                seed_builtins(engine, seed_from)
        finally:
            engine.dispose()
        self._made[key] = path
        return path


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL, or None for any other database (or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)  # type: ignore[arg-type]
