"""Lead scoring: pure (workflow-safe) decisions of the lead policy.

CONTRACT (the lead workflow and preview call exactly this):

    evaluate(policy, *, contact, lead, engagement, now) -> ScoreResult

- ``contact``: the contact as expressions see it (``expressions.scope``'s ``contact``);
  ``lead``: ``{"source", "attributes", "score", "stage"}``;
  ``engagement``: the engagement events so far, oldest first: ``[(event name, at), ...]``.
- fit points: the sum of every fit rule that holds now (a rule that errors counts 0, with its
  reason in ``changes``); engagement points: each event's points decayed by the policy's
  half-life from the event's time to ``now``; score = fit + engagement, rounded to 2 places.
- ``stage``: ``disqualified`` (a hard disqualifier holds, or score <= thresholds.disqualified),
  ``qualified`` (score >= thresholds.qualified) or ``nurturing``.
- ``changes``: one ``ScoreChange`` per rule/event that contributed (for the lead's events and
  the contact's timeline: rule id or event name, points now, why).

Expressions see two names, ``contact`` and ``lead`` (``lead.source``, ``lead.attributes.<key>``,
``lead.score``, ``lead.stage``), through the definition language's sandbox; any other name is an
error, and an error makes a rule false (fit rules and disqualifiers alike), with its reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from followthrough.dsl.durations import parse_signed_duration
from followthrough.dsl.expressions import holds
from followthrough.leads.policy import LeadPolicyDefinition

Stage = Literal["qualified", "nurturing", "disqualified"]

#: The names a lead policy's expressions may use.
NAMES: tuple[str, ...] = ("contact", "lead")
#: The lead keys expressions see.
LEAD_KEYS: tuple[str, ...] = ("source", "attributes", "score", "stage")


@dataclass(frozen=True)
class ScoreChange:
    rule: str  # "fit:<rule id>", "engagement:<event>", "disqualify:<rule id>"
    points: float
    reason: str = ""


@dataclass(frozen=True)
class ScoreResult:
    score: float
    fit: float
    engagement: float
    stage: Stage
    #: The hard disqualifier's reason, when one holds.
    disqualified_by: str | None = None
    changes: list[ScoreChange] = field(default_factory=list)
    #: Why the stage is what it is (the threshold or disqualifier that decided it).
    stage_reason: str = ""

    def explanation(self) -> dict[str, Any]:
        """The result as plain data (API answers, the lead's events, the timeline)."""
        return {"score": self.score, "fit": self.fit, "engagement": self.engagement,
                "stage": self.stage, "stage_reason": self.stage_reason,
                "disqualified_by": self.disqualified_by,
                "changes": [{"rule": c.rule, "points": c.points, "reason": c.reason} for c in self.changes]}


def decay_factor(age: timedelta, half_life: timedelta | None) -> float:
    """The share of an event's points left after ``age``: 1 without decay (or for an event not
    older than now), halving every ``half_life``; a zero half-life keeps nothing of a past event.
    Always within [0, 1], never NaN."""
    if half_life is None or age <= timedelta(0):
        return 1.0
    if half_life <= timedelta(0):
        return 0.0
    # Exponent in float seconds: huge ages underflow to 0.0 (2 ** -inf is 0, not NaN).
    return 0.5 ** (age.total_seconds() / half_life.total_seconds())


def decayed(points: float, age: timedelta, half_life: timedelta | None) -> float:
    """``points`` after ``age`` of decay (0 for points that are not a finite number)."""
    if not math.isfinite(points):
        return 0.0
    return points * decay_factor(age, half_life)


def names(contact: Mapping[str, Any], lead: Mapping[str, Any]) -> dict[str, Any]:
    """What a lead policy's expressions see: ``contact`` and ``lead``."""
    return {"contact": dict(contact),
            "lead": {"source": lead.get("source"), "attributes": dict(lead.get("attributes") or {}),
                     "score": lead.get("score") if lead.get("score") is not None else 0,
                     "stage": lead.get("stage")}}


def half_life_of(policy: LeadPolicyDefinition) -> timedelta | None:
    return parse_signed_duration(policy.decay.half_life) if policy.decay is not None else None


def evaluate(policy: LeadPolicyDefinition, *, contact: Mapping[str, Any], lead: Mapping[str, Any],
             engagement: Sequence[tuple[str, datetime]], now: datetime) -> ScoreResult:
    """The lead's score, stage and every contribution to it, at ``now`` (see the module)."""
    scope = names(contact, lead)
    changes: list[ScoreChange] = []
    fit = 0.0
    for rule in policy.fit:
        held, error = holds(rule.when, scope)
        if error is not None:
            changes.append(ScoreChange(f"fit:{rule.id}", 0.0, f"counts 0: {error}"))
        elif held:
            fit += rule.points
            changes.append(ScoreChange(f"fit:{rule.id}", rule.points, rule.description or f"{rule.when} holds"))
    half_life = half_life_of(policy)
    engaged = 0.0
    for event, at in engagement:
        points = policy.engagement.get(event)
        if points is None:
            continue
        now_points = decayed(points, now - at, half_life)
        engaged += now_points
        changes.append(ScoreChange(f"engagement:{event}", round(now_points, 2),
                                   _engagement_reason(points, now_points, at, now, policy)))
    score = round(fit + engaged, 2)
    stage, disqualified_by, reason = _stage(policy, scope, score, changes)
    return ScoreResult(score=score, fit=round(fit, 2), engagement=round(engaged, 2), stage=stage,
                       disqualified_by=disqualified_by, changes=changes, stage_reason=reason)


def _engagement_reason(points: float, now_points: float, at: datetime, now: datetime,
                       policy: LeadPolicyDefinition) -> str:
    said = f"{points:g} points at {at.isoformat()}"
    if policy.decay is None or now_points == points:
        return said
    hours = (now - at).total_seconds() / 3600
    return f"{said}, {now_points:.2f} after {hours:.1f} h (half-life {policy.decay.half_life})"


def _stage(policy: LeadPolicyDefinition, scope: Mapping[str, Any], score: float,
           changes: list[ScoreChange]) -> tuple[Stage, str | None, str]:
    disqualified_by: str | None = None
    for rule in policy.disqualify:
        held, error = holds(rule.when, scope)
        if error is not None:
            changes.append(ScoreChange(f"disqualify:{rule.id}", 0.0, f"does not apply: {error}"))
        elif held:
            changes.append(ScoreChange(f"disqualify:{rule.id}", 0.0, rule.reason))
            disqualified_by = disqualified_by or rule.reason
    thresholds = policy.thresholds
    if disqualified_by is not None:
        return "disqualified", disqualified_by, f"hard disqualifier: {disqualified_by}"
    if thresholds.disqualified is not None and score <= thresholds.disqualified:
        return "disqualified", None, f"score {score:g} <= disqualify line {thresholds.disqualified:g}"
    if score >= thresholds.qualified:
        return "qualified", None, f"score {score:g} >= qualified threshold {thresholds.qualified:g}"
    return "nurturing", None, f"score {score:g} < qualified threshold {thresholds.qualified:g}"
