"""The data directory 0700, its files 0600, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from followthrough.private_files import open_private, private_dir, private_file
from followthrough.store.db import make_engine, upgrade


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def lax_umask() -> Iterator[None]:
    """A umask that would leave files world-readable: the modes must not depend on it."""
    previous = os.umask(0o002)
    yield
    os.umask(previous)


class TestPrivateDir:
    def test_creates_missing_directories_0700(self, tmp_path: Path) -> None:
        private_dir(tmp_path / "a" / "b")
        assert (mode(tmp_path / "a"), mode(tmp_path / "a" / "b")) == (0o700, 0o700)

    def test_an_existing_directory_keeps_its_mode(self, tmp_path: Path) -> None:
        (tmp_path / "shared").mkdir(mode=0o755)
        os.chmod(tmp_path / "shared", 0o755)
        private_dir(tmp_path / "shared" / "data")
        assert (mode(tmp_path / "shared"), mode(tmp_path / "shared" / "data")) == (0o755, 0o700)


class TestPrivateFile:
    def test_creates_0600_in_a_0700_directory(self, tmp_path: Path) -> None:
        path = private_file(tmp_path / "data" / "x.sqlite3")
        assert (mode(path), mode(tmp_path / "data"), path.read_bytes()) == (0o600, 0o700, b"")

    def test_an_existing_file_is_left_alone(self, tmp_path: Path) -> None:
        path = tmp_path / "x"
        path.write_text("kept")
        os.chmod(path, 0o640)
        private_file(path)
        assert (mode(path), path.read_text()) == (0o640, "kept")

    def test_open_private_appends(self, tmp_path: Path) -> None:
        for line in (b"one\n", b"two\n"):
            with open_private(tmp_path / "d" / "log") as fh:
                fh.write(line)
        assert (mode(tmp_path / "d" / "log"), (tmp_path / "d" / "log").read_bytes()) == (0o600, b"one\ntwo\n")


class TestSqliteFiles:
    def test_a_fresh_database_and_its_wal_files_are_0600_in_a_0700_directory(self, tmp_path: Path) -> None:
        data = tmp_path / "fresh"
        engine = make_engine(f"sqlite:///{data / 'followthrough.sqlite3'}")
        try:
            upgrade(engine)
            with engine.connect() as connection:  # keeps the WAL and shared-memory files open
                connection.exec_driver_sql("SELECT count(*) FROM contacts")
                files = sorted(f.name for f in data.iterdir())
                assert files == ["followthrough.sqlite3", "followthrough.sqlite3-shm", "followthrough.sqlite3-wal"]
                assert {name: mode(data / name) for name in files} == dict.fromkeys(files, 0o600)
        finally:
            engine.dispose()
        assert mode(data) == 0o700
