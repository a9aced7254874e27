"""Deterministic workflows, one per module. ``WORKFLOWS`` is the one registry."""

from workflows.absence import AbsenceReportWorkflow
from workflows.brief import BriefWorkflow
from workflows.sequence import SequenceWorkflow
from workflows.task import TaskWorkflow
from workflows.ticket import TicketWorkflow

WORKFLOWS = [SequenceWorkflow, TaskWorkflow, BriefWorkflow, AbsenceReportWorkflow, TicketWorkflow]

__all__ = ["WORKFLOWS", "AbsenceReportWorkflow", "BriefWorkflow", "SequenceWorkflow", "TaskWorkflow", "TicketWorkflow"]
