"""Deterministic workflows, one per module. ``WORKFLOWS`` is the one registry."""

from workflows.brief import BriefWorkflow
from workflows.sequence import SequenceWorkflow
from workflows.task import TaskWorkflow

WORKFLOWS = [SequenceWorkflow, TaskWorkflow, BriefWorkflow]

__all__ = ["WORKFLOWS", "BriefWorkflow", "SequenceWorkflow", "TaskWorkflow"]
