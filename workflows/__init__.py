"""Deterministic workflows, one per module. ``WORKFLOWS`` is the one registry."""

from workflows.sequence import SequenceWorkflow

WORKFLOWS = [SequenceWorkflow]

__all__ = ["WORKFLOWS", "SequenceWorkflow"]
