"""An entity workflow's one wait: a durable timer to the next instant its plan names, cut short
by any change (an Update or signal raising the workflow's change counter). Workflow code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow


async def until_or_change(until: datetime | None, changed: Callable[[], bool], summary: str) -> bool:
    """Wait for ``until`` (None: for ever); True when it came, False when ``changed`` came first."""
    if until is None:
        await workflow.wait_condition(changed)
        return False
    delay = until - workflow.now()
    if delay <= timedelta(0):
        return True
    try:
        await workflow.wait_condition(changed, timeout=delay, timeout_summary=summary)
        return False
    except TimeoutError:
        return True
