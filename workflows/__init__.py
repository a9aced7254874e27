"""Deterministic workflows, one per module. ``WORKFLOWS`` is the one registry."""

from workflows.brief import BriefWorkflow
from workflows.sequence import SequenceWorkflow

WORKFLOWS = [SequenceWorkflow, BriefWorkflow]

__all__ = ["WORKFLOWS", "BriefWorkflow", "SequenceWorkflow"]
