"""Files that hold people's data or secrets: the data directory 0700, its files 0600.

The SQLite databases, the dev outbox captures and the generated keys hold addresses, message
text and secrets; on a shared machine other users must not read them, whatever the umask.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700. A directory that already exists keeps its
    mode: it may be the working directory or one the operator set up on purpose."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, DIR_MODE)  # mkdir's mode is masked by the umask and skips parents
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if it does not exist (so whoever opens it next, e.g.
    SQLite, which gives its -wal and -shm files the database file's mode, keeps it private)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return path
    os.close(fd)
    return path


def open_private(path: Path, mode: str = "ab") -> IO[Any]:
    """``open(path, mode)`` for appending or writing, creating the file 0600."""
    private_file(path)
    return path.open(mode)
