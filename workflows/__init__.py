"""Deterministic workflows, one per module. ``WORKFLOWS`` is the one registry."""

from workflows.sequence import SequenceWorkflow
from workflows.task import TaskWorkflow

WORKFLOWS = [SequenceWorkflow, TaskWorkflow]

__all__ = ["WORKFLOWS", "SequenceWorkflow", "TaskWorkflow"]
