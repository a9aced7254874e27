"""A ticket's SLA clocks and ladder (followthrough/tickets/sla.py): exact business instants on the
Budapest office calendar (lunch 12-13, Hungarian public holidays and transferred working days,
pinned), pause and resume with the exact remaining budget, priority changes and calendar edits,
and ladder keys that never fire twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followthrough.calendar import BUILTIN_CALENDARS, WEEKDAYS, business_time_between, pin_holidays
from followthrough.tickets import sla
from followthrough.tickets.policy import SlaPolicyDefinition

BUD = ZoneInfo("Europe/Budapest")
OFFICE = BUILTIN_CALENDARS["budapest_office"]
CALENDARS = dict(BUILTIN_CALENDARS)
HOLIDAYS = pin_holidays(["HU"], 2025, 2027)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=BUD)  # type: ignore[misc]


def make_policy(**priorities: Any) -> SlaPolicyDefinition:
    return SlaPolicyDefinition.model_validate({
        "name": "support", "kind": "sla_policy", "calendar": "budapest_office", "default_team": "support",
        "priorities": priorities or {
            "normal": {"first_response": "PT4H", "next_response": "PT8H", "resolution": "PT16H", "ladder": [
                {"at": {"share": 0.75}, "target": "first_response", "notify": ["assignee"], "warning": True},
                {"at": {"share": 1.0}, "target": "first_response", "notify": ["assignee"]},
                {"at": {"share": 1.0}, "target": "resolution", "notify": ["assignee"]},
                {"at": {"share": 1.5}, "target": "resolution", "notify": ["team_manager"]},
                {"at": {"after": "PT32H"}, "target": "resolution", "notify": [7]},
            ]},
            "urgent": {"first_response": "PT1H", "resolution": "PT4H", "urgent": True, "ladder": [
                {"at": {"share": 0.5}, "target": "first_response", "notify": ["assignee"]},
                {"at": {"share": 1.0}, "target": "first_response", "notify": ["team_manager"]},
            ]},
        }})


POLICY = make_policy()


def opened(when: datetime, priority: str = "normal") -> sla.SlaState:
    return sla.start(POLICY, priority, calendars=CALENDARS, holidays=HOLIDAYS, at=when)


class TestStart:
    def test_across_a_weekend_and_a_hungarian_public_holiday(self) -> None:
        # Wednesday 19 Aug 2026 16:00: 1 h that day; Thursday 20 (State Foundation Day) and the
        # bridge day Friday 21 are closed, then the weekend; Monday 24 9-12 gives the other 3 h.
        state = opened(at(2026, 8, 19, 16))
        assert set(state.clocks) == {"first_response", "resolution"}  # next_response starts later
        assert state.deadline("first_response", at(2026, 8, 19, 16)) == at(2026, 8, 24, 12)
        # 16 h: Wed 1 + Mon 7 + Tue 7 + Wed 1.
        assert state.deadline("resolution", at(2026, 8, 19, 16)) == at(2026, 8, 26, 10)

    def test_a_transferred_working_saturday_counts(self) -> None:
        # Friday 7 Aug 2026 16:00: Saturday 8 Aug is worked in exchange for Friday 21 Aug.
        assert opened(at(2026, 8, 7, 16)).deadline("first_response", at(2026, 8, 7, 16)) == at(2026, 8, 8, 12)

    def test_replays_agree_whatever_the_holidays_package_says_later(self) -> None:
        """The clocks read only the pinned dates: without 20 Aug in them, it is a working day."""
        pinned = {"HU": HOLIDAYS["HU"].model_copy(update={
            "closed": [d for d in HOLIDAYS["HU"].closed if d.isoformat() != "2026-08-20"]})}
        state = sla.start(POLICY, "normal", calendars=CALENDARS, holidays=pinned, at=at(2026, 8, 19, 16))
        again = sla.SlaState.model_validate_json(state.model_dump_json())
        assert again == state
        assert again.deadline("first_response", at(2026, 8, 19, 16)) == at(2026, 8, 20, 12)

    def test_a_priority_without_targets_uses_the_default_priority(self) -> None:
        assert sla.targets(POLICY, "low") == POLICY.priorities["normal"]
        assert sla.budget(POLICY, "urgent", "next_response") is None
        assert sla.calendar_name(POLICY, "urgent") == "budapest_office"


class TestPauseAndResume:
    def test_the_exact_remaining_budget_is_kept(self) -> None:
        state = opened(at(2026, 8, 24, 9))  # Monday
        state = sla.respond(state, at(2026, 8, 24, 9, 30))
        # Waiting on the customer from 10:20:30 (1 h 20 m 30 s of resolution used) ...
        paused = sla.pause(state, at(2026, 8, 24, 10, 20, 30), "waiting_on_customer")
        assert paused.clocks["resolution"].remaining(at(2026, 8, 28, 16)) == timedelta(hours=14, minutes=39, seconds=30)
        assert sla.plan(paused, POLICY, set(), at(2026, 8, 25, 9)) == []  # nothing fires while paused
        # ... until Wednesday 14:00: 14 h 39 m 30 s from then: Wed 3 h, Thu 7 h, Fri 4 h 39 m 30 s.
        resumed = sla.resume(paused, at(2026, 8, 26, 14), "customer replied")
        assert resumed.deadline("resolution", at(2026, 8, 26, 14)) == at(2026, 8, 28, 14, 39, 30)
        assert [c.kind for c in resumed.history] == ["start", "respond", "pause", "resume"]
        assert [c.kind for c in resumed.clocks["resolution"].history] == ["start", "pause", "resume"]

    def test_pausing_twice_and_resuming_a_running_state_change_nothing(self) -> None:
        state = opened(at(2026, 8, 24, 9))
        paused = sla.pause(state, at(2026, 8, 24, 10))
        assert sla.pause(paused, at(2026, 8, 24, 11)) is paused
        assert sla.resume(state, at(2026, 8, 24, 11)) is state

    @settings(max_examples=60, deadline=None)
    @given(start=st.integers(0, 14 * 24 * 60), gaps=st.lists(st.integers(1, 3 * 24 * 60), min_size=2, max_size=8))
    def test_pauses_never_change_the_total_business_time(self, start: int, gaps: list[int]) -> None:
        """However the ticket is paused and resumed, the clock runs out when exactly its budget of
        business time was spent in the running stretches."""
        when = at(2026, 8, 3) + timedelta(minutes=start)  # two weeks around 20 Aug
        state = opened(when)
        running = []
        for number, gap in enumerate(gaps):
            nxt = when + timedelta(minutes=gap)
            if number % 2 == 0:
                running.append((when, nxt))
                state = sla.pause(state, nxt)
            else:
                state = sla.resume(state, nxt)
            when = nxt
        state = sla.resume(state, when)
        running_total = sum((business_time_between(OFFICE.with_holidays(HOLIDAYS), a, b) for a, b in running),
                            timedelta(0))
        clock = state.clocks["resolution"]
        assert clock.elapsed(when) == running_total
        deadline = state.deadline("resolution", when)
        assert deadline is not None
        if running_total < clock.budget:
            left = business_time_between(OFFICE.with_holidays(HOLIDAYS), when, deadline)
            assert running_total + left == clock.budget


class TestResponsesAndResolution:
    def test_the_first_response_stops_its_clock_and_a_customer_message_starts_a_next_response_round(self) -> None:
        state = opened(at(2026, 8, 24, 9))
        assert sla.customer_message(state, POLICY, at(2026, 8, 24, 9, 10)) == state  # before any response
        state = sla.respond(state, at(2026, 8, 24, 10))
        assert state.clocks["first_response"].elapsed(at(2026, 8, 25)) == timedelta(hours=1)
        state = sla.customer_message(state, POLICY, at(2026, 8, 24, 11))
        assert state.rounds["next_response"] == 1
        assert state.deadline("next_response", at(2026, 8, 24, 11)) == at(2026, 8, 25, 12)  # 8 h: 11-17 less lunch = 5, +3
        # A second message while the round runs changes nothing; the agent's answer stops it.
        assert sla.customer_message(state, POLICY, at(2026, 8, 24, 14)) == state
        state = sla.respond(state, at(2026, 8, 24, 15))
        assert state.deadline("next_response", at(2026, 8, 24, 15)) is None
        state = sla.customer_message(state, POLICY, at(2026, 8, 24, 16))
        assert state.rounds["next_response"] == 2

    def test_resolution_stops_every_clock_and_a_reopen_starts_a_new_round(self) -> None:
        state = sla.respond(opened(at(2026, 8, 24, 9)), at(2026, 8, 24, 10))
        resolved = sla.resolve(state, at(2026, 8, 24, 15))
        assert resolved.clocks["resolution"].elapsed(at(2026, 9, 1)) == timedelta(hours=5)
        assert sla.plan(resolved, POLICY, set(), at(2026, 9, 1)) == []
        reopened = sla.reopen(resolved, POLICY, at(2026, 8, 25, 9))
        assert reopened.rounds["resolution"] == 2
        assert reopened.deadline("resolution", at(2026, 8, 25, 9)) == at(2026, 8, 27, 11)  # 16 h from Tue 9:00: Tue 7, Wed 7, Thu 2
        assert [d.key for d in sla.plan(reopened, POLICY, set(), at(2026, 8, 25, 9))][:1] == ["resolution/2/escalation/1"]


class TestRecompute:
    def test_a_priority_change_keeps_the_used_time_and_takes_the_new_budgets(self) -> None:
        state = opened(at(2026, 8, 24, 9))
        # At 9:40 (40 min used) the ticket becomes urgent: 1 h first response, so 20 min are left.
        urgent = sla.change_priority(state, POLICY, "urgent", at(2026, 8, 24, 9, 40), calendars=CALENDARS)
        assert urgent.priority == "urgent"
        assert urgent.deadline("first_response", at(2026, 8, 24, 9, 40)) == at(2026, 8, 24, 10)
        assert urgent.deadline("resolution", at(2026, 8, 24, 9, 40)) == at(2026, 8, 24, 14)  # 4 h with lunch
        change = urgent.clocks["first_response"].history[-1]
        assert (change.kind, change.budget, change.elapsed, change.reason) == (
            "budget", timedelta(hours=1), timedelta(minutes=40), "priority normal -> urgent")
        assert urgent.history[-1].detail == "priority normal -> urgent"
        # The urgent ladder's first rung (50 % = 30 min) has passed: due at once; the second at 10:00.
        dues = sla.plan(urgent, POLICY, set(), at(2026, 8, 24, 9, 40))
        assert [(d.key, d.at, d.urgent) for d in dues] == [
            ("first_response/1/escalation/1", at(2026, 8, 24, 9, 40), True),
            ("first_response/1/escalation/2", at(2026, 8, 24, 10), True),
            ("first_response/1/breach", at(2026, 8, 24, 10), True),
            ("resolution/1/breach", at(2026, 8, 24, 14), True),
        ]

    def test_a_tier_already_told_is_not_told_again_after_a_priority_change(self) -> None:
        state = opened(at(2026, 8, 24, 9))
        fired = {d.key for d in sla.due_now(state, POLICY, set(), at(2026, 8, 24, 13, 30))}  # 75 % (3 h) at 12:00
        assert fired == {"first_response/1/warning/1"}
        urgent = sla.change_priority(state, POLICY, "urgent", at(2026, 8, 24, 13, 30), calendars=CALENDARS)
        assert [d.key for d in sla.due_now(urgent, POLICY, fired | {"first_response/1/escalation/1"},
                                           at(2026, 8, 24, 13, 30))] == [
            "first_response/1/escalation/2", "first_response/1/breach"]

    def test_a_calendar_edit_counts_from_the_edit_on(self) -> None:
        state = opened(at(2026, 8, 24, 9))  # Monday; first response due 14:00 (lunch)
        longer = OFFICE.model_copy(update={"week": {d: [["08:00", "20:00"]] for d in WEEKDAYS[:5]}})
        edited = sla.change_calendar(state, longer, at(2026, 8, 24, 10))
        assert edited.deadline("first_response", at(2026, 8, 24, 10)) == at(2026, 8, 24, 13)  # no lunch now
        assert edited.clocks["first_response"].history[-1].kind == "calendar"
        assert edited.history[-1].kind == "calendar"
        other = longer.model_copy(update={"name": "elsewhere"})
        assert sla.change_calendar(state, other, at(2026, 8, 24, 10)) is state


class TestLadder:
    def test_every_rung_at_its_exact_business_minute_with_stable_keys(self) -> None:
        state = opened(at(2026, 8, 19, 16))  # across the holiday: first response due Mon 24 12:00
        now = at(2026, 8, 19, 16)
        assert [(d.key, d.kind, d.tier, d.at, d.notify) for d in sla.plan(state, POLICY, set(), now)] == [
            ("first_response/1/warning/1", "warning", 1, at(2026, 8, 24, 11), ["assignee"]),
            ("first_response/1/escalation/1", "escalation", 1, at(2026, 8, 24, 12), ["assignee"]),
            ("first_response/1/breach", "breach", 1, at(2026, 8, 24, 12), []),
            ("resolution/1/escalation/1", "escalation", 1, at(2026, 8, 26, 10), ["assignee"]),
            ("resolution/1/breach", "breach", 1, at(2026, 8, 26, 10), []),
            ("resolution/1/escalation/2", "escalation", 2, at(2026, 8, 27, 11), ["team_manager"]),  # 24 h
            ("resolution/1/escalation/3", "escalation", 3, at(2026, 8, 28, 12), [7]),  # 32 h
        ]

    def test_what_has_fired_is_not_planned_again(self) -> None:
        state = opened(at(2026, 8, 24, 9))
        now = at(2026, 8, 24, 14)
        due = sla.due_now(state, POLICY, set(), now)
        assert [d.key for d in due] == ["first_response/1/warning/1", "first_response/1/escalation/1",
                                        "first_response/1/breach"]
        fired = {d.key for d in due}
        assert sla.due_now(state, POLICY, fired, now) == []
        assert sla.next_wake(state, POLICY, fired, now) == at(2026, 8, 26, 11)  # 16 h from Mon 9:00

    @pytest.mark.parametrize(("ladder", "tier"), [
        ([], 0),
        ([{"at": {"share": 0.5}, "notify": ["assignee"]}], 1),
        ([{"at": {"share": 0.5}, "notify": ["assignee"]}, {"at": {"share": 1.0}, "notify": ["team_manager"]},
          {"at": {"share": 2.0}, "notify": [7]}], 2),
        ([{"at": {"share": 0.9}, "notify": ["assignee"], "warning": True}], 0),
    ])
    def test_a_breach_names_the_highest_tier_told_by_the_deadline(self, ladder: list[dict[str, Any]], tier: int) -> None:
        policy = make_policy(normal={"first_response": "PT1H", "resolution": "PT2H", "ladder": ladder})
        state = sla.start(policy, "normal", calendars=CALENDARS, holidays=HOLIDAYS, at=at(2026, 8, 24, 9))
        breach = next(d for d in sla.plan(state, policy, set(), at(2026, 8, 24, 9)) if d.key == "resolution/1/breach")
        assert (breach.tier, breach.at) == (tier, at(2026, 8, 24, 11))

    def test_a_paused_ticket_plans_nothing_and_resumes_where_it_was(self) -> None:
        state = opened(at(2026, 8, 24, 9))
        paused = sla.pause(state, at(2026, 8, 24, 10), "on_hold")
        assert sla.next_wake(paused, POLICY, set(), at(2026, 8, 24, 10)) is None
        resumed = sla.resume(paused, at(2026, 8, 25, 9))  # 1 h used: the 3 h warning is 2 h later
        assert sla.next_wake(resumed, POLICY, set(), at(2026, 8, 25, 9)) == at(2026, 8, 25, 11)
