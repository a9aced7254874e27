"""Single-use link records and the rep's last reminder, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from followthrough.store import action_links, ledger, users
from followthrough.store.db import session_scope

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _link(engine: Engine) -> int:
    with session_scope(engine) as session:
        row = action_links.create(session, subject="task:42", action="done", locale="hu",
                                  created_at=NOW, expires_at=NOW + timedelta(days=7))
        assert row.id is not None
        return row.id


def _consume(engine: Engine, link_id: int) -> bool:
    with session_scope(engine) as session:
        return action_links.consume(session, link_id, NOW)


class TestConsume:
    def test_once(self, any_engine: Engine) -> None:
        link_id = _link(any_engine)
        assert [_consume(any_engine, link_id) for _ in range(3)] == [True, False, False]

    def test_two_racing_requests_consume_it_once(self, any_engine: Engine) -> None:
        link_id = _link(any_engine)
        results: list[bool] = []
        start = threading.Barrier(2)

        def click() -> None:
            start.wait()
            results.append(_consume(any_engine, link_id))

        threads = [threading.Thread(target=click) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [False, True]

    def test_released_it_works_again_and_records_its_result(self, any_engine: Engine) -> None:
        link_id = _link(any_engine)
        assert _consume(any_engine, link_id) is True
        with session_scope(any_engine) as session:
            action_links.release(session, link_id)
        assert _consume(any_engine, link_id) is True
        with session_scope(any_engine) as session:
            action_links.record_result(session, link_id, "done")
            row = action_links.get(session, link_id)
            assert row is not None and (row.result, row.locale) == ("done", "hu")


class TestLastReminder:
    def test_the_latest_sent_from_a_task_to_that_user(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            rep = users.create(session, name="Rita", email="rita@example.test", role="rep")[0].id
            other = users.create(session, name="Olga", email="olga@example.test", role="rep")[0].id
            assert rep is not None and other is not None
            rows = [("task-1", rep, "sent", NOW - timedelta(hours=3)),
                    ("task-2", rep, "delivered", NOW - timedelta(hours=1)),
                    ("task-3", rep, "failed", NOW),  # never reached the rep
                    ("task-4", rep, "deferred", None),  # not sent yet
                    ("digest-9-1", rep, "sent", NOW),  # a manager digest, no task's
                    ("task-5", other, "sent", NOW)]  # another rep's
            for run_id, user_id, state, sent_at in rows:
                ledger.create(session, key=f"{run_id}:remind:1:{user_id}", run_id=run_id, step_id="remind",
                              channel="sms", category="service", state=state, to_user_id=user_id,
                              sent_at=sent_at)
        with session_scope(any_engine) as session:
            found = ledger.latest_sent_to_user(session, rep, "task-")
            assert found is not None and found.run_id == "task-2"
            assert ledger.latest_sent_to_user(session, 999, "task-") is None
