"""Which team a ticket goes to, by the SLA policy's routing rules. Pure and workflow-safe.

The first rule whose ``when`` holds names the team, else the policy's ``default_team``. A rule's
``when`` sees ``contact`` and ``ticket`` (``subject``, ``text``, ``channel``, and the ``category``
and ``priority`` the ticket got); a rule whose expression fails does not match, with its reason.
Assignment inside the team is the rotation's (``followthrough.store.rotation``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from followthrough.dsl.expressions import holds
from followthrough.tickets.policy import SlaPolicyDefinition


@dataclass(frozen=True)
class Routing:
    team: str
    #: The routing rule that chose the team (None: the policy's default team).
    rule: str | None = None
    #: rule id -> why its ``when`` could not be evaluated
    errors: dict[str, str] = field(default_factory=dict)


def route(policy: SlaPolicyDefinition, *, contact: Mapping[str, Any], ticket: Mapping[str, Any]) -> Routing:
    """The team of a ticket (see the module)."""
    names = {"contact": dict(contact), "ticket": dict(ticket)}
    errors: dict[str, str] = {}
    for rule in policy.routing:
        ok, reason = holds(rule.when, names)
        if reason is not None:
            errors[rule.id] = reason
        if ok:
            return Routing(team=rule.team, rule=rule.id, errors=errors)
    return Routing(team=policy.default_team, errors=errors)
