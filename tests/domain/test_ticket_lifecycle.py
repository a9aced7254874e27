"""The ticket's pure lifecycle: which change each status allows (the Updates' validators), and
what the customer's message, a response, a priority change and resolution do to the clocks."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from followthrough.models.tickets import TicketEntity, TicketStatus
from followthrough.tickets import lifecycle
from tests.support.tickets import POLICY

MONDAY_9 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)  # 09:00 in Budapest, a working Monday


def _document() -> dict:  # type: ignore[type-arg]
    document = copy.deepcopy(POLICY)
    document["priorities"]["high"]["ladder"][-1]["notify"] = [9]
    return document


def _pinned() -> lifecycle.Pinned:
    return lifecycle.Pinned.of(_document(), {}, {})


def _ticket(priority: str = "normal", status: TicketStatus = TicketStatus.NEW) -> TicketEntity:
    entity = TicketEntity(ticket_id=7, contact_id=1, channel="email", priority=priority, opened_at=MONDAY_9)
    return lifecycle.opened(entity, _pinned(), MONDAY_9).model_copy(update={"status": status})


class TestRefusal:
    @pytest.mark.parametrize(("status", "action", "allowed"), [
        (TicketStatus.NEW, "respond", True), (TicketStatus.RESOLVED, "respond", True),
        (TicketStatus.CLOSED, "respond", False), (TicketStatus.CLOSED, "note", True),
        (TicketStatus.OPEN, "resolve", True), (TicketStatus.RESOLVED, "resolve", False),
        (TicketStatus.OPEN, "reopen", False), (TicketStatus.RESOLVED, "reopen", True),
        (TicketStatus.ON_HOLD, "assign", True), (TicketStatus.RESOLVED, "assign", False),
    ])
    def test_each_status_allows_its_changes(self, status: TicketStatus, action: str, allowed: bool) -> None:
        reason = lifecycle.refusal(_ticket(status=status), action)  # type: ignore[arg-type]
        assert (reason is None) == allowed, reason
        if reason is not None:
            assert reason == f"ticket 7 is {status.value}; {action} is not allowed"

    def test_a_survey_answer_needs_a_survey_sent_and_unanswered(self) -> None:
        resolved = _ticket(status=TicketStatus.RESOLVED)
        assert lifecycle.refusal(resolved, "survey") == "ticket 7 is resolved; no survey awaits an answer"
        assert lifecycle.refusal(resolved.model_copy(update={"survey_sent": True}), "survey") is None
        answered = resolved.model_copy(update={"survey_sent": True, "score": 4})
        assert lifecycle.refusal(answered, "survey") == "ticket 7 is resolved; no survey awaits an answer"

    def test_a_status_set_by_its_own_action_or_already_held_is_refused(self) -> None:
        ticket = _ticket(status=TicketStatus.OPEN)
        assert lifecycle.refusal(ticket, "status", status="resolved") == (
            "ticket 7 is open; status resolved is set by its own action")
        assert lifecycle.refusal(ticket, "status", status="open") == "ticket 7 is open already"
        assert lifecycle.refusal(ticket, "priority", priority="critical", known=("high", "normal")) == (
            "ticket 7 is open; the policy has no priority 'critical'")


class TestClocks:
    def test_waiting_pauses_and_the_customers_message_resumes_with_the_same_remaining_budget(self) -> None:
        pinned, ticket = _pinned(), _ticket()
        waiting, events = lifecycle.set_status(ticket, TicketStatus.WAITING_ON_CUSTOMER, MONDAY_9 + timedelta(hours=1))
        assert [e.detail.get("change") for e in events] == [None, "pause"]
        later = MONDAY_9 + timedelta(days=3)
        resumed, events = lifecycle.customer_wrote(waiting, pinned, later, "<m1@x>")
        assert resumed.status == TicketStatus.OPEN
        assert lifecycle.time_left(resumed, later) == lifecycle.time_left(waiting, MONDAY_9 + timedelta(hours=1)) == {
            "first_response": 7 * 3600, "resolution": 23 * 3600}
        again, more = lifecycle.customer_wrote(resumed, pinned, later, "<m1@x>")
        assert (again, more) == (resumed, [])  # the same message twice counts once

    def test_a_response_stops_the_first_response_clock_and_the_next_message_starts_the_next(self) -> None:
        pinned = _pinned()
        answered, events = lifecycle.responded(_ticket(), MONDAY_9 + timedelta(minutes=30), None)
        assert answered.status == TicketStatus.OPEN
        assert events[0].detail == {"target": "first_response", "round": 1, "business_seconds": 1800,
                                    "breached": False}
        assert "first_response" not in lifecycle.time_left(answered, MONDAY_9 + timedelta(hours=1))
        wrote, _ = lifecycle.customer_wrote(answered, pinned, MONDAY_9 + timedelta(hours=1), "<m2@x>")
        assert lifecycle.time_left(wrote, MONDAY_9 + timedelta(hours=1))["next_response"] == 8 * 3600

    def test_resolution_plans_the_survey_then_the_close(self) -> None:
        pinned = _pinned()
        done, _ = lifecycle.resolved(_ticket(status=TicketStatus.OPEN), MONDAY_9, "fixed")
        step = lifecycle.plan(done, pinned, MONDAY_9)
        assert (step.kind, step.at) == ("survey", MONDAY_9 + timedelta(hours=1))
        surveyed = done.model_copy(update={"survey_sent": True})
        step = lifecycle.plan(surveyed, pinned, MONDAY_9)
        assert (step.kind, step.at) == ("close", MONDAY_9 + timedelta(days=7))


class TestPinnedIsShared:
    """Thousands of open tickets pin the same policy version: one parsed copy serves them all."""

    def test_equal_documents_give_one_shared_copy(self) -> None:
        first = lifecycle.Pinned.of(_document(), {}, {})
        second = lifecycle.Pinned.of(_document(), {}, {})
        assert first is second

    def test_another_version_gets_its_own(self) -> None:
        changed = _document()
        changed["default_priority"] = next(p for p in changed["priorities"] if p != changed["default_priority"])
        assert lifecycle.Pinned.of(changed, {}, {}) is not lifecycle.Pinned.of(_document(), {}, {})
        assert lifecycle.Pinned.of(changed, {}, {}).policy.default_priority == changed["default_priority"]

    def test_the_shared_copy_cannot_be_changed_by_one_ticket(self) -> None:
        import dataclasses

        pinned = lifecycle.Pinned.of(_document(), {}, {})
        with pytest.raises(dataclasses.FrozenInstanceError):
            pinned.policy = pinned.policy  # type: ignore[misc]
