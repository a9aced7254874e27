"""Definition versions: each changed save is a new immutable version; runs pin one."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import Session, col, func, select

from followthrough.errors import NotFound
from followthrough.store.tables import DefinitionVersion, utcnow


def checksum(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def save(
    session: Session, name: str, kind: str, document: dict[str, Any], *, publish: bool
) -> tuple[DefinitionVersion, bool]:
    """Store a new version unless the newest one is identical; returns (version, created)."""
    digest = checksum(document)
    latest = latest_version(session, name)
    if latest is not None and latest.checksum == digest:
        if publish and latest.published_at is None:
            latest.published_at = utcnow()
            session.add(latest)
            session.flush()
        return latest, False
    number = (latest.version if latest else 0) + 1
    row = DefinitionVersion(
        name=name, version=number, kind=kind, document=document, checksum=digest,
        published_at=utcnow() if publish else None,
    )
    session.add(row)
    session.flush()
    return row, True


def latest_version(session: Session, name: str) -> DefinitionVersion | None:
    query = select(DefinitionVersion).where(DefinitionVersion.name == name)
    return session.exec(query.order_by(col(DefinitionVersion.version).desc())).first()


def active(session: Session, name: str) -> DefinitionVersion | None:
    """The published version that enrollments use: the newest published one."""
    query = select(DefinitionVersion).where(
        DefinitionVersion.name == name, col(DefinitionVersion.published_at).is_not(None)
    )
    return session.exec(query.order_by(col(DefinitionVersion.version).desc())).first()


def get(session: Session, name: str, version: int | None = None) -> DefinitionVersion:
    if version is None:
        row = active(session, name) or latest_version(session, name)
    else:
        row = session.exec(
            select(DefinitionVersion).where(
                DefinitionVersion.name == name, DefinitionVersion.version == version
            )
        ).first()
    if row is None:
        raise NotFound(f"definition '{name}' does not exist")
    return row


def list_latest(session: Session) -> list[tuple[DefinitionVersion, int]]:
    """The newest version of every definition, with its version count."""
    sub = (
        select(DefinitionVersion.name, func.max(DefinitionVersion.version).label("v"),
               func.count().label("n"))
        .group_by(DefinitionVersion.name)
        .subquery()
    )
    query = select(DefinitionVersion, sub.c.n).join(
        sub, (DefinitionVersion.name == sub.c.name) & (DefinitionVersion.version == sub.c.v)
    )
    return [(row, count) for row, count in session.exec(query.order_by(DefinitionVersion.name))]
