"""Definition schema. Closed vocabularies; every model forbids unknown fields so typos are errors.

Structure only: durations and times are checked here (each error keeps its path); step-id
references, reachability, loops, expressions and templates are checked in ``validate.py``.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from followthrough.calendar import TIME_PATTERN, zone
from followthrough.clock import Relative
from followthrough.dsl.durations import parse_duration, parse_signed_duration
from followthrough.models.vocab import Category, Channel, TaskKind, TaskPriority

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
STEP_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$"
#: Event names: "reply", "ticket.resolved", "lead.qualified", custom ones ("invoice_paid").
EVENT_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
#: The longest event name ``POST /v1/contacts/{id}/events`` accepts: ``event.<name>`` must fit
#: the timeline's 48-character kind column.
EVENT_NAME_MAX = 42
#: Where ``until_date`` reads its date: ``contact.<field>``, ``contact.attributes.<key>...`` or
#: ``data.<key>...`` (the enrollment data).
ATTRIBUTE_PATH_PATTERN = r"^(contact|data)(\.[A-Za-z_][A-Za-z0-9_]*)+$"
#: Where an ``internal`` send finds the id of the user it goes to: ``data.<key>...`` (the
#: enrollment data) or ``contact.attributes.<key>...``.
USER_PATH_PATTERN = r"^(data|contact\.attributes)(\.[A-Za-z_][A-Za-z0-9_]*)+$"
#: User ids are 32-bit integers in the database (PostgreSQL ``integer``); anything larger is not
#: an id at all, and must not reach a query that would fail on it.
MAX_USER_ID = 2**31 - 1
#: What ``set`` may change: one contact attribute, or the lead score (stored, for now, as the
#: contact attribute ``lead_score``).
SET_TARGET_PATTERN = r"^(contact\.attributes\.[A-Za-z_][A-Za-z0-9_]{0,63}|lead\.score)$"
RESERVED_NAMES = frozenset({"schema"})
DATA_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_BRAND_LENGTH = 100
MAX_STEPS = 500

StepId = Annotated[str, Field(pattern=STEP_ID_PATTERN)]
#: What a ``wait_for`` or a ``task`` step stores its event under (``events.<name>``).
StoreName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
SendChannel = Literal["email", "sms", "voice", "internal"]


class _Strict(BaseModel):
    # serialize_by_alias: "else" and "as" are stored under their own names, so a stored
    # document validates again when a run loads it.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True,
                              validate_by_alias=True, serialize_by_alias=True)


def _duration(value: str) -> str:
    parse_duration(value)
    return value


#: A user: an id, or a path to one (``data.rep_id``, ``contact.attributes.owner_id``).
UserRef = Annotated[int, Field(ge=1, le=MAX_USER_ID)] | Annotated[str, Field(pattern=USER_PATH_PATTERN)]


def _user_value(name: str, value: Any) -> Any:
    """A user reference as written: an id in range (never a boolean) or a path."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_USER_ID:
            raise ValueError(f"a user id is between 1 and {MAX_USER_ID}")
        return value
    if isinstance(value, str) and re.fullmatch(USER_PATH_PATTERN, value):
        return value
    raise ValueError(f"{name} is a user id (an integer) or a path such as data.rep_id or "
                     "contact.attributes.owner_id")


