"""Full validation of an SLA policy: every problem with its JSON Pointer path (pure; the store
is asked through ``References``).

Beyond the schema: the rules' expressions parse and read only ``contact`` and ``ticket``; every
team named exists and has members; every calendar exists; every priority a rule sets has
targets, and each priority's targets fit together (first response and next response within
resolution; ``next_response`` given when a ladder tier counts on it); each ladder climbs per
target; the user ids told exist; a rule's language suits its keywords. Schema errors hide
nothing else: the expression, team, calendar and user checks read the raw document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from followthrough.dsl import checks
from followthrough.dsl.checks import References
from followthrough.dsl.durations import parse_signed_duration
from followthrough.dsl.expressions import Names
from followthrough.errors import ErrorList, FieldError
from followthrough.tickets.policy import ClassificationRule, SlaPolicyDefinition, Targets

#: What an SLA policy's rules read: the contact and the ticket (``category`` and ``priority``
#: read None in classification rules, which decide them).
NAMES: Names = {"contact": None, "ticket": ("subject", "text", "channel", "category", "priority")}
PLACES = checks.Places(
    names=NAMES,
    expressions=[("classification", "*", "when"), ("routing", "*", "when")],
    teams=[("routing", "*", "team"), ("default_team",)],
    calendars=[("calendar",), ("priorities", "*", "calendar")],
    users=[("priorities", "*", "ladder", "*", "notify", "*")],
)
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]")


def validate(document: Any, policy: SlaPolicyDefinition | None, *, calendar_exists: Callable[[str], bool],
             references: References) -> tuple[list[FieldError], list[FieldError]]:
    """(errors, warnings) beyond the schema; ``policy`` is the document parsed, or None when it
    does not fit the schema."""
    errors, warnings = ErrorList(), ErrorList()
    checks.raw(document, PLACES, calendar_exists, references, errors)
    if policy is not None:
        for index, rule in enumerate(policy.classification):
            at = f"/classification/{index}"
            if rule.priority is not None and rule.priority not in policy.priorities:
                errors.add(f"{at}/priority", f"priority '{rule.priority}' has no targets in priorities")
            _language(rule, at, warnings)
        for priority, targets in policy.priorities.items():
            _targets(targets, f"/priorities/{priority}", errors)
    return errors.items, warnings.items


def _targets(targets: Targets, at: str, errors: ErrorList) -> None:
    budgets = {"first_response": targets.first_response, "next_response": targets.next_response,
               "resolution": targets.resolution}
    resolution = parse_signed_duration(targets.resolution)
    for name in ("first_response", "next_response", "resolution"):
        value = budgets[name]
        if value is not None:
            checks.span(f"{at}/{name}", value, errors)
        if value is not None and parse_signed_duration(value).total_seconds() <= 0:
            errors.add(f"{at}/{name}", f"a target is longer than zero, not '{value}'")
        elif value is not None and name != "resolution" and parse_signed_duration(value) > resolution:
            errors.add(f"{at}/{name}", f"'{value}' is longer than the resolution target '{targets.resolution}'")
    for name, budget in budgets.items():
        tiers = [(n, tier) for n, tier in enumerate(targets.ladder) if tier.target == name]
        if not tiers:
            continue
        if budget is None:
            errors.add(f"{at}/ladder/{tiers[0][0]}/target",
                       f"no {name} target in this priority for the tier to count on")
            continue
        # Each target's tiers climb on their own clock.
        checks.ladder(f"{at}/ladder", [(n, tier.at, None) for n, tier in tiers], budget, errors)


def _language(rule: ClassificationRule, at: str, warnings: ErrorList) -> None:
    """A rule's ``language`` is the stemmer its keywords go through: keywords in another script
    never match as word forms (a ``ru`` rule with «complaint»)."""
    if rule.language is None:
        return
    if not rule.keywords:
        warnings.add(f"{at}/language", "a language without keywords stems nothing")
        return
    script = _CYRILLIC if rule.language == "ru" else _LATIN
    for index, keyword in enumerate(rule.keywords):
        if not script.search(keyword):
            warnings.add(f"{at}/keywords/{index}", f"'{keyword}' has no letters of the "
                                                   f"'{rule.language}' rule's script")
