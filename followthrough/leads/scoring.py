"""Lead scoring: pure (workflow-safe) decisions of the lead policy.

CONTRACT (filled in by the leads-core work; the lead workflow and preview call exactly this):

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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from followthrough.leads.policy import LeadPolicyDefinition

Stage = Literal["qualified", "nurturing", "disqualified"]


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


def evaluate(policy: LeadPolicyDefinition, *, contact: Mapping[str, Any], lead: Mapping[str, Any],
             engagement: Sequence[tuple[str, datetime]], now: datetime) -> ScoreResult:
    raise NotImplementedError
