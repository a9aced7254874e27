"""Definition schema. Closed vocabularies; every model forbids unknown fields so typos are errors."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from followthrough.dsl.durations import parse_duration
from followthrough.models.vocab import Category, Channel

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
STEP_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$"
RESERVED_NAMES = frozenset({"schema"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SendStep(_Strict):
    id: str = Field(pattern=STEP_ID_PATTERN)
    type: Literal["send"] = "send"
    channel: Channel
    template: str = Field(pattern=NAME_PATTERN)
    fallback: list[Channel] = Field(default_factory=list)  # tried in order when not allowed
    category: Category | None = None  # overrides the definition's category


class WaitStep(_Strict):
    id: str = Field(pattern=STEP_ID_PATTERN)
    type: Literal["wait"] = "wait"
    duration: str  # ISO-8601 duration, e.g. "P2D", "PT30M"

    @field_validator("duration")
    @classmethod
    def _parse(cls, value: str) -> str:
        parse_duration(value)
        return value


Step = Annotated[SendStep | WaitStep, Field(discriminator="type")]

StopEvent = Literal["reply"]


class SequenceDefinition(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["sequence"] = "sequence"
    description: str = ""
    category: Category = Category.SERVICE
    locales: list[str] = Field(default_factory=lambda: ["en"])
    stop_on: list[StopEvent] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_NAMES:
            raise ValueError(f"'{value}' is a reserved name")
        return value


Definition = SequenceDefinition
