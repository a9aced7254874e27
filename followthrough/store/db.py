"""Engine, sessions and migrations. SQLite (WAL, busy timeout, BEGIN IMMEDIATE) or PostgreSQL."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from followthrough.private_files import private_file

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


#: Execution option that marks a read-only unit of work (``read_scope``).
_READ_ONLY = "followthrough_read_only"


def make_engine(url: str, *, echo: bool = False, busy_timeout: float = 30.0) -> Engine:
    """Build the engine. For SQLite every transaction is ``BEGIN IMMEDIATE``: it takes the write
    lock up front, so two writers never deadlock on a lock upgrade (SQLITE_BUSY that the busy
    timeout cannot resolve), and per-contact decisions are serialised. A writer waits up to
    ``busy_timeout`` seconds for the lock; then "database is locked", which the API answers
    with 503 (``api/errors.py``)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:" and not path.startswith("file:"):
            # The CRM's people live here: the file is 0600 (SQLite gives the -wal and -shm
            # files the database file's mode) in a directory created 0700.
            private_file(Path(path.split("?", 1)[0]))
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": busy_timeout}
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # type: ignore[no-untyped-def]
            # A read-only unit of work (``read_scope``) reads a WAL snapshot: no write lock, so
            # it neither waits for writers nor makes them wait.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


@contextmanager
def read_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work that only reads (nothing is committed). On SQLite it takes no write lock
    (``BEGIN``, not ``BEGIN IMMEDIATE``); it must not write, since a deferred transaction that
    starts writing can fail with "database is locked" where the busy timeout cannot help."""
    with Session(engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False) as session:
        yield session


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str) -> Config:
    # Alembic (and Mako, Pygments through it) is imported only when a migration may run:
    # a process starting on a database already at head never loads it (issue 9, worker start).
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@cache
def migration_heads() -> frozenset[str]:
    """The head revisions of ``migrations/versions``, read as Alembic reads them (each file's
    ``revision`` and ``down_revision``) without importing Alembic: a revision no other revises."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        if path.name.startswith("__"):
            continue
        found = _assigned_literals(path, {"revision", "down_revision"})
        revision, down = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str):
            return frozenset()  # not a file we can read this way: let Alembic decide
        revisions.add(revision)
        if isinstance(down, str):
            revised.add(down)
        elif isinstance(down, tuple | list):  # a merge revision
            revised.update(d for d in down if isinstance(d, str))
    return frozenset(revisions - revised)


def _assigned_literals(path: Path, names: set[str]) -> dict[str, object]:
    """Module-level ``name = <literal>`` (or annotated) assignments of ``names`` in ``path``."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                found[target.id] = None
    return found


def at_head(engine: Engine) -> bool:
    """Whether the database's ``alembic_version`` names exactly the migration heads: one
    SELECT, no Alembic. False when unsure (no table yet, unreadable files): upgrade then."""
    heads = migration_heads()
    if not heads:
        return False
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no alembic_version table: a fresh database
        return False
    return sorted(version for (version,) in rows) == sorted(heads)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent). A database already at head is
    recognised with one query and left alone, so a restarting process pays nothing here."""
    if at_head(engine):
        return
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
