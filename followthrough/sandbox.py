"""The workflow sandbox of the worker and the replayer, with its code strings compiled once.

The SDK's sandbox runs every activation, and every serialization-context lookup its payload
codec path makes (several per activation when a codec is set), as ``exec`` of a short code
string, which Python compiles again on each call: in a profile of the benchmark burst
(bench/RESULTS.md, issue 9) that compiling was about 6 % of the worker's Python CPU. The strings
are the SDK's own constants (one per operation, plus one import line per workflow module), so
each is compiled once here and the code object reused; what runs, and how it is isolated, is
unchanged.

Pinned to the SDK's private ``_Instance._run_code`` (temporalio 1.35): if a new SDK version
changes it, ``tests/workflows/test_sandbox.py`` fails instead of the worker silently running
the SDK's own path.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from types import CodeType
from typing import Any

import temporalio.workflow
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance


@lru_cache(maxsize=64)
def _compiled(code: str) -> CodeType:
    return compile(code, "<string>", "exec")


class _CompiledInstance(_Instance):
    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # The SDK's _run_code, with exec() given a cached code object instead of the string.
        for k, v in extra_globals.items():
            self.globals_and_locals[k] = v
        try:
            temporalio.workflow.unsafe._set_in_sandbox(True)
            self._current_thread_id = threading.get_ident()
            exec(_compiled(code), self.globals_and_locals, self.globals_and_locals)
        finally:
            temporalio.workflow.unsafe._set_in_sandbox(False)
            self._current_thread_id = None
            for k in extra_globals:
                self.globals_and_locals.pop(k, None)


class CompiledSandboxRunner(SandboxedWorkflowRunner):
    """:class:`SandboxedWorkflowRunner` whose instances reuse compiled code strings."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _CompiledInstance(det, self.runner_class, self.restrictions)
