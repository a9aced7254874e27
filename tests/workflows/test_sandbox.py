"""The worker's sandbox runner (followthrough/sandbox.py): the SDK's sandbox with its code
strings compiled once. It still isolates runs, and it breaks loudly when the SDK changes the
private method it replaces."""

from __future__ import annotations

import hashlib
import inspect
import subprocess
import sys
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox._runner import _Instance

from followthrough.sandbox import CompiledSandboxRunner, _compiled
from tests.conftest import TEST_CONVERTER
from worker import workflow_runner
from workflows import WORKFLOWS

#: A sandboxed workflow's history (the sequence and task workflows run unsandboxed).
HISTORY = Path(__file__).parent / "histories" / "brief" / "sent.json"
#: sha256 of ``_Instance._run_code``'s source in temporalio 1.35.0, which
#: ``_CompiledInstance._run_code`` copies: a new SDK version that changes it must be looked at.
SDK_RUN_CODE = "78055698bee1c0d36ba7c7272566d5c21a3f7d939b3cfdf6906735d8a45215cf"


def test_the_replaced_sdk_method_is_the_one_copied() -> None:
    source = inspect.getsource(_Instance._run_code)
    assert hashlib.sha256(source.encode()).hexdigest() == SDK_RUN_CODE


async def test_runs_replay_through_compiled_code() -> None:
    _compiled.cache_clear()
    history = WorkflowHistory.from_json(HISTORY.stem, HISTORY.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=TEST_CONVERTER, workflow_runner=workflow_runner())
    for _ in range(2):
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None
    info = _compiled.cache_info()
    # One code object per kind of call (one import per registered workflow class, instance,
    # activation, two context lookups), reused by every activation of both replays.
    assert 0 < info.currsize <= len(WORKFLOWS) + 4
    assert info.hits > 5 * info.currsize


async def test_each_run_gets_its_own_workflow_module() -> None:
    """The workflow module is still imported afresh per run (the sandbox's isolation), and only
    the run's own workflow module: the ``workflows`` package no longer imports all of them."""
    instances: list[_Instance] = []

    class Capturing(CompiledSandboxRunner):
        def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
            instance = super().create_instance(det)
            instances.append(instance)  # type: ignore[arg-type]
            return instance

    runner = Capturing(restrictions=workflow_runner().restrictions)
    history = WorkflowHistory.from_json(HISTORY.stem, HISTORY.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=TEST_CONVERTER, workflow_runner=runner)
    for _ in range(2):
        assert (await replayer.replay_workflow(history, raise_on_replay_failure=False)).replay_failure is None
    runs = [i for i in instances if i.instance_details.info.workflow_type == "BriefWorkflow"]
    assert len(runs) == 2
    first, second = (i.importer.new_modules for i in runs)
    assert first["workflows.brief"] is not second["workflows.brief"]
    assert first["workflows.brief"] is not sys.modules.get("workflows.brief")
    assert not {"workflows.task", "workflows.sequence", "workflows.absence"} & (set(first) | set(second))


def test_the_package_imports_no_workflow_until_asked() -> None:
    code = ("import sys, workflows; assert 'workflows.sequence' not in sys.modules; "
            "names = [c.__name__ for c in workflows.WORKFLOWS]; print(names)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == ("['SequenceWorkflow', 'TaskWorkflow', 'BriefWorkflow', 'AbsenceReportWorkflow', "
                                  "'TicketWorkflow', 'LeadWorkflow']")
