"""Recorded histories of the short entity workflows replay against the current code (a change
that would break a run under way fails here). Recorded on the time-skipping server by the
production worker:

- daily brief (tests/workflows/test_brief.py): ``sent`` (gathered, delivered), ``nothing_to_say``;
- absence report (tests/workflows/test_absence_report.py): ``sent``, ``nothing_to_report`` (a
  deleted absence);
- ticket (tests/workflows/record_ticket.py records five scenarios of test_ticket.py): the
  ladder across a holiday and a weekend, paused and resumed, a low survey score reopening it,
  closed by silence after resolution, a complaint's hold lifted on resolution.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.conftest import TEST_CONVERTER
from worker import workflow_runner
from workflows import WORKFLOWS

ROOT = Path(__file__).parent / "histories"
#: Each entity's folder of histories and the endings it must hold.
ENDINGS = {"brief": ["nothing_to_say", "sent"], "absence": ["nothing_to_report", "sent"],
           "ticket": ["closed_by_silence", "complaint_hold", "ladder", "paused_and_resumed", "survey_reopens"]}
HISTORIES = sorted(path for folder in ENDINGS for path in (ROOT / folder).glob("*.json"))


@pytest.mark.parametrize("folder", sorted(ENDINGS))
def test_every_ending_has_a_history(folder: str) -> None:
    assert [p.stem for p in sorted((ROOT / folder).glob("*.json"))] == ENDINGS[folder]


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=TEST_CONVERTER, workflow_runner=workflow_runner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
