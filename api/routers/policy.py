"""The global contact policy: quiet hours, caps, priorities. Any role reads; admins replace it.
Durations are ISO-8601 (``P1D``, ``PT12H``)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import SessionDep
from followthrough.errors import ErrorList, ValidationFailed
from followthrough.models.vocab import Category
from followthrough.policy.contact_policy import PolicyConfig
from followthrough.store import policy

router = APIRouter(prefix="/v1/policy", tags=["policy"])


@router.get("")
def get_policy(session: SessionDep) -> PolicyConfig:
    """The policy in force (the defaults until an admin saves one)."""
    return policy.get_config(session)


@router.put("")
def put_policy(body: PolicyConfig, session: SessionDep) -> PolicyConfig:
    """Replace the whole policy; every problem is reported with its path."""
    _check(body)
    return policy.put_config(session, body)


def _check(config: PolicyConfig) -> None:
    """Rules the contract types leave open, checked here so a bad policy is never stored."""
    errors = ErrorList()
    if "categories" in config.model_fields_set:
        # A category left out would fall back to "no caps, quiet hours on" — for transactional
        # that silently delays receipts at night. A PUT is the whole policy: name them all.
        for category in Category:
            if category not in config.categories:
                errors.add(f"/categories/{category}", "missing; the policy must list every category")
    for category, settings in config.categories.items():
        for index, cap in enumerate(settings.caps):
            if cap.window.total_seconds() <= 0:
                errors.add(f"/categories/{category}/caps/{index}/window", "must be longer than zero")
    if errors:
        raise ValidationFailed("The policy has invalid fields.", errors=errors.items)
