"""Stable keys in one pure module: workflow ids are business keys, ledger keys from ids only.

Workflow-safe: no I/O, no clock, no randomness.
"""

from __future__ import annotations


def sequence_workflow_id(definition: str, contact_id: int | str) -> str:
    return f"seq-{definition}-{contact_id}"


def sequence_active_key(definition: str, contact_id: int | str) -> str:
    """Unique while a run is active: at most one running enrollment per (sequence, contact)."""
    return f"sequence:{definition}:{contact_id}"


def ledger_key(run_id: str, step_id: str, visit: int) -> str:
    """Idempotency key of one message: a retry reuses it, a re-enrollment or goto back does not."""
    return f"{run_id}:{step_id}:{visit}"


def message_id_local_part(key: str) -> str:
    """Message-ID local part derived from the ledger key, so replies can be matched back."""
    return "ft." + key.replace(":", ".")


def task_workflow_id(task_id: int | str) -> str:
    return f"task-{task_id}"


def digest_run_id(manager_id: int | str, owner_id: int | str) -> str:
    """The ledger's "run" of the overdue digests about one rep to their manager: one message per
    window (the visit is the window's end in epoch minutes), however many tasks claim it."""
    return f"digest-{manager_id}-{owner_id}"


def ticket_workflow_id(ticket_id: int | str) -> str:
    return f"ticket-{ticket_id}"


def ticket_rung_key(target: str, cycle: int, rung: int | str) -> str:
    """A ladder rung of one clock cycle (a next-response clock restarts on every customer
    message: a new cycle): fired once, however often the workflow replans."""
    return f"{target}.{cycle}.{rung}"


def lead_workflow_id(lead_id: int | str) -> str:
    return f"lead-{lead_id}"


def lead_entity(lead_id: int | str) -> str:
    """What a lead's runs and tasks name as their owner (``runs.entity``, ``tasks.entity``)."""
    return f"lead:{lead_id}"


def entity_workflow_id(entity: str) -> str | None:
    """The workflow of the entity a run or task names (``lead:12`` -> ``lead-12``)."""
    kind, _, key = entity.partition(":")
    return f"{kind}-{key}" if kind in ("lead", "ticket") and key else None
