"""Recorded TaskWorkflow histories replay against the current code (``NondeterminismError`` is a
failure): the reminder, every action, overdue, the manager's digest and recurrence. Recorded by
``tests/workflows/histories/record_task.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.conftest import TEST_CONVERTER
from worker import workflow_runner
from workflows import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories" / "task").glob("*.json"))


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


def test_every_action_has_a_history() -> None:
    updates = {
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for path in HISTORIES for event in _history(path).events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    }
    assert updates == {"complete", "snooze", "reschedule", "reassign", "cancel"}
    assert {p.stem for p in HISTORIES} == {"task_lifecycle", "task_recurring", "task_of_a_run"}


def test_a_task_made_by_a_run_tells_it() -> None:
    [history] = [_history(p) for p in HISTORIES if p.stem == "task_of_a_run"]
    activities = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                  if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert activities[-1] == "task_ended"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays_without_nondeterminism(path: Path) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=TEST_CONVERTER, workflow_runner=workflow_runner())
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None
