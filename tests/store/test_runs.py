"""The runs store on SQLite and PostgreSQL: claim (also under a race), finish, steps, paging."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from followthrough.errors import NotFound
from followthrough.models.runs import RunProblem, StepRecord
from followthrough.models.vocab import RunStatus, StepState
from followthrough.store import contacts, runs
from followthrough.store.db import as_utc, session_scope
from followthrough.store.tables import Run, RunStep

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def claim(
    engine: Engine, key: str, *, contact_id: int | None = None, definition_name: str | None = None
) -> tuple[Run, bool]:
    with session_scope(engine) as session:
        return runs.claim(
            session, kind="sequence", workflow_id=f"wf-{key}", active_key=key,
            contact_id=contact_id, definition_name=definition_name,
        )


def run_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(Run)).one()


class TestClaim:
    def test_claim_writes_every_field(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            contact_id = contacts.create(session, {"name": "Ann"}).id
            run, created = runs.claim(
                session, kind="sequence", workflow_id="wf-1", active_key="k1",
                contact_id=contact_id, definition_name="onboarding", definition_version=3,
                data={"source": "форма"},
            )
        assert created is True
        with session_scope(any_engine) as session:
            row = runs.get(session, run.id)
            assert (row.kind, row.workflow_id, row.active_key, row.contact_id) == (
                "sequence", "wf-1", "k1", contact_id,
            )
            assert (row.definition_name, row.definition_version) == ("onboarding", 3)
            assert (row.status, row.reason, row.ended_at) == (RunStatus.RUNNING, None, None)
            assert row.data == {"source": "форма"}
        assert run_count(any_engine) == 1

    def test_second_claim_with_same_key_returns_existing(self, any_engine: Engine) -> None:
        first, first_created = claim(any_engine, "k1")
        second, second_created = claim(any_engine, "k1")
        assert (first_created, second_created) == (True, False)
        assert second.id == first.id
        assert run_count(any_engine) == 1

    def test_different_keys_create_different_runs(self, any_engine: Engine) -> None:
        first, _ = claim(any_engine, "k1")
        second, created = claim(any_engine, "k2")
        assert created is True
        assert second.id != first.id
        assert run_count(any_engine) == 2

    def test_ten_concurrent_claims_create_exactly_one(self, any_engine: Engine) -> None:
        barrier = threading.Barrier(10)

        def attempt(_: int) -> tuple[str, bool]:
            barrier.wait(timeout=10)
            run, created = claim(any_engine, "race-key")
            return run.id, created

        with ThreadPoolExecutor(max_workers=10) as pool:
            results = list(pool.map(attempt, range(10)))
        assert sum(created for _, created in results) == 1
        assert len({run_id for run_id, _ in results}) == 1
        assert run_count(any_engine) == 1

    def test_claim_after_finish_creates_a_new_run(self, any_engine: Engine) -> None:
        first, _ = claim(any_engine, "k1")
        with session_scope(any_engine) as session:
            runs.finish(session, first.id, RunStatus.COMPLETED)
        second, created = claim(any_engine, "k1")
        assert created is True
        assert second.id != first.id
        with session_scope(any_engine) as session:
            assert runs.by_active_key(session, "k1").id == second.id  # type: ignore[union-attr]
            assert runs.get(session, first.id).active_key is None
        assert run_count(any_engine) == 2


class TestFinish:
    def test_finish_sets_status_reason_and_clears_key(self, any_engine: Engine) -> None:
        run, _ = claim(any_engine, "k1")
        before = datetime.now(UTC)
        with session_scope(any_engine) as session:
            runs.finish(session, run.id, RunStatus.STOPPED, "replied")
        after = datetime.now(UTC)
        with session_scope(any_engine) as session:
            row = runs.get(session, run.id)
            assert (row.status, row.reason, row.active_key) == (RunStatus.STOPPED, "replied", None)
            ended = as_utc(row.ended_at)
            assert ended is not None
            assert before <= ended <= after
            assert as_utc(row.updated_at) == ended

    def test_first_final_status_wins(self, any_engine: Engine) -> None:
        run, _ = claim(any_engine, "k1")
        with session_scope(any_engine) as session:
            runs.finish(session, run.id, RunStatus.CONVERTED, "bought")
        with session_scope(any_engine) as session:
            ended = runs.get(session, run.id).ended_at
        with session_scope(any_engine) as session:
            again = runs.finish(session, run.id, RunStatus.FAILED, "late")
            assert (again.status, again.reason) == (RunStatus.CONVERTED, "bought")
        with session_scope(any_engine) as session:
            row = runs.get(session, run.id)
            assert (row.status, row.reason, row.ended_at) == (RunStatus.CONVERTED, "bought", ended)

    def test_finish_unknown_run_is_not_found(self, any_engine: Engine) -> None:
        with pytest.raises(NotFound) as info, session_scope(any_engine) as session:
            runs.finish(session, "run_missing", RunStatus.COMPLETED)
        assert info.value.message == "run 'run_missing' does not exist"


class TestRecordStep:
    def test_upserts_by_run_and_seq(self, any_engine: Engine) -> None:
        run, _ = claim(any_engine, "k1")
        waiting = StepRecord(
            run_id=run.id, seq=1, step_id="wait-1", type="wait", state=StepState.ACTIVE,
            started_at=T0, due_at=T0 + timedelta(days=2),
        )
        done = waiting.model_copy(update={"state": StepState.DONE, "finished_at": T0 + timedelta(days=2)})
        with session_scope(any_engine) as session:
            runs.record_step(session, waiting)
        with session_scope(any_engine) as session:
            runs.record_step(session, done)
            runs.record_step(session, done)  # a retried activity
        with session_scope(any_engine) as session:
            rows = runs.steps(session, run.id)
            assert len(rows) == 1
            row = rows[0]
            assert (row.seq, row.step_id, row.type, row.state) == (1, "wait-1", "wait", "done")
            assert as_utc(row.started_at) == T0
            assert as_utc(row.finished_at) == T0 + timedelta(days=2)
            assert as_utc(row.due_at) == T0 + timedelta(days=2)
            assert session.exec(select(func.count()).select_from(RunStep)).one() == 1

    def test_steps_are_listed_by_seq(self, any_engine: Engine) -> None:
        run, _ = claim(any_engine, "k1")
        with session_scope(any_engine) as session:
            for seq in (3, 1, 2):
                runs.record_step(session, StepRecord(
                    run_id=run.id, seq=seq, step_id=f"s{seq}", type="send", state=StepState.DONE,
                ))
        with session_scope(any_engine) as session:
            assert [s.step_id for s in runs.steps(session, run.id)] == ["s1", "s2", "s3"]

    def test_record_step_touches_run_updated_at(self, any_engine: Engine) -> None:
        run, _ = claim(any_engine, "k1")
        before = as_utc(run.updated_at)
        with session_scope(any_engine) as session:
            runs.record_step(session, StepRecord(
                run_id=run.id, seq=1, step_id="s1", type="send", state=StepState.ACTIVE,
            ))
        with session_scope(any_engine) as session:
            after = as_utc(runs.get(session, run.id).updated_at)
        assert before is not None and after is not None
        assert after > before


class TestRecordSteps:
    def test_several_records_in_order_later_ones_win(self, any_engine: Engine) -> None:
        run, _ = claim(any_engine, "k1")
        first = StepRecord(run_id=run.id, seq=1, step_id="email", type="send", state=StepState.ACTIVE,
                           started_at=T0)
        with session_scope(any_engine) as session:
            runs.record_step(session, first)
        sent = first.model_copy(update={"state": StepState.SENT, "finished_at": T0 + timedelta(seconds=1)})
        wait = StepRecord(run_id=run.id, seq=2, step_id="pause", type="wait", state=StepState.ACTIVE,
                          started_at=T0, due_at=T0 + timedelta(days=1))
        done = wait.model_copy(update={"state": StepState.DONE, "reason": "1 day"})
        with session_scope(any_engine) as session:
            runs.record_steps(session, [sent, wait, done])
        with session_scope(any_engine) as session:
            runs.record_steps(session, [sent, wait, done])  # a retried activity
        with session_scope(any_engine) as session:
            rows = runs.steps(session, run.id)
            assert [(r.seq, r.step_id, r.state, r.reason) for r in rows] == [
                (1, "email", "sent", None), (2, "pause", "done", "1 day")]
            assert as_utc(rows[0].finished_at) == T0 + timedelta(seconds=1)
            assert as_utc(rows[1].due_at) == T0 + timedelta(days=1)

    def test_no_records_write_nothing(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            runs.record_steps(session, [])
            assert session.exec(select(func.count()).select_from(RunStep)).one() == 0


class TestListPage:
    def test_newest_first_with_cursor(self, any_engine: Engine) -> None:
        ids = [claim(any_engine, f"k{i}")[0].id for i in range(5)]
        with session_scope(any_engine) as session:
            first = runs.list_page(session, limit=2)
            second = runs.list_page(session, before=first[-1].id, limit=2)
            third = runs.list_page(session, before=second[-1].id, limit=2)
        assert [r.id for r in first + second + third] == ids[::-1]
        assert [len(first), len(second), len(third)] == [2, 2, 1]

    def test_filters(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            contact_id = contacts.create(session, {"name": "Ann"}).id
        a, _ = claim(any_engine, "a", contact_id=contact_id, definition_name="onboarding")
        b, _ = claim(any_engine, "b", definition_name="onboarding")
        c, _ = claim(any_engine, "c", definition_name="winback")
        with session_scope(any_engine) as session:
            runs.finish(session, b.id, RunStatus.COMPLETED)
        with session_scope(any_engine) as session:
            assert [r.id for r in runs.list_page(session, contact_id=contact_id)] == [a.id]
            by_name = runs.list_page(session, definition_name="onboarding")
            assert [r.id for r in by_name] == [b.id, a.id]
            running = runs.list_page(session, status=RunStatus.RUNNING)
            assert [r.id for r in running] == [c.id, a.id]
            assert runs.list_page(session, kind="lead") == []
            assert [r.id for r in runs.active_for_contact(session, contact_id)] == [a.id]


class TestNewRunId:
    def test_shape(self) -> None:
        run_id = runs.new_run_id()
        assert run_id.startswith("run_")
        assert len(run_id) == 32
        int(run_id[4:], 16)

    def test_ids_sort_by_creation_across_milliseconds(self, monkeypatch: pytest.MonkeyPatch) -> None:
        clock = iter([1_700_000_000.25, 1_700_000_000.5, 1_700_000_001.0])
        monkeypatch.setattr(runs, "_last_id", (0, 0))
        monkeypatch.setattr(runs, "time", SimpleNamespace(time=lambda: next(clock)))
        ids = [runs.new_run_id() for _ in range(3)]
        assert [i[4:16] for i in ids] == [f"{m:012x}" for m in (1_700_000_000_250,
                                                              1_700_000_000_500,
                                                              1_700_000_001_000)]
        assert sorted(ids) == ids

    def test_ids_created_in_one_millisecond_still_sort_by_creation(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(runs, "_last_id", (0, 0))
        monkeypatch.setattr(runs, "time", SimpleNamespace(time=lambda: 1_700_000_000.5))
        ids = [runs.new_run_id() for _ in range(200)]
        assert sorted(ids) == ids
        assert len(set(ids)) == 200
        assert {i[4:16] for i in ids} == {f"{1_700_000_000_500:012x}"}

    def test_clock_stepping_back_keeps_order(self, monkeypatch: pytest.MonkeyPatch) -> None:
        clock = iter([1_700_000_001.0, 1_700_000_000.5])
        monkeypatch.setattr(runs, "_last_id", (0, 0))
        monkeypatch.setattr(runs, "time", SimpleNamespace(time=lambda: next(clock)))
        first, second = runs.new_run_id(), runs.new_run_id()
        assert first < second
        assert second[4:16] == f"{1_700_000_001_000:012x}"


class TestDiscard:
    def test_a_run_that_never_started_leaves_nothing(self, any_engine: Engine) -> None:
        from followthrough.store import timeline
        from followthrough.store.tables import TimelineEntry

        with session_scope(any_engine) as session:
            contact_id = contacts.create(session, {"name": "Ann"}).id
        gone, _ = claim(any_engine, "k1", contact_id=contact_id)
        kept, _ = claim(any_engine, "k2", contact_id=contact_id)
        with session_scope(any_engine) as session:
            for run in (gone, kept):
                timeline.record(session, contact_id=contact_id, kind="run.started", run_id=run.id,
                                summary="enrolled")
                runs.record_step(session, StepRecord(run_id=run.id, seq=1, step_id="s", type="wait",
                                                     state=StepState.ACTIVE, started_at=T0))
        with session_scope(any_engine) as session:
            runs.discard(session, gone.id)
        with session_scope(any_engine) as session:
            assert [r.id for r in session.exec(select(Run))] == [kept.id]
            assert [s.run_id for s in session.exec(select(RunStep))] == [kept.id]
            assert [e.run_id for e in session.exec(select(TimelineEntry))] == [kept.id]
        # The business key is free again.
        assert claim(any_engine, "k1", contact_id=contact_id)[1] is True


class TestProblems:
    PROBLEM = RunProblem(code="PAYLOADS_TOO_LARGE", message="payload too large", since=T0)

    def test_a_problem_is_recorded_listed_and_cleared(self, any_engine: Engine) -> None:
        stuck, _ = claim(any_engine, "stuck")
        fine, _ = claim(any_engine, "fine")
        with session_scope(any_engine) as session:
            assert runs.set_problem(session, stuck.id, self.PROBLEM) is True
            assert runs.set_problem(session, stuck.id, self.PROBLEM) is False  # unchanged
        with session_scope(any_engine) as session:
            assert runs.problem_of(runs.get(session, stuck.id)) == self.PROBLEM
            assert [r.id for r in runs.list_page(session, problem=True)] == [stuck.id]
            assert [r.id for r in runs.list_page(session, problem=False)] == [fine.id]
            assert runs.set_problem(session, stuck.id, None) is True
        with session_scope(any_engine) as session:
            assert runs.problem_of(runs.get(session, stuck.id)) is None
            assert runs.list_page(session, problem=True) == []

    def test_a_finished_run_has_no_problem(self, any_engine: Engine) -> None:
        stuck, _ = claim(any_engine, "stuck")
        with session_scope(any_engine) as session:
            runs.set_problem(session, stuck.id, self.PROBLEM)
            runs.finish(session, stuck.id, RunStatus.CANCELLED, "cancelled")
        with session_scope(any_engine) as session:
            assert runs.problem_of(runs.get(session, stuck.id)) is None
