from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.schemas.common import Version
from followthrough.store.db import as_utc
from followthrough.store.tables import DefinitionVersion


class DefinitionPublic(BaseModel):
    name: str
    version: int
    kind: str
    #: Published at least once (``published_at`` is the time of the latest publish).
    published: bool
    #: The version enrollments use now (the most recently published one).
    active: bool | None = None
    created: bool | None = None
    versions: int | None = None
    created_at: datetime
    published_at: datetime | None
    document: dict[str, Any]

    @classmethod
    def of(
        cls, row: DefinitionVersion, *, created: bool | None = None, versions: int | None = None,
        active: bool | None = None,
    ) -> DefinitionPublic:
        return cls(
            name=row.name, version=row.version, kind=row.kind,
            published=row.published_at is not None, active=active, created=created,
            versions=versions,
            created_at=as_utc(row.created_at),  # type: ignore[arg-type]
            published_at=as_utc(row.published_at), document=row.document,
        )


class PublishRequest(BaseModel):
    version: Version | None = Field(default=None, description="default: the newest version")


class VersionSummary(BaseModel):
    version: int
    created_at: datetime
    published_at: datetime | None
    active: bool


class StepChanges(BaseModel):
    added: list[str]
    removed: list[str]
    changed: list[str]


class DefinitionDiff(BaseModel):
    name: str
    from_version: int
    to_version: int
    #: ``diff -u`` of the two versions' YAML renderings ("" when they are identical).
    unified: str
    #: Top-level fields other than ``steps`` whose values differ.
    fields: list[str]
    steps: StepChanges
    #: A policy's rules by id, per list that changed: ``fit``, ``disqualify``,
    #: ``assignment/rules`` (a lead policy), ``classification``, ``routing`` (an SLA policy).
    rules: dict[str, StepChanges] = {}
