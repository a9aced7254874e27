"""Definition versions: each changed save is a new immutable version; runs pin one.

Saving never changes what runs: a version becomes active when it is published. ``published_at`` is
the time a version was *last* published, and the active version is the one published most
recently, so publishing an older version again makes it active again (a rollback). An
unpublished version has ``published_at`` null.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from datetime import timedelta
from typing import Any

import yaml
from sqlalchemy import text
from sqlmodel import Session, col, func, select

from followthrough.errors import Conflict, NotFound
from followthrough.store.db import as_utc
from followthrough.store.tables import DefinitionVersion, utcnow


def checksum(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def save(
    session: Session, name: str, kind: str, document: dict[str, Any], *, publish: bool
) -> tuple[DefinitionVersion, bool]:
    """Store a new version unless the newest one is identical; returns (version, created).
    A name keeps its kind: a version of another kind is a Conflict (runs and policies find a
    definition by name and expect its kind)."""
    digest = checksum(document)
    _lock_name(session, name)
    latest = latest_version(session, name)
    if latest is not None and latest.kind != kind:
        raise Conflict(f"'{name}' is a {latest.kind}; a {kind} needs another name")
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


def _lock_name(session: Session, name: str) -> None:
    """Serialise saves of one name until the caller's transaction ends: the second reads the
    version (and kind) the first committed, instead of inserting the same version number."""
    if session.get_bind().dialect.name == "postgresql":
        # No row to lock for a new name: a transaction-scoped advisory lock on the name.
        session.connection().execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                     {"key": f"definitions:{name}"})
    else:
        session.connection()  # SQLite: BEGIN IMMEDIATE (store.db) already took the write lock


def latest_version(session: Session, name: str) -> DefinitionVersion | None:
    query = select(DefinitionVersion).where(DefinitionVersion.name == name)
    return session.exec(query.order_by(col(DefinitionVersion.version).desc())).first()


def active(session: Session, name: str) -> DefinitionVersion | None:
    """The version enrollments use: the most recently published one."""
    query = select(DefinitionVersion).where(
        DefinitionVersion.name == name, col(DefinitionVersion.published_at).is_not(None)
    )
    order = (col(DefinitionVersion.published_at).desc(), col(DefinitionVersion.version).desc())
    return session.exec(query.order_by(*order)).first()


def publish(session: Session, name: str, version: int | None = None) -> DefinitionVersion:
    """Make ``version`` (default: the newest) the active one. Runs already started keep theirs."""
    row = get(session, name, version) if version is not None else latest_version(session, name)
    if row is None:
        raise NotFound(f"definition '{name}' does not exist")
    current = active(session, name)
    if current is not None and current.id == row.id:
        return row
    now = utcnow()
    previous = as_utc(current.published_at) if current is not None else None
    if previous is not None:
        # Strictly after the active one's time, even with a coarse or skewed clock: the newest
        # publish must win the ordering.
        now = max(now, previous + timedelta(microseconds=1))
    row.published_at = now
    session.add(row)
    session.flush()
    return row


def versions(session: Session, name: str) -> list[DefinitionVersion]:
    """Every version of a definition, oldest first; NotFound when there is none."""
    query = select(DefinitionVersion).where(DefinitionVersion.name == name)
    rows = list(session.exec(query.order_by(col(DefinitionVersion.version))))
    if not rows:
        raise NotFound(f"definition '{name}' does not exist")
    return rows


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
        newest = latest_version(session, name) if version is not None else None
        if newest is not None:
            raise NotFound(f"definition '{name}' has no version {version} "
                           f"(its versions are 1 to {newest.version})")
        raise NotFound(f"definition '{name}' does not exist")
    return row


def list_latest(session: Session, kind: str | None = None) -> list[tuple[DefinitionVersion, int]]:
    """The newest version of every definition (of ``kind``), with its version count."""
    sub = (
        select(DefinitionVersion.name, func.max(DefinitionVersion.version).label("v"),
               func.count().label("n"))
        .group_by(DefinitionVersion.name)
        .subquery()
    )
    query = select(DefinitionVersion, sub.c.n).join(
        sub, (col(DefinitionVersion.name) == sub.c.name) & (col(DefinitionVersion.version) == sub.c.v)
    )
    if kind is not None:
        query = query.where(DefinitionVersion.kind == kind)
    return [(row, count) for row, count in session.exec(query.order_by(DefinitionVersion.name))]


def kinds(session: Session) -> dict[str, str]:
    """Every definition's name -> its kind."""
    return {name: kind for name, kind in session.exec(select(DefinitionVersion.name, DefinitionVersion.kind).distinct())}


def render_yaml(document: dict[str, Any]) -> str:
    """The YAML rendering that diffs compare: keys in document order, Unicode kept."""
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False)


#: The lists of a policy whose items have ids, by their JSON Pointer: a diff names the rules
#: added, removed and changed in each, as it names a sequence's steps.
RULE_LISTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "lead_policy": (("fit",), ("disqualify",), ("assignment", "rules")),
    "sla_policy": (("classification",), ("routing",)),
}


def diff(old: dict[str, Any], new: dict[str, Any], *, old_label: str = "a",
         new_label: str = "b") -> dict[str, Any]:
    """A unified diff of the YAML renderings, the steps added, removed and changed (by id, in
    the order they appear), the same per list of rules of a policy (``rules``: only the lists
    that changed) and the top-level fields (other than ``steps``) that changed."""
    unified = "".join(difflib.unified_diff(
        render_yaml(old).splitlines(keepends=True), render_yaml(new).splitlines(keepends=True),
        fromfile=old_label, tofile=new_label,
    ))
    fields = sorted(k for k in {*old, *new} - {"steps"} if old.get(k) != new.get(k))
    rules = {}
    for path in RULE_LISTS.get(str(new.get("kind")), ()):
        changes = _changes(_at(old, path), _at(new, path))
        if any(changes.values()):
            rules["/".join(path)] = changes
    return {"unified": unified, "fields": fields, "steps": _changes(old.get("steps"), new.get("steps")),
            "rules": rules}


def _at(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    found: Any = document
    for key in path:
        found = found.get(key) if isinstance(found, dict) else None
    return found


def _changes(old: Any, new: Any) -> dict[str, list[str]]:
    """The items (with ids) of two lists added, removed and changed, in the order they appear."""
    before, after = _by_id(old), _by_id(new)
    return {
        "added": [i for i in after if i not in before],
        "removed": [i for i in before if i not in after],
        "changed": [i for i in after if i in before and before[i] != after[i]],
    }


def _by_id(items: Any) -> dict[str, Any]:
    return {str(s.get("id")): s for s in items or [] if isinstance(s, dict)}
