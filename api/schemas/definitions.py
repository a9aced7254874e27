from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from followthrough.store.db import as_utc
from followthrough.store.tables import DefinitionVersion


class DefinitionPublic(BaseModel):
    name: str
    version: int
    kind: str
    published: bool
    created: bool | None = None
    versions: int | None = None
    created_at: datetime
    published_at: datetime | None
    document: dict[str, Any]

    @classmethod
    def of(cls, row: DefinitionVersion, *, created: bool | None = None, versions: int | None = None) -> DefinitionPublic:
        return cls(
            name=row.name, version=row.version, kind=row.kind,
            published=row.published_at is not None, created=created, versions=versions,
            created_at=as_utc(row.created_at),  # type: ignore[arg-type]
            published_at=as_utc(row.published_at), document=row.document,
        )
