"""The absence report: its workflow's input, and what its activity answers (plain data,
workflow-safe)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

#: Template of the manager's message (templates/<channel>/absence_report.<locale>.*).
ABSENCE_REPORT = "absence_report"


def absence_workflow_id(absence_id: int | str) -> str:
    return f"absence-{absence_id}"


class AbsenceReportInput(BaseModel):
    absence_id: int
    #: When the absence starts: the report goes then (the activity reads the rest).
    starts_at: datetime


class AbsenceReport(BaseModel):
    """The manager's message: whom to, and the data (None: no absence any more, no manager, or
    nothing due during it)."""

    to_user_id: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)