class SendStep(_Strict):
    """Send one message. ``internal`` notifies a user (a rep, a manager) named by ``to_user``
    (left out: the contact's owner), on the user's own channels and addresses (``users``)."""

    id: StepId
    type: Literal["send"] = "send"
    channel: SendChannel
    template: str = Field(pattern=NAME_PATTERN)
    fallback: list[Channel] = Field(default_factory=list)  # tried in order when not allowed
    category: Category | None = None  # overrides the definition's category
    #: ``internal`` only: a user id, or a path (``data.rep_id``) to one. Required for
    #: ``internal`` by ``validate.py``, not here, so versions pinned by older runs still load.
    to_user: UserRef | None = Field(
        default=None,
        description="internal sends: a user id, or a path to one: data.<key> or contact.attributes.<key>",
    )

    #: ``internal`` only: send even outside the user's working time or during an absence.
    urgent: bool = False

    @field_validator("to_user", mode="before")
    @classmethod
    def _user_ref(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return value
        channel = info.data.get("channel")
        if channel is not None and channel != "internal":
            raise ValueError("to_user is for channel internal only; a contact's message goes to the contact")
        return _user_value("to_user", value)


class BusinessTime(_Strict):
    duration: str
    calendar: str = "default"

    @field_validator("duration")
    @classmethod
    def _check(cls, value: str) -> str:
        return _duration(value)


class UntilDate(_Strict):
    attribute: str = Field(pattern=ATTRIBUTE_PATH_PATTERN)
    offset: str = "PT0S"  # signed ISO-8601 duration: "-P1D" is one day before
    at: str = Field(default="09:00", pattern=TIME_PATTERN)  # local time for a date without a time

    @field_validator("offset")
    @classmethod
    def _offset(cls, value: str) -> str:
        parse_signed_duration(value)
        return value


class WaitStep(_Strict):
    """Wait for exactly one of: a duration, working time, a local time of day, a date."""

    id: StepId
    type: Literal["wait"] = "wait"
    duration: str | None = None  # ISO-8601 duration, e.g. "P2D", "PT30M"
    business: BusinessTime | None = None
    until_local_time: str | None = Field(default=None, pattern=TIME_PATTERN)  # "09:30"
    until_date: UntilDate | None = None

    @field_validator("duration")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        return value if value is None else _duration(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> WaitStep:
        given = [n for n in ("duration", "business", "until_local_time", "until_date")
                 if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("a wait needs exactly one of duration, business, until_local_time, "
                             f"until_date (got {', '.join(given) or 'none'})")
        return self


def _timeout_form(value: Any) -> str:
    return "relative-time" if isinstance(value, dict | Relative) else "iso-duration"


def _duration_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a timeout is an ISO-8601 duration (P2D) or an object such as "
                         "{after: PT8H, business: true}")
    return _duration(value)


#: How long a ``wait_for`` waits: an ISO-8601 duration of elapsed time (``P2D``), or the clock's
#: relative time (``{after: PT8H, business: true, calendar: office}``: 8 working hours; ``at``
#: and ``zone``, ``contact`` or an IANA name, as in ``followthrough.clock.Relative``).
Timeout = Annotated[
    Annotated[str, BeforeValidator(_duration_text), Tag("iso-duration")]
    | Annotated[Relative, Tag("relative-time")],
    Discriminator(_timeout_form),
]


class WaitForStep(_Strict):
    """Wait for an event, at most ``timeout``. Conditions then see ``events.<as or event>``."""

    id: StepId
    type: Literal["wait_for"] = "wait_for"
    event: str = Field(pattern=EVENT_PATTERN)
    timeout: Timeout
    as_: StoreName | None = Field(default=None, alias="as")

    @property
    def store_as(self) -> str:
        return self.as_ or self.event


class IfStep(_Strict):
    id: StepId
    type: Literal["if"] = "if"
    condition: str = Field(min_length=1)
    then: StepId
    else_: StepId | None = Field(default=None, alias="else")  # None: the next step


class Variant(_Strict):
    percent: int = Field(ge=0, le=100)
    goto: StepId


class SplitStep(_Strict):
    """A/B variants: a contact always lands in the same variant of the same step."""

    id: StepId
    type: Literal["split"] = "split"
    variants: list[Variant] = Field(min_length=1)


class GotoStep(_Strict):
    id: StepId
    type: Literal["goto"] = "goto"
    goto: StepId


class ExitStep(_Strict):
    id: StepId
    type: Literal["exit"] = "exit"
    reason: str = Field(default="exit", min_length=1, max_length=200)


class SetStep(_Strict):
    """Set a contact attribute or the lead score to ``value`` or to an ``expression``'s result."""

    id: StepId
    type: Literal["set"] = "set"
    target: str = Field(pattern=SET_TARGET_PATTERN)
    value: Any = None
    expression: str | None = Field(default=None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _one_source(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        has_expression = data.get("expression") is not None
        if has_expression == ("value" in data and not (has_expression and data["value"] is None)):
            raise ValueError("a set step needs exactly one of value, expression")
        return data


class StartStep(_Strict):
    """Enroll the contact in another sequence (its active version); idempotent."""

    id: StepId
    type: Literal["start"] = "start"
    definition: str = Field(pattern=NAME_PATTERN)
    data: dict[str, Any] = Field(default_factory=dict)


class LeadStep(_Strict):
    """Hand the contact to qualification: its open lead (or a new one, ``source`` and
    ``attributes`` given) is scored by the active lead policy; idempotent per run, step and
    visit."""

    id: StepId
    type: Literal["lead"] = "lead"
    source: str = Field(default="sequence", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
    attributes: dict[str, Any] = Field(default_factory=dict)


class TaskDue(_Strict):
    """When a task step's task is due: the clock's relative form (``after``, with ``business``,
    ``at`` and ``zone`` as a task created through the API takes them), or an ``expression``
    giving an instant (an RFC 3339 string with an offset, e.g. ``data.callback_at``)."""

    after: str | None = None
    business: bool = False
    at: str | None = Field(default=None, pattern=TIME_PATTERN)
    #: ``owner`` (the task's owner), ``contact`` or an IANA zone name.
    zone: str = Field(default="owner", max_length=64)
    expression: str | None = Field(default=None, min_length=1, max_length=500)

    @field_validator("after")
    @classmethod
    def _after(cls, value: str | None) -> str | None:
        return value if value is None else _duration(value)

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in ("owner", "contact"):
            zone(value)
        return value

    @model_validator(mode="after")
    def _one_form(self) -> TaskDue:
        if (self.after is None) == (self.expression is None):
            raise ValueError("a due time needs exactly one of after (a relative time) or expression")
        if self.expression is not None and (self.business or self.at is not None or self.zone != "owner"):
            raise ValueError("business, at and zone go with after, not with an expression")
        return self


class TaskStep(_Strict):
    """Create a task for a person (the contact's owner unless ``owner`` names one), through the
    same service as ``POST /v1/tasks``. With ``wait``, the run waits until the task is completed
    (or cancelled), at most ``timeout``; conditions then read ``events.<as>.data.outcome``."""

    id: StepId
    type: Literal["task"] = "task"
    kind: TaskKind
    title: str = Field(min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=4000)
    due: TaskDue
    owner: UserRef | None = Field(
        default=None, description="a user id, or a path to one: data.<key> or contact.attributes.<key>; "
                                  "default: the contact's owner")
    priority: TaskPriority = TaskPriority.NORMAL
    wait: bool = False
    #: As a ``wait_for``'s: elapsed time (``P2D``) or the clock's relative time (working hours).
    timeout: Timeout | None = None
    as_: StoreName | None = Field(default=None, alias="as")

    @field_validator("owner", mode="before")
    @classmethod
    def _owner(cls, value: Any) -> Any:
        return value if value is None else _user_value("owner", value)

    @model_validator(mode="after")
    def _waiting(self) -> TaskStep:
        if self.wait and self.as_ is None:
            raise ValueError("a task step with wait names where its outcome goes: as")
        if not self.wait and (self.timeout is not None or self.as_ is not None):
            raise ValueError("timeout and as go with wait: true")
        return self


STEP_TYPES = ("send", "wait", "wait_for", "if", "split", "goto", "exit", "set", "start", "task", "lead")
AnyStep = (SendStep | WaitStep | WaitForStep | IfStep | SplitStep | GotoStep | ExitStep | SetStep
           | StartStep | TaskStep | LeadStep)
Step = Annotated[AnyStep, Field(discriminator="type")]


class DataField(_Strict):
    """One documented key of the enrollment data: what it means, whether a run needs it, and a
    sample value (previews, docs and the built-ins' tests render with the samples)."""

    description: str = Field(default="", max_length=1000)
    required: bool = False
    example: Any = None


class SequenceDefinition(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["sequence"] = "sequence"
    description: str = ""
    category: Category = Category.SERVICE
    #: The sender's name the contact knows (templates read it as ``data.company``), unless the
    #: enrollment data carries its own ``company``; unset: the ``FT_BRAND_NAME`` setting.
    brand: str | None = Field(default=None, min_length=1, max_length=MAX_BRAND_LENGTH)
    #: The enrollment data the steps and templates read (``data.<key>``), documented.
    data: dict[Annotated[str, Field(pattern=DATA_KEY_PATTERN)], DataField] = Field(default_factory=dict)
    locales: list[str] = Field(default_factory=lambda: ["en"])
    #: Events that end the run as ``stopped``: "reply" and custom event names.
    stop_on: list[Annotated[str, Field(pattern=EVENT_PATTERN)]] = Field(default_factory=list)
    #: A condition checked after every step and every event; true ends the run as ``converted``.
    goal: str | None = Field(default=None, min_length=1)
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_NAMES:
            raise ValueError(f"'{value}' is a reserved name")
        return value

    def index_of(self) -> dict[str, int]:
        """Step id -> position (the first one when an id is duplicated)."""
        found: dict[str, int] = {}
        for index, step in enumerate(self.steps):
            found.setdefault(step.id, index)
        return found


Definition = SequenceDefinition


#: Parsed pinned definitions by their canonical JSON. Workflow code asks for one on every
#: activation of a run it does not hold in its cache (every replay): validating the document
#: each time cost more than the decisions. The module is passed through the workflow sandbox,
#: so all runs share it; the value is immutable (frozen models) and a pure function of the key,
#: so sharing it is deterministic.
_PARSED: dict[str, SequenceDefinition] = {}
_PARSED_MAX = 256


def parsed_definition(document: dict[str, Any]) -> SequenceDefinition:
    """``SequenceDefinition.model_validate(document)``, computed once per distinct document."""
    key = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    found = _PARSED.get(key)
    if found is None:
        found = SequenceDefinition.model_validate(document)
        if len(_PARSED) >= _PARSED_MAX:  # many versions in one worker: start afresh
            _PARSED.clear()
        _PARSED[key] = found
    return found
