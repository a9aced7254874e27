"""Deterministic workflows, one per module. ``WORKFLOWS`` is the one registry."""

from workflows.absence import AbsenceReportWorkflow
from workflows.brief import BriefWorkflow
from workflows.lead import LeadWorkflow
from workflows.sequence import SequenceWorkflow
from workflows.task import TaskWorkflow

WORKFLOWS = [SequenceWorkflow, TaskWorkflow, BriefWorkflow, AbsenceReportWorkflow, LeadWorkflow]

__all__ = ["WORKFLOWS", "AbsenceReportWorkflow", "BriefWorkflow", "LeadWorkflow", "SequenceWorkflow", "TaskWorkflow"]
