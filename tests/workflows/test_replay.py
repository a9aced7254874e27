"""Recorded histories replay against the current workflow code: a change that would break
running workflows fails here (NondeterminismError), not in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.conftest import TEST_CONVERTER
from worker import workflow_runner
from workflows import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 3


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    # The production converter (encrypting codec): these histories were recorded before
    # encryption, so this also proves the codec passes unencrypted payloads through.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=TEST_CONVERTER,
                        workflow_runner=workflow_runner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


async def test_stored_histories_predate_encryption_and_pass_through_the_codec() -> None:
    """The codec leaves payloads without its encoding as they are: what makes the replays above
    run on histories recorded before payloads were encrypted."""
    from followthrough.codec import ENCODING
    from tests.support.history import payloads_in

    codec = TEST_CONVERTER.payload_codec
    assert codec is not None
    for path in HISTORIES:
        history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
        payloads = [p for event in history.events for p in payloads_in(event)]
        assert payloads and all(p.metadata.get("encoding") != ENCODING for p in payloads), path.name
        assert await codec.decode(payloads) == payloads
