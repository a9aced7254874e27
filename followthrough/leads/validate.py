"""Full validation of a lead policy: every problem with its JSON Pointer path (pure; the store
is asked through ``References``).

Beyond the schema: the rules' expressions parse and read only ``contact`` and ``lead``; the
nurture sequence exists and is a sequence; every team named exists and has members; the SLA's
calendar exists; engagement names are events the contact events endpoint accepts; the ladder
climbs and reassigns at most once. Schema errors hide nothing else: the expression, team and
calendar checks read the raw document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from followthrough.dsl import checks
from followthrough.dsl.checks import References
from followthrough.dsl.expressions import Names
from followthrough.dsl.schema import EVENT_NAME_MAX
from followthrough.errors import ErrorList, FieldError
from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.leads.scoring import LEAD_KEYS

#: What a lead policy's rules read (``scoring.names``): the contact and the lead.
NAMES: Names = {"contact": None, "lead": LEAD_KEYS}
PLACES = checks.Places(
    names=NAMES,
    expressions=[("fit", "*", "when"), ("disqualify", "*", "when"), ("assignment", "rules", "*", "when")],
    teams=[("assignment", "rules", "*", "team"), ("assignment", "default_team")],
    calendars=[("sla", "calendar")],
)

def validate(document: Any, policy: LeadPolicyDefinition | None, *, calendar_exists: Callable[[str], bool],
             references: References) -> tuple[list[FieldError], list[FieldError]]:
    """(errors, warnings) beyond the schema; ``policy`` is the document parsed, or None when it
    does not fit the schema."""
    errors, warnings = ErrorList(), ErrorList()
    checks.raw(document, PLACES, calendar_exists, references, errors)
    for path, _value in checks.found(document, "engagement", "*"):
        name = path.rsplit("/", 1)[1]
        if len(name) > EVENT_NAME_MAX:
            errors.add(path, f"an event name is at most {EVENT_NAME_MAX} characters: "
                             "POST /v1/contacts/{id}/events refuses a longer one")
    if policy is not None:
        checks.definition_of_kind("/nurture/sequence", policy.nurture.sequence, "sequence", references, errors)
        checks.span("/sla/within", policy.sla.within, errors)
        checks.ladder("/sla/ladder", [(n, tier.at, tier.action) for n, tier in enumerate(policy.sla.ladder)],
                      policy.sla.within, errors)
        _reachable(policy, warnings)
    return errors.items, warnings.items


def _reachable(policy: LeadPolicyDefinition, warnings: ErrorList) -> None:
    """Fit rules alone that can never reach the qualified line qualify nobody (engagement
    events add up, so with them a lead can always get there)."""
    best = sum(max(rule.points, 0) for rule in policy.fit)
    if policy.fit and not policy.engagement and best < policy.thresholds.qualified:
        warnings.add("/thresholds/qualified", f"the fit rules give at most {best:g} points, below the "
                                              f"qualified threshold ({policy.thresholds.qualified:g}): "
                                              "no lead qualifies")
