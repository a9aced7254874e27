"""Recorded histories replay against the current workflow code: a change that would break
running workflows fails here (NondeterminismError), not in production. Every step type and
every way a run ends or pauses has a stored history; ``*_before_patches`` ones were recorded by
the code before the ``workflow.patched`` changes (README "Versioning workflows")."""

from __future__ import annotations

import base64
import json
import typing
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from followthrough.dsl.schema import AnyStep
from followthrough.models.runs import SEQUENCE_BEHAVIOUR, SequenceInput
from tests.conftest import TEST_CONVERTER
from worker import workflow_runner
from workflows import WORKFLOWS

HISTORIES_DIR = Path(__file__).parent / "histories"
HISTORIES = sorted(HISTORIES_DIR.glob("*.json"))


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
            "welcome_behaviour_1", "cancel_behaviour_1", "deferral_behaviour_1", "give_up_behaviour_1",
            "stopped_by_reply_behaviour_1", "continue_as_new_behaviour_1"} <= names
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


def _with_behaviour(path: Path, behaviour: int) -> WorkflowHistory:
    """A stored history whose start input says it was enrolled for ``behaviour``."""
    document = json.loads(path.read_text(encoding="utf-8"))
    payload = document["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
    start = json.loads(base64.b64decode(payload["data"]))
    payload["data"] = base64.b64encode(json.dumps({**start, "behaviour": behaviour}).encode()).decode()
    return WorkflowHistory.from_json(path.stem, document)


async def test_a_run_an_earlier_worker_started_goes_on_as_it_began() -> None:
    """An upgrade that reached the API before the workers: a run enrolled for the current
    behaviour, whose first task an earlier worker carried out (its baseline marker is in the
    history), replays as that worker began it. The same run without the marker (a current worker
    started it) replays with every change and no marker: each history fits only its own path."""
    replayer = Replayer(workflows=WORKFLOWS, data_converter=TEST_CONVERTER, workflow_runner=workflow_runner())
    for name in ("welcome_baseline", "cancel_baseline", "deferral_baseline"):
        history = _with_behaviour(HISTORIES_DIR / f"{name}.json", SEQUENCE_BEHAVIOUR)
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, name
    # The class can fail: the current behaviour's history read as a run from before behaviours
    # asks for markers it does not have.
    unmarked = _with_behaviour(HISTORIES_DIR / "welcome_behaviour_1.json", 0)
    result = await replayer.replay_workflow(unmarked, raise_on_replay_failure=False)
    assert result.replay_failure is not None
