"""The PostgreSQL half of the test matrix, with nothing installed by hand.

``FT_TEST_POSTGRES_URL`` names a server to use (it must answer). Unset, the tests use the local
server at ``DEFAULT_URL`` when one answers there, and otherwise start a throwaway server of
their own from the locked ``pgserver`` wheel (PostgreSQL binaries packaged for pip), in a
temporary directory, stopped at the end of the session. Each session works in a database of its
own, created and dropped here; under pytest-xdist each worker has its own session, so its own
database (and, without a shared server, its own throwaway server).
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

VARIABLE = "FT_TEST_POSTGRES_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Probe:
    """What a server at a URL answered: ``ok``, ``refused`` (wrong user, password or database)
    or ``unreachable`` (nothing listens, or it does not answer)."""

    status: str
    detail: str = ""


def probe(url: str) -> Probe:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return Probe("ok")
    except psycopg.OperationalError as exc:
        text = str(exc).strip()
        lowered = text.lower()
        # libpq's words when the server answered and said no, as opposed to no answer at all.
        refused = ("password authentication failed", "authentication failed", "no password supplied",
                   "role \"", "does not exist", "no pg_hba.conf entry")
        if any(word in lowered for word in refused):
            return Probe("refused", text)
        return Probe("unreachable", text)


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def refused_message(url: str, found: Probe) -> str:
    return (f"PostgreSQL at {describe(url)} refused the login (wrong user, password or database): "
            f"{found.detail}. Set {VARIABLE} to a URL whose user may create databases, e.g. "
            f"{VARIABLE}=postgresql://postgres:secret@127.0.0.1:5432/postgres make test")


def unreachable_message(url: str, found: Probe) -> str:
    return (f"PostgreSQL is not reachable at {describe(url)} ({found.detail}). Start one, e.g. "
            f"`docker run -e POSTGRES_HOST_AUTH_METHOD=trust -p 5432:5432 postgres`, or unset "
            f"{VARIABLE} to let the tests start a throwaway server of their own.")


@contextmanager
def throwaway_server(directory: Path) -> Iterator[str]:
    """A PostgreSQL server of our own in ``directory`` (unix socket only), stopped afterwards."""
    import pgserver  # a dev dependency: only the tests need it

    with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set" (CI, root)
        warnings.simplefilter("ignore")
        server = pgserver.get_server(directory, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def database_name(owner: str = "") -> str:
    """A new database name; ``owner`` (e.g. the xdist worker, ``gw0``) goes into it, so a
    database left behind by a killed run says whose it was."""
    return "_".join(filter(None, ("ft_test", owner, secrets.token_hex(6))))


@contextmanager
def temporary_database(admin_url: str, owner: str = "") -> Iterator[str]:
    """A database of the session's own on the server (named by ``database_name``), as an
    SQLAlchemy URL; dropped after."""
    name = database_name(owner)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Tally:
    """What the PostgreSQL half of a run did, for the closing summary line. Each xdist worker
    keeps its own; the controller adds them up (``add``), so the line counts the whole run."""

    passed: int = 0
    failed: int = 0
    servers: set[str] = field(default_factory=set)

    def record(self, passed: bool) -> None:
        if passed:
            self.passed += 1
        else:
            self.failed += 1

    def as_dict(self) -> dict[str, object]:
        """Plain data: what a worker sends to the controller (execnet carries only builtins)."""
        return {"passed": self.passed, "failed": self.failed, "servers": sorted(self.servers)}

    def add(self, other: dict[str, object]) -> None:
        self.passed += int(other.get("passed", 0))  # type: ignore[call-overload]
        self.failed += int(other.get("failed", 0))  # type: ignore[call-overload]
        self.servers.update(other.get("servers", ()))  # type: ignore[arg-type]

    def line(self) -> str:
        where = f" on {'; '.join(sorted(self.servers))}" if self.servers else ""
        return (f"PostgreSQL: {self.passed + self.failed} tests ran ({self.passed} passed, "
                f"{self.failed} failed){where}")
