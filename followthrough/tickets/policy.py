"""The SLA policy: a definition ``kind: sla_policy`` (saved, validated, published and pinned
like sequences) that classifies tickets, sets their SLA targets and escalation ladders, and
routes them to a team. Structure only; expressions, calendars and teams are checked by
``followthrough.tickets.validate`` (with paths)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from followthrough.clock import Duration, Threshold
from followthrough.dsl.schema import NAME_PATTERN, StepId, _Strict
from followthrough.leads.policy import TEAM_PATTERN, Expression

Priority = Literal["urgent", "high", "normal", "low"]
PRIORITIES: tuple[str, ...] = ("urgent", "high", "normal", "low")
Language = Literal["en", "ru", "hu"]
TextField = Literal["subject", "text"]
CATEGORY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
CALENDAR_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
MAX_RULES = 200
_BOTH: tuple[TextField, ...] = ("subject", "text")


class ClassificationRule(_Strict):
    """Sets ``category`` and/or ``priority`` when it matches (first match wins per field).

    ``keywords`` match word forms, not strings: in ``language`` (default: the contact's) each
    keyword and each word of ``fields`` are stemmed, so «жалоба» catches «жалобу», «panasz»
    catches «panaszt». ``channel`` and ``when`` (over ``contact`` and ``ticket``) narrow it.
    ``opens_ticket``: an SMS that matches opens a ticket even when it was not sent to the
    support number (a complaint texted to the marketing number)."""

    id: StepId
    keywords: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=200)
    language: Language | None = None
    fields: list[TextField] = Field(default_factory=lambda: list(_BOTH), min_length=1)
    channel: Literal["email", "sms", "api", "voice"] | None = None
    when: Expression | None = None
    category: str | None = Field(default=None, pattern=CATEGORY_PATTERN)
    priority: Priority | None = None
    opens_ticket: bool = False

    @model_validator(mode="after")
    def _meaningful(self) -> Self:
        if not self.keywords and self.when is None and self.channel is None:
            raise ValueError("a rule matches on keywords, channel or when")
        if self.category is None and self.priority is None and not self.opens_ticket:
            raise ValueError("a rule sets category, priority or opens_ticket")
        return self


class Escalation(_Strict):
    """A rung of the ladder: at ``at`` of a target's budget (``share``) or business time used
    (``after``), tell ``notify`` (``assignee``, ``team_manager``, or a user id: the head of
    support). ``warning: true`` is the at-risk warning, not a breach."""

    at: Threshold
    target: Literal["first_response", "next_response", "resolution"] = "resolution"
    notify: list[Literal["assignee", "team_manager"] | Annotated[int, Field(ge=1)]] = Field(min_length=1)
    warning: bool = False


class Targets(_Strict):
    """Business-time targets of one priority, on ``calendar`` (default: the policy's)."""

    first_response: Duration
    next_response: Duration | None = None
    resolution: Duration
    calendar: str | None = Field(default=None, pattern=CALENDAR_PATTERN)
    ladder: list[Escalation] = Field(default_factory=list, max_length=20)
    #: Notifications of this priority reach people outside their working time too.
    urgent: bool = False


class RoutingRule(_Strict):
    id: StepId
    when: Expression
    team: str = Field(pattern=TEAM_PATTERN)


class Survey(_Strict):
    #: After resolution, the satisfaction survey (1-5) goes out after ``delay``.
    delay: Duration = "PT1H"
    #: Without an answer (or a reply), the ticket is ``closed`` this long after resolution.
    close_after: Duration = "P7D"
    #: A score at or below this reopens the ticket and tells the manager.
    reopen_at_or_below: int = Field(default=2, ge=1, le=5)
    enabled: bool = True


class SlaPolicyDefinition(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["sla_policy"]
    description: str = ""
    calendar: str = Field(default="default", pattern=CALENDAR_PATTERN)
    classification: list[ClassificationRule] = Field(default_factory=list, max_length=MAX_RULES)
    default_priority: Priority = "normal"
    default_category: str = Field(default="general", pattern=CATEGORY_PATTERN)
    priorities: dict[Priority, Targets]
    routing: list[RoutingRule] = Field(default_factory=list, max_length=MAX_RULES)
    default_team: str = Field(pattern=TEAM_PATTERN)
    #: Categories whose open tickets hold the contact's sales and marketing messages.
    hold_categories: list[Annotated[str, Field(pattern=CATEGORY_PATTERN)]] = Field(
        default_factory=lambda: ["complaint"])
    survey: Survey = Field(default_factory=Survey)

    @model_validator(mode="after")
    def _default_priority_has_targets(self) -> Self:
        if self.default_priority not in self.priorities:
            raise ValueError(f"the default priority '{self.default_priority}' has no targets in priorities")
        return self
