"""Recorded histories replay against the current workflow code: a change that would break
running workflows fails here (NondeterminismError), not in production. Every step type and
every way a run ends or pauses has a stored history; ``*_before_patches`` ones were recorded by
the code before the ``workflow.patched`` changes (README "Versioning workflows")."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from followthrough.dsl.schema import AnyStep
from followthrough.models.runs import SequenceInput
from tests.conftest import TEST_CONVERTER
from worker import workflow_runner
from workflows import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


STEP_TYPES = {cls.model_fields["type"].default for cls in typing.get_args(AnyStep)}


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


async def _input(history: WorkflowHistory) -> SequenceInput:
    payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
    [start] = await TEST_CONVERTER.decode(payloads, [SequenceInput])
    return start


def test_every_behaviour_has_a_history() -> None:
    names = {p.stem for p in HISTORIES}
    assert {"deferral", "give_up", "set_and_split", "start", "cancel", "continue_as_new",
            "cancel_before_patches", "give_up_before_patches", "deferral_before_patches", "business_wait_for",
            "internal_to_owner", "welcome_contact_when_read", "welcome_steps_with_activities", "welcome_baseline",
            "cancel_baseline", "deferral_baseline", "give_up_baseline", "continue_as_new_baseline",
            "welcome_end_with_send", "cancel_end_with_send", "deferral_end_with_send", "give_up_end_with_send",
            "stopped_by_reply_end_with_send"} <= names
    last = {p.stem: _history(p).events[-1].event_type for p in HISTORIES}
    assert last["cancel"] == last["cancel_before_patches"] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED
    assert last["continue_as_new"] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW


async def test_every_step_type_has_a_history() -> None:
    used = set()
    for path in HISTORIES:
        used |= {step["type"] for step in (await _input(_history(path))).definition["steps"]}
    assert used == STEP_TYPES


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays_without_nondeterminism(path: Path) -> None:
    history = _history(path)
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
