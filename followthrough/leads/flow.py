"""The lead's next step and which updates each stage allows: pure (workflow-safe) decisions the
lead workflow carries out and the API documents.

Stages: ``new`` (scoring) → ``nurturing`` (below the threshold, in the nurture sequence) or
``qualified`` (going to sales) or ``disqualified``; ``qualified`` → ``assigned`` (an owner, a
``call`` task, the first-touch SLA) → ``contacted`` (the first touch: the task completed, a
``contacted`` update, or a message sent to the contact) → ``converted`` | ``closed`` |
``disqualified``. The last three are final.
"""

from __future__ import annotations

from typing import Literal

from followthrough.models.vocab import FINAL_LEAD_STAGES, LeadStage

Action = Literal["contacted", "convert", "disqualify", "close", "reassign"]

_OPEN = frozenset(LeadStage) - FINAL_LEAD_STAGES
#: The stages each update is allowed in.
ALLOWED: dict[Action, frozenset[LeadStage]] = {
    "contacted": frozenset({LeadStage.ASSIGNED}),
    "convert": frozenset({LeadStage.QUALIFIED, LeadStage.ASSIGNED, LeadStage.CONTACTED}),
    "disqualify": _OPEN,
    "close": _OPEN,
    "reassign": frozenset({LeadStage.QUALIFIED, LeadStage.ASSIGNED, LeadStage.CONTACTED}),
}


def refusal(stage: LeadStage, action: Action) -> str | None:
    """Why ``action`` is not allowed in ``stage`` (None: it is). The message names the stage."""
    if stage in ALLOWED[action]:
        return None
    allowed = ", ".join(sorted(s.value for s in ALLOWED[action]))
    return f"the lead is {stage.value}; {action} is allowed only when it is {allowed}"


def stage_after_score(current: LeadStage, scored: str) -> LeadStage:
    """The stage a scoring round leads to: scoring moves only a lead that has not gone to sales
    (``new``, ``nurturing``); an assigned lead keeps its owner whatever its score does."""
    if current not in (LeadStage.NEW, LeadStage.NURTURING):
        return current
    return LeadStage(scored)
