"""A task's lifecycle, without a server: what the workflow does next, and the actions allowed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from followthrough.models.tasks import Invite, TaskEntity, TaskTimings
from followthrough.models.vocab import TaskState
from followthrough.tasks import lifecycle
from followthrough.tasks.invite import build_ics
from followthrough.tasks.lifecycle import Next, plan
from followthrough.tasks.recurrence import check_rule, next_due

DUE = datetime(2027, 1, 4, 12, tzinfo=UTC)
NOW = datetime(2027, 1, 4, 9, tzinfo=UTC)
TIMINGS = TaskTimings()


def _task(**fields: object) -> TaskEntity:
    return TaskEntity.model_validate({"task_id": 7, "owner_id": 1, "due_at": DUE, **fields})


class TestPlan:
    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({}, Next("remind", DUE - timedelta(minutes=15))),
            ({"state": "snoozed", "snoozed_until": DUE + timedelta(hours=1)}, Next("remind", DUE + timedelta(hours=1))),
            ({"reminded": True}, Next("overdue", DUE + timedelta(minutes=30))),
            # A snooze past the due time moves the overdue clock with it.
            ({"reminded": True, "snoozed_until": DUE + timedelta(hours=1)},
             Next("overdue", DUE + timedelta(hours=1, minutes=30))),
            # A reminder held past the due time (working time, an absence) moves it too; one on
            # time does not.
            ({"reminded": True, "reminded_at": DUE + timedelta(hours=21)},
             Next("overdue", DUE + timedelta(hours=21, minutes=30))),
            ({"reminded": True, "reminded_at": DUE - timedelta(minutes=15)}, Next("overdue", DUE + timedelta(minutes=30))),
            ({"reminded": True, "state": "overdue"}, Next("escalate", DUE + timedelta(hours=2))),
            ({"reminded": True, "state": "overdue", "escalated_at": DUE + timedelta(hours=2, minutes=15)},
             Next("digest", DUE + timedelta(hours=2, minutes=15))),
            ({"reminded": True, "state": "overdue", "escalated_at": DUE, "digest_sent": True}, Next("idle")),
            ({"state": "done"}, Next("end")),
            ({"state": "cancelled"}, Next("end")),
        ],
        ids=["remind", "snoozed", "overdue", "snoozed-past-due", "reminder-held-past-due", "reminder-on-time", "escalate", "digest", "idle", "done", "cancelled"],
    )
    def test_next(self, fields: dict[str, object], expected: Next) -> None:
        assert plan(_task(**fields), TIMINGS) == expected

    def test_digest_windows_end_on_the_quarter_hour_strictly_after(self) -> None:
        window = timedelta(minutes=15)
        assert lifecycle.digest_window_end(DUE, window) == DUE + window
        assert lifecycle.digest_window_end(DUE + timedelta(minutes=14), window) == DUE + window


class TestActions:
    @pytest.mark.parametrize("action", lifecycle.ACTIONS)
    @pytest.mark.parametrize("state", [TaskState.DONE, TaskState.CANCELLED])
    def test_nothing_is_allowed_in_a_final_state(self, action: lifecycle.Action, state: TaskState) -> None:
        assert lifecycle.refusal(_task(state=state), action, NOW) == f"task 7 is {state}; {action} is not allowed"

    @pytest.mark.parametrize(
        ("action", "details", "reason"),
        [
            ("snooze", {"duration": timedelta(0)}, "a snooze lasts more than 0 and at most 30 days"),
            ("snooze", {"duration": timedelta(days=31)}, "a snooze lasts more than 0 and at most 30 days"),
            ("reschedule", {"due_at": NOW}, "the new due time is already past"),
            ("reschedule", {"due_at": DUE}, "the task is already due then"),
            ("reassign", {"owner_id": 1}, "task 7 is already owned by user 1"),
            ("complete", {}, None),
            ("snooze", {"duration": timedelta(hours=1)}, None),
        ],
    )
    def test_refusals(self, action: lifecycle.Action, details: dict[str, object], reason: str | None) -> None:
        assert lifecycle.refusal(_task(state="overdue"), action, NOW, **details) == reason  # type: ignore[arg-type]

    def test_reschedule_starts_a_new_round_and_raises_the_sequence(self) -> None:
        task = lifecycle.turned_overdue(lifecycle.reminded(_task(), invited=True))
        moved = lifecycle.reschedule(task, DUE + timedelta(days=1))
        assert (moved.state, moved.round, moved.sequence, moved.reminded, moved.overdue_reminded) == (
            "open", 2, 1, False, False)
        assert moved.invited == [1]
        assert task.state == "overdue"  # decisions return a copy

    def test_snooze_reassign_and_complete(self) -> None:
        snoozed = lifecycle.snooze(lifecycle.reminded(_task(), invited=False), NOW, timedelta(hours=1))
        assert (snoozed.state, snoozed.snoozed_until, snoozed.round) == ("snoozed", NOW + timedelta(hours=1), 2)
        assert lifecycle.reminded(snoozed, invited=False).state == "open"
        moved = lifecycle.reassign(snoozed, 2)
        assert (moved.owner_id, moved.state, moved.round) == (2, "open", 3)
        done = lifecycle.complete(moved, "reached", None)
        assert (done.state, done.outcome) == ("done", "reached")


class TestInvitation:
    def test_request_and_cancel(self) -> None:
        stamp = datetime(2027, 1, 4, 11, 45, tzinfo=UTC)
        for method, status in (("REQUEST", "CONFIRMED"), ("CANCEL", "CANCELLED")):
            ics = build_ics(Invite(uid="task-7@example.test", sequence=3, method=method, starts_at=DUE),  # type: ignore[arg-type]
                            organizer="noreply@example.test", attendee="rep@example.test",
                            summary="Call Анна", description="line one\nline two", stamp=stamp)
            calendar = Calendar.from_ical(ics)
            [event] = calendar.walk("VEVENT")
            assert str(calendar["METHOD"]) == method
            assert (str(event["UID"]), int(event["SEQUENCE"]), str(event["STATUS"])) == ("task-7@example.test", 3, status)
            assert (event.decoded("DTSTART"), event.decoded("DTEND")) == (DUE, DUE + timedelta(minutes=30))
            assert (str(event["SUMMARY"]), str(event["DESCRIPTION"])) == ("Call Анна", "line one\nline two")
            assert event.decoded("DTSTAMP") == stamp


class TestRecurrence:
    MONDAY = datetime(2027, 3, 22, 8, tzinfo=UTC)  # 09:00 CET in Budapest

    def test_weekly_stays_at_nine_on_the_wall_clock_across_the_march_change(self) -> None:
        assert next_due("FREQ=WEEKLY", self.MONDAY, self.MONDAY, "Europe/Budapest") == datetime(
            2027, 3, 29, 7, tzinfo=UTC)  # 09:00 CEST

    def test_count_ends_the_series_from_its_first_occurrence(self) -> None:
        second = datetime(2027, 3, 29, 7, tzinfo=UTC)
        assert next_due("FREQ=WEEKLY;COUNT=2", self.MONDAY, second, "Europe/Budapest") is None

    @pytest.mark.parametrize("rule", ["FREQ=SOMETIMES", "FREQ=MINUTELY", "DTSTART:20270101T090000\nFREQ=DAILY"])
    def test_unreadable_rules_are_refused(self, rule: str) -> None:
        with pytest.raises(ValueError, match="RRULE|at most once an hour"):
            check_rule(rule)
