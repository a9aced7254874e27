"""The PostgreSQL half of ``make test`` needs nothing installed by hand (tests/support/postgres.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from tests.support import postgres


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestProbe:
    def test_nothing_listening_is_unreachable(self) -> None:
        found = postgres.probe(f"postgresql://postgres@127.0.0.1:{_closed_port()}/test")
        assert found.status == "unreachable"
        message = postgres.unreachable_message("postgresql://postgres:pw@127.0.0.1:1/test", found)
        assert "FT_TEST_POSTGRES_URL" in message and "pw" not in message

    def test_a_refused_login_is_reported_as_such(self, postgres_admin_url: str) -> None:
        wrong = make_url(postgres_admin_url).set(username="ft_no_such_role").render_as_string(
            hide_password=False)
        found = postgres.probe(wrong)
        assert (found.status, "ft_no_such_role" in found.detail) == ("refused", True)
        message = postgres.refused_message(wrong, found)
        assert message.startswith("PostgreSQL at ") and "wrong user, password or database" in message


class TestThrowawayServer:
    def test_starts_answers_and_hosts_a_database_of_our_own(self, tmp_path: Path) -> None:
        with postgres.throwaway_server(tmp_path / "pg") as admin:
            assert postgres.probe(admin).status == "ok"
            with postgres.temporary_database(admin) as url:
                name = make_url(url).database
                with psycopg.connect(admin) as conn:
                    listed = [r[0] for r in conn.execute("SELECT datname FROM pg_database")]
                assert name in listed
            with psycopg.connect(admin) as conn:
                assert name not in [r[0] for r in conn.execute("SELECT datname FROM pg_database")]
        assert postgres.probe(admin).status == "unreachable"


class TestTally:
    def test_the_summary_counts_every_workers_share(self) -> None:
        gw0, gw1 = postgres.Tally(), postgres.Tally()
        gw0.servers.add("postgresql://postgres@127.0.0.1:5432/test")
        for passed in (True, True, False):
            gw0.record(passed)
        gw1.servers.add("postgresql://postgres@127.0.0.1:5432/test")
        gw1.record(True)
        controller = postgres.Tally()
        for share in (gw0.as_dict(), gw1.as_dict(), {}):  # {}: a worker that sent nothing
            controller.add(share)
        assert controller.line() == ("PostgreSQL: 4 tests ran (3 passed, 1 failed) "
                                     "on postgresql://postgres@127.0.0.1:5432/test")

    def test_no_server_no_where(self) -> None:
        assert postgres.Tally().line() == "PostgreSQL: 0 tests ran (0 passed, 0 failed)"


class TestDatabaseName:
    def test_it_says_which_worker_it_is_for_and_is_new_each_time(self) -> None:
        first, second = postgres.database_name("gw7"), postgres.database_name("gw7")
        assert first.startswith("ft_test_gw7_") and first != second
        assert postgres.database_name().startswith("ft_test_") and "__" not in postgres.database_name()
