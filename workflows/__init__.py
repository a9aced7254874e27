"""Deterministic workflows, one per module. ``WORKFLOWS`` is the one registry.

The package imports its modules only when ``WORKFLOWS`` (or a class) is asked for: the
workflow sandbox re-imports a run's workflow module, and this package with it, for every new
run, so importing every workflow here made each new run execute all of them (issue 9: a tenth
of the worker's CPU during a burst)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflows.absence import AbsenceReportWorkflow
    from workflows.brief import BriefWorkflow
    from workflows.lead import LeadWorkflow
    from workflows.sequence import SequenceWorkflow
    from workflows.task import TaskWorkflow
    from workflows.ticket import TicketWorkflow

_CLASSES = {
    "SequenceWorkflow": "workflows.sequence",
    "TaskWorkflow": "workflows.task",
    "BriefWorkflow": "workflows.brief",
    "AbsenceReportWorkflow": "workflows.absence",
    "TicketWorkflow": "workflows.ticket",
    "LeadWorkflow": "workflows.lead",
}

__all__ = ["WORKFLOWS", "AbsenceReportWorkflow", "BriefWorkflow", "LeadWorkflow", "SequenceWorkflow",
           "TaskWorkflow", "TicketWorkflow"]


def __getattr__(name: str) -> Any:
    if name == "WORKFLOWS":
        return [__getattr__(cls) for cls in _CLASSES]
    module = _CLASSES.get(name)
    if module is None:
        raise AttributeError(f"module 'workflows' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
