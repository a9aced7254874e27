"""Units of work on SQLite: writers take the write lock up front, readers never wait for it."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from followthrough.store.db import make_engine, read_scope, session_scope


def _engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with session_scope(engine) as session:
        session.execute(text("CREATE TABLE t (v INTEGER)"))
        session.execute(text("INSERT INTO t VALUES (1)"))
    return engine


def test_a_read_scope_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    seen: list[int] = []

    def read() -> None:
        with read_scope(engine) as session:
            seen.append(session.execute(text("SELECT v FROM t")).scalar_one())

    with session_scope(engine) as writer:
        writer.execute(text("UPDATE t SET v = 2"))  # holds the write lock until the commit
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(timeout=5)  # a BEGIN IMMEDIATE would wait out the 30 s busy timeout
        assert seen == [1]  # the snapshot before the writer's commit
    engine.dispose()


def test_a_session_scope_waits_for_a_writer(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    seen: list[int] = []

    def write() -> None:
        with session_scope(engine) as session:
            seen.append(session.execute(text("SELECT v FROM t")).scalar_one())

    with session_scope(engine) as writer:
        writer.execute(text("UPDATE t SET v = 2"))
        other = threading.Thread(target=write)
        other.start()
        other.join(timeout=0.5)
        assert seen == []  # still waiting for the write lock
    other.join(timeout=5)
    assert seen == [2]
    engine.dispose()
