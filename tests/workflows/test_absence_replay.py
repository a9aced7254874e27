"""Recorded absence-report histories replay against the current code (a change that would break
a report under way fails here). Recorded on the time-skipping server by the production worker
(tests/workflows/test_absence_report.py): ``sent`` and ``nothing_to_report`` (a deleted absence)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.conftest import TEST_CONVERTER
from worker import workflow_runner
from workflows import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories" / "absence").glob("*.json"))


def test_every_ending_has_a_history() -> None:
    assert [p.stem for p in HISTORIES] == ["nothing_to_report", "sent"]


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=TEST_CONVERTER, workflow_runner=workflow_runner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
