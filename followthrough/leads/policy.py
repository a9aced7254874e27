"""The lead policy: a definition ``kind: lead_policy`` that admins save, validate, publish and pin
like sequences. Structure only; expressions, the nurture sequence, teams and calendars are
checked by ``followthrough.leads.validate`` (with paths)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from followthrough.clock import Duration, Threshold
from followthrough.dsl.schema import (
    DATA_KEY_PATTERN,
    EVENT_PATTERN,
    NAME_PATTERN,
    StepId,
    _Strict,
)

#: Names of teams (``PUT /v1/teams/{name}``).
TEAM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
MAX_RULES = 200

Expression = Annotated[str, Field(min_length=1, max_length=2000)]
#: Points of a rule or an event: finite and bounded, so a score never overflows to infinity.
Points = Annotated[float, Field(ge=-1000, le=1000, allow_inf_nan=False)]
#: A score line: finite (NaN would qualify nobody, and JSON stores it as null).
ScoreLine = Annotated[float, Field(ge=-1_000_000, le=1_000_000, allow_inf_nan=False)]


class FitRule(_Strict):
    """Points for who the lead is: ``when`` over ``contact`` and ``lead`` (``lead.attributes``,
    ``lead.source``) adds ``points`` (negative subtracts) while it holds."""

    id: StepId
    when: Expression
    points: Points
    description: str = Field(default="", max_length=500)


class Disqualifier(_Strict):
    """A hard disqualifier: when it holds, the lead is ``disqualified`` with ``reason``."""

    id: StepId
    when: Expression
    reason: str = Field(min_length=1, max_length=200)


class Decay(_Strict):
    """Engagement fades: the engagement part of the score halves every ``half_life``."""

    half_life: Duration


class Thresholds(_Strict):
    #: A score at or above this qualifies the lead (it goes to sales).
    qualified: ScoreLine
    #: A score at or below this disqualifies it.
    disqualified: ScoreLine | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.disqualified is not None and self.disqualified >= self.qualified:
            raise ValueError(f"the disqualify line ({self.disqualified:g}) must be below the "
                             f"qualified threshold ({self.qualified:g})")
        return self


class Nurture(_Strict):
    """The sequence leads below the threshold are enrolled in (by name, its active version)."""

    sequence: str = Field(default="lead_nurture", pattern=NAME_PATTERN)


class AssignmentRule(_Strict):
    """First match wins: ``when`` (over ``contact`` and ``lead``) picks ``team``."""

    id: StepId
    when: Expression
    team: str = Field(pattern=TEAM_PATTERN)


class Assignment(_Strict):
    """Who gets a qualified lead: the contact's owner when active (``sticky``), else the team of
    the first rule that matches (else ``default_team``), inside it weighted round robin over
    active members who are at work and below ``capacity`` open leads."""

    strategy: Literal["round_robin"] = "round_robin"
    sticky: bool = True
    rules: list[AssignmentRule] = Field(default_factory=list, max_length=MAX_RULES)
    default_team: str = Field(pattern=TEAM_PATTERN)
    #: Open leads (assigned, not yet converted or closed) a rep may hold; None: no cap.
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    #: Only reps at work (their calendar, not absent) now; else the lead waits for the first
    #: rep whose working time begins.
    working_time: bool = True


class LadderTier(_Strict):
    """One rung of an SLA ladder: at ``at`` (a share of the budget or business time used),
    ``notify`` these people and/or take ``action``."""

    at: Threshold
    notify: list[Literal["owner", "manager", "team_manager"]] = Field(default_factory=list)
    action: Literal["reassign"] | None = None

    @model_validator(mode="after")
    def _does_something(self) -> Self:
        if not self.notify and self.action is None:
            raise ValueError("a tier notifies someone, takes an action, or both")
        return self


def _default_ladder() -> list[LadderTier]:
    return [LadderTier(at=Threshold(share=1.0), notify=["manager"]),
            LadderTier(at=Threshold(share=2.0), action="reassign")]


class FirstTouch(_Strict):
    """The first-touch SLA: the owner's ``call`` task is due ``within`` business time on the
    owner's calendar (``calendar`` overrides it); the ladder runs from assignment."""

    within: Duration = "PT1H"
    business: bool = True
    calendar: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    ladder: list[LadderTier] = Field(default_factory=_default_ladder, max_length=20)


class LeadPolicyDefinition(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["lead_policy"]
    description: str = ""
    fit: list[FitRule] = Field(default_factory=list, max_length=MAX_RULES)
    #: Points per event: ``reply`` (by any channel) and custom events posted to the contact.
    engagement: dict[Annotated[str, Field(pattern=EVENT_PATTERN)], Points] = Field(default_factory=dict)
    decay: Decay | None = None
    thresholds: Thresholds
    disqualify: list[Disqualifier] = Field(default_factory=list, max_length=MAX_RULES)
    nurture: Nurture = Field(default_factory=Nurture)
    assignment: Assignment
    sla: FirstTouch = Field(default_factory=FirstTouch)
    #: Lead attributes the rules read (``lead.attributes.<key>``), documented.
    attributes: dict[Annotated[str, Field(pattern=DATA_KEY_PATTERN)], str] = Field(default_factory=dict)
